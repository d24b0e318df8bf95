-- Cross-provider duplicates: one truth per workout.
--
-- The same workout often arrives from several sources (a Garmin watch uploads to Garmin
-- Connect, which forwards it to Strava; a Wahoo or COROS head unit does the same; the athlete
-- also types it in by hand). Every source row is kept; copies of one workout form a group in
-- which exactly one row is the primary (primary_activity_id is null) and the others point to
-- it. Statistics count only rows with primary_activity_id is null and deleted_at is null.
--
-- Grouping is automatic and set-based: a statement-level AFTER trigger on activities (whatever
-- path writes the rows: the ingest, a manual entry, an import) regroups the affected athletes'
-- rows around the affected start times, with index range scans on (user_id, start_date).
-- The athlete may override the choice (set_primary_activity, split_duplicate); automatic
-- regrouping never touches an overridden row again.

-- --- reference data ---------------------------------------------------------------------------

create table public.sport_families (
    activity_type public.activity_type primary key,
    sport_family text not null,
    constraint sport_families_family_format check (sport_family ~ '^[a-z_]{1,40}$')
);

comment on table public.sport_families is
    'Reference data for duplicate grouping: the sport family of each canonical activity_type. '
    'Two copies of one workout may carry different types of one family (Garmin indoor_ride and '
    'Zwift-on-Strava virtual_ride; trail_run and run); family generic (other, workout) is '
    'compatible with every family. A type missing here is its own family. A run and a ride '
    'are never duplicates.';

comment on column public.sport_families.sport_family is
    'Family name: running, walking, cycling, swimming, multisport, rowing, paddling, '
    'board_sports, sailing, downhill_snow, nordic_snow, skating, gym, climbing, racket, '
    'team_sports, or generic (compatible with all).';

insert into public.sport_families (activity_type, sport_family) values
('run', 'running'),
('trail_run', 'running'),
('treadmill_run', 'running'),
('track_run', 'running'),
('virtual_run', 'running'),
('walk', 'walking'),
('hike', 'walking'),
('snowshoe', 'walking'),
('ride', 'cycling'),
('mountain_bike_ride', 'cycling'),
('gravel_ride', 'cycling'),
('virtual_ride', 'cycling'),
('indoor_ride', 'cycling'),
('e_bike_ride', 'cycling'),
('e_mountain_bike_ride', 'cycling'),
('handcycle', 'cycling'),
('velomobile', 'cycling'),
('swim', 'swimming'),
('open_water_swim', 'swimming'),
('triathlon', 'multisport'),
('multisport', 'multisport'),
('rowing', 'rowing'),
('virtual_row', 'rowing'),
('kayaking', 'paddling'),
('canoeing', 'paddling'),
('stand_up_paddling', 'paddling'),
('surfing', 'board_sports'),
('kitesurf', 'board_sports'),
('windsurf', 'board_sports'),
('sail', 'sailing'),
('alpine_ski', 'downhill_snow'),
('snowboard', 'downhill_snow'),
('backcountry_ski', 'nordic_snow'),
('nordic_ski', 'nordic_snow'),
('roller_ski', 'nordic_snow'),
('ice_skate', 'skating'),
('inline_skate', 'skating'),
('skateboard', 'skating'),
('wheelchair', 'wheelchair'),
('weight_training', 'gym'),
('crossfit', 'gym'),
('hiit', 'gym'),
('cardio', 'gym'),
('elliptical', 'gym'),
('stair_stepper', 'gym'),
('yoga', 'gym'),
('pilates', 'gym'),
('physical_therapy', 'gym'),
('dance', 'gym'),
('rock_climbing', 'climbing'),
('mountaineering', 'climbing'),
('tennis', 'racket'),
('squash', 'racket'),
('badminton', 'racket'),
('table_tennis', 'racket'),
('padel', 'racket'),
('pickleball', 'racket'),
('racquetball', 'racket'),
('soccer', 'team_sports'),
('basketball', 'team_sports'),
('volleyball', 'team_sports'),
('cricket', 'team_sports'),
('hockey', 'team_sports'),
('rugby', 'team_sports'),
('golf', 'golf'),
('boxing', 'combat'),
('martial_arts', 'combat'),
('horseback_riding', 'horseback_riding'),
('workout', 'generic'),
('other', 'generic');

alter table public.sport_families enable row level security;

revoke all on table public.sport_families from anon, authenticated;

grant select on table public.sport_families to authenticated;

grant all on table public.sport_families to service_role;

create policy sport_families_select on public.sport_families
for select to authenticated
using (true);

comment on policy sport_families_select on public.sport_families is
    'Reference data: every signed-in user reads the sport families (no personal data).';

create function private.group_activity_duplicates(
    p_user_ids uuid[], p_starts timestamptz[]
)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
-- The plan is cheap but its estimates are not: JIT would compile for seconds, and a generic
-- plan (cached after a few calls) would not know how many anchors it gets.
set jit = off
set plan_cache_mode = force_custom_plan
as $$
-- Tolerances (documented in the comment below):
--   same time:   |start difference| <= 120 s; duration within max(120 s, 10 %); distance
--                within max(200 m, 5 %) when both rows have one. An upload-origin or device
--                hint widens them to max(300 s, 20 %) and max(500 m, 10 %); a certain link
--                (upload origin digits = the other's external_id) skips them.
--   time zone:   a shift of whole hours (1 to 14) within 60 s, where one row's local start
--                equals the other's local or UTC start (a source that stored local time as
--                UTC, or applied the wrong offset); then duration within max(60 s, 2 %) and
--                distance within max(50 m, 1 %).
-- A group holds at most one row per connection (each row keeps its best match per source,
-- and only mutual best matches link), so back-to-back sessions of one source stay apart.
declare
    v_user uuid;
    v_changed integer;
    v_ids bigint[];
    v_primaries bigint[];
    v_nestloop text := current_setting('enable_nestloop');
begin
    if p_user_ids is null or cardinality(p_user_ids) = 0 then
        return 0;
    end if;
    -- One regrouping per athlete at a time: a Garmin and a Strava sync of the same workout
    -- running concurrently would otherwise not see each other's rows. Taken in a fixed order.
    for v_user in
        select distinct u.user_id from unnest(p_user_ids) as u (user_id)
        where u.user_id is not null
        order by u.user_id
    loop
        perform pg_advisory_xact_lock(
            hashtext('trainlytics.activity_duplicates'), hashtext(v_user::text)
        );
    end loop;

    -- The CTEs below are joined by hash: their row estimates are guesses, and a nested loop
    -- over a CTE scan made a crowd of same-time rows quadratic twice over (31,125 pairs x 250
    -- candidates, then 2,000 x 62,250 directed matches: 12 s for 250 rows). The index range
    -- scans (lateral, offset 0) stay nested loops, the only way to run them. Restored below,
    -- before the update by primary key, which must stay an index lookup per row.
    perform set_config('enable_nestloop', 'off', true);
    with recursive anchors as (
        select distinct t.user_id, t.start_date
        from unnest(p_user_ids, p_starts) as t (user_id, start_date)
        where t.user_id is not null and t.start_date is not null
    ),

    -- Each anchor's window: any row that can match it starts within 14 h 2 min.
    windows as (
        select
            a.user_id,
            a.start_date - interval '14 hours 2 minutes' as lo,
            a.start_date + interval '14 hours 2 minutes' as hi
        from anchors as a
    ),

    -- Overlapping windows merged into islands: a few range scans instead of one per row.
    marked as (
        select
            w.user_id,
            w.lo,
            w.hi,
            case
                when w.lo <= max(w.hi) over (
                    partition by w.user_id order by w.lo, w.hi
                    rows between unbounded preceding and 1 preceding
                ) then 0
                else 1
            end as starts_island
        from windows as w
    ),

    numbered as (
        select
            m.user_id,
            m.lo,
            m.hi,
            sum(m.starts_island) over (partition by m.user_id order by m.lo, m.hi) as island
        from marked as m
    ),

    ranges as (
        select n.user_id, min(n.lo) as lo, max(n.hi) as hi
        from numbered as n
        group by n.user_id, n.island
    ),

    -- Every row in the ranges, with what matching needs (one index range scan per range).
    near as materialized (
        select
            a.id,
            a.user_id,
            a.primary_activity_id,
            a.duplicate_override,
            a.deleted_at,
            -- The athlete's manual entries are one source: two of them are two workouts.
            case
                when a.connection_id is not null then a.connection_id::text
                when a.source = 'manual' then 'manual'
                else 'row ' || a.id::text
            end as source_key,
            a.start_date,
            a.start_date_local,
            (a.start_date at time zone 'UTC') as start_utc,
            coalesce(a.elapsed_time, a.moving_time) as duration,
            nullif(a.distance, 0) as distance,
            coalesce(f.sport_family, a.activity_type::text) as sport_family,
            coalesce(pp.priority, 1000) as priority,
            pp.upload_origin_pattern,
            a.external_id,
            lower(nullif(a.activity_data ->> 'external_id', '')) as upload_origin,
            substring(a.activity_data ->> 'external_id' from '[0-9]{4,}') as upload_origin_id,
            lower(nullif(btrim(a.device_name), '')) as device,
            (a.average_watts is not null)::integer
            + (a.average_heartrate is not null)::integer
            + (a.device_name is not null)::integer as richness
        from ranges as r
        cross join lateral (
            select ra.*
            from public.activities as ra
            where
                ra.user_id = r.user_id
                and ra.start_date >= r.lo
                and ra.start_date <= r.hi
            offset 0  -- keeps the parameterised index scan (no pull-up into a hash join)
        ) as a
        left join public.sport_families as f on a.activity_type = f.activity_type
        left join public.provider_priorities as pp
            on coalesce(a.provider::text, a.source::text) = pp.origin
    ),

    -- The rest of the near rows' current groups, when outside the ranges (rare): regrouped too.
    outside as (
        select
            a.id,
            a.user_id,
            a.primary_activity_id,
            a.duplicate_override,
            a.deleted_at,
            -- The athlete's manual entries are one source: two of them are two workouts.
            case
                when a.connection_id is not null then a.connection_id::text
                when a.source = 'manual' then 'manual'
                else 'row ' || a.id::text
            end as source_key,
            a.start_date,
            a.start_date_local,
            (a.start_date at time zone 'UTC') as start_utc,
            coalesce(a.elapsed_time, a.moving_time) as duration,
            nullif(a.distance, 0) as distance,
            coalesce(f.sport_family, a.activity_type::text) as sport_family,
            coalesce(pp.priority, 1000) as priority,
            pp.upload_origin_pattern,
            a.external_id,
            lower(nullif(a.activity_data ->> 'external_id', '')) as upload_origin,
            substring(a.activity_data ->> 'external_id' from '[0-9]{4,}') as upload_origin_id,
            lower(nullif(btrim(a.device_name), '')) as device,
            (a.average_watts is not null)::integer
            + (a.average_heartrate is not null)::integer
            + (a.device_name is not null)::integer as richness
        from (
            select n.primary_activity_id as id from near as n
            where n.primary_activity_id is not null
            union
            select m.id
            from near as n
            cross join lateral (
                select rm.id from public.activities as rm
                where rm.primary_activity_id = n.id
                offset 0
            ) as m
        ) as g
        cross join lateral (
            select ra.* from public.activities as ra where ra.id = g.id
            offset 0
        ) as a
        left join public.sport_families as f on a.activity_type = f.activity_type
        left join public.provider_priorities as pp
            on coalesce(a.provider::text, a.source::text) = pp.origin
        where not exists (select from near as n where n.id = g.id)
    ),

    -- The rows to regroup: never an overridden one.
    scope as materialized (
        select n.* from near as n where not n.duplicate_override
        union all
        select o.* from outside as o where not o.duplicate_override
    ),

    candidates as materialized (
        select s.* from scope as s where s.deleted_at is null
    ),

    -- Pairs are found by hashing, not by scanning windows: each candidate is keyed by the
    -- 5-minute bucket of its UTC start and of its local start, and two candidates pair when
    -- any of their keys fall in the same or a neighbouring bucket. That finds every pair the
    -- rules can accept (same time, or a time-zone signature: a local start equal to the
    -- other's local or UTC start), however dense the athlete's history.
    bucket_keys as (
        select distinct c.id, c.user_id, c.source_key, k.bucket
        from candidates as c
        cross join lateral (
            values
            (floor(extract(epoch from c.start_utc) / 300)::bigint),
            (floor(extract(epoch from c.start_date_local) / 300)::bigint)
        ) as k (bucket)
    ),

    probe_keys as materialized (
        select k.id, k.user_id, k.source_key, k.bucket + d.step as bucket
        from bucket_keys as k
        cross join (values (-1), (0), (1)) as d (step)
    ),

    pair_ids as (
        select distinct kx.id as x_id, ky.id as y_id
        from bucket_keys as kx
        inner join probe_keys as ky
            on
                kx.user_id = ky.user_id
                and kx.bucket = ky.bucket
                and kx.id < ky.id
                -- copies come from different sources: a dense history of one source pairs
                -- with nothing
                and kx.source_key <> ky.source_key
    ),

    pairs as (
        select
            x.id as x_id,
            y.id as y_id,
            x.source_key as x_source,
            y.source_key as y_source,
            m.*
        from pair_ids as i
        inner join candidates as x on i.x_id = x.id
        inner join candidates as y on i.y_id = y.id
        cross join lateral (
            select
                extract(epoch from y.start_date - x.start_date) as shift,
                round(extract(epoch from y.start_date - x.start_date) / 3600.0) as hours,
                abs(y.duration - x.duration) as duration_gap,
                greatest(y.duration, x.duration) as duration_max,
                abs(y.distance - x.distance) as distance_gap,
                greatest(y.distance, x.distance) as distance_max,
                (
                    (x.upload_origin_id is not null and x.upload_origin_id = y.external_id)
                    or (y.upload_origin_id is not null and y.upload_origin_id = x.external_id)
                ) as linked,
                (
                    x.upload_origin ~ y.upload_origin_pattern
                    or y.upload_origin ~ x.upload_origin_pattern
                    or x.device = y.device
                ) is true as hinted,
                -- The time-zone mistake's signature: a local start equals the other's local
                -- start (wrong offset) or its UTC start (local time stored as UTC).
                (
                    abs(extract(epoch from x.start_date_local - y.start_date_local)) <= 120
                    or abs(extract(epoch from x.start_date_local - y.start_utc)) <= 120
                    or abs(extract(epoch from x.start_utc - y.start_date_local)) <= 120
                ) as zone_mistake
        ) as m
        where
            x.source_key <> y.source_key
            and (
                x.sport_family = y.sport_family
                or x.sport_family = 'generic'
                or y.sport_family = 'generic'
            )
    ),

    matches as (
        select
            p.x_id,
            p.y_id,
            p.x_source,
            p.y_source,
            -- Best first: a certain link, then same time over shifted, then the closest start,
            -- then the closest distance and duration.
            (case when p.linked then 0 else 1 end) * 1e9
            + (case when p.hours = 0 then 0 else 1 end) * 1e8
            + abs(p.shift - p.hours * 3600) * 1e4
            + coalesce(p.distance_gap / nullif(p.distance_max, 0), 0) * 1e3
            + coalesce(p.duration_gap / nullif(p.duration_max, 0), 0) * 1e2 as score
        from pairs as p
        where
            (p.linked and abs(p.shift) <= 300)
            or (
                p.hours = 0
                and abs(p.shift) <= 120
                and (
                    p.duration_gap is null
                    or p.duration_gap <= case
                        when p.hinted then greatest(300, 0.20 * p.duration_max)
                        else greatest(120, 0.10 * p.duration_max)
                    end
                )
                and (
                    p.distance_gap is null
                    or p.distance_gap <= case
                        when p.hinted then greatest(500, 0.10 * p.distance_max)
                        else greatest(200, 0.05 * p.distance_max)
                    end
                )
            )
            or (
                p.hours <> 0
                and abs(p.hours) <= 14
                and abs(p.shift - p.hours * 3600) <= 60
                and p.duration_gap <= greatest(60, 0.02 * p.duration_max)
                and (
                    p.distance_gap is null
                    or p.distance_gap <= greatest(50, 0.01 * p.distance_max)
                )
                and p.zone_mistake
            )
    ),

    -- Both directions; each row keeps its best match per source of the other row.
    directed_per_source as (
        select
            m.x_id as from_id,
            m.y_id as to_id,
            m.score,
            row_number() over (
                partition by m.x_id, m.y_source order by m.score, m.y_id
            ) as rank_from
        from matches as m
        union all
        select
            m.y_id,
            m.x_id,
            m.score,
            row_number() over (
                partition by m.y_id, m.x_source order by m.score, m.x_id
            )
        from matches as m
    ),

    -- ... and of those, its 8 best overall (a workout has a copy per source at most, and no
    -- athlete has 8 sources recording one workout): a crowd of same-time rows from many
    -- sources (imported files) links each row to a few, not to all, which bounds the links
    -- and the component walk below to linear in the rows (issue 14).
    directed as (
        select
            d.from_id,
            d.to_id,
            row_number() over (partition by d.from_id order by d.score, d.to_id) as rank_overall
        from directed_per_source as d
        where d.rank_from = 1
    ),

    -- A link only where each side is among the other's best (a group: one row per source).
    links as (
        select d.from_id, d.to_id
        from directed as d
        inner join directed as r
            on d.from_id = r.to_id and d.to_id = r.from_id
        where d.rank_overall <= 8 and r.rank_overall <= 8
    ),

    -- Connected components of the links: each row labelled with the smallest id it reaches.
    walk (id, root) as (
        select l.from_id, l.from_id from links as l
        union
        select l.to_id, w.root
        from walk as w
        inner join links as l on w.id = l.from_id
    ),

    reach as (
        select w.id, min(w.root) as component
        from walk as w
        group by w.id
    ),

    -- The primary of each component: the best origin, then the richer record, then the oldest.
    ranked as (
        select
            r.id,
            r.component,
            first_value(c.id) over (
                partition by r.component
                order by c.priority, c.richness desc, c.id
            ) as primary_id
        from reach as r
        inner join candidates as c on r.id = c.id
    ),

    -- Only the rows whose primary changes are written (usually a handful).
    changes as (
        select s.id, case when k.primary_id <> s.id then k.primary_id end as primary_id
        from scope as s
        left join ranked as k on s.id = k.id
        where
            s.primary_activity_id
            is distinct from case when k.primary_id <> s.id then k.primary_id end
    ),

    -- Overridden groups whose primary was soft-deleted: the best remaining member takes over,
    -- still overridden (the athlete's grouping stands; the workout keeps counting once).
    orphaned as (
        select
            m.id,
            first_value(m.id) over (
                partition by m.primary_activity_id
                order by coalesce(pp.priority, 1000), m.id
            ) as new_primary
        from near as n
        cross join lateral (
            select rm.* from public.activities as rm
            where rm.primary_activity_id = n.id
            offset 0
        ) as m
        left join public.provider_priorities as pp
            on coalesce(m.provider::text, m.source::text) = pp.origin
        where
            n.deleted_at is not null
            and m.duplicate_override
            and m.deleted_at is null
    ),

    all_changes as (
        select c.id, c.primary_id from changes as c
        union all
        select o.id, case when o.new_primary <> o.id then o.new_primary end
        from orphaned as o
    )

    select array_agg(c.id), array_agg(c.primary_id)
    into v_ids, v_primaries
    from all_changes as c;
    perform set_config('enable_nestloop', v_nestloop, true);

    if v_ids is null then
        return 0;
    end if;
    -- By primary key: an index lookup per changed row.
    update public.activities as a
    set primary_activity_id = c.primary_id
    from unnest(v_ids, v_primaries) as c (id, primary_id)
    where a.id = c.id;
    get diagnostics v_changed = row_count;
    return v_changed;
end;
$$;

revoke all on function private.group_activity_duplicates(uuid[], timestamptz[])
from public, anon, authenticated;

grant execute on function private.group_activity_duplicates(uuid[], timestamptz[])
to service_role;

comment on function private.group_activity_duplicates(uuid[], timestamptz[]) is
    'Regroups cross-source duplicates around the given (user_id, start_date) anchors, '
    'set-based: merged ±14 h 2 min windows around the anchors, read with the (user_id, '
    'start_date) index; the rows found and the rest of their groups (never overridden rows) '
    'are matched again, pairs being found by hashing 5-minute buckets of UTC and local starts '
    '(deduplicated per row; the matching statement joins by hash, enable_nestloop off). Same '
    'athlete and different sources - a source is a provider connection; all of the athlete''s '
    'manual entries are one source (two manual entries are two workouts, never copies); each '
    'file row is a source of its own -, compatible sport family (public.sport_families), start '
    'within 120 s with duration within max(120 s, 10 %) and distance within max(200 m, 5 %) '
    '(max(300 s, 20 %) and max(500 m, 10 %) with an upload-origin or device hint, none with a '
    'certain upload-origin link), or a whole-hour time-zone shift (1 to 14 h, ±60 s, one '
    'row''s local start equal to the other''s local or UTC start) with duration within '
    'max(60 s, 2 %) and distance within max(50 m, 1 %). Each row keeps its best match per '
    'source, and of those its 8 best overall; only mutual best matches link (one row per '
    'source in a group; links and the component walk stay linear in the rows). The primary is '
    'chosen by public.provider_priorities, then the richer record, then the oldest. Only '
    'changed rows are written. Also promotes a new primary in an overridden group whose '
    'primary was deleted. Returns the number of rows changed. Serialised per athlete '
    '(advisory lock). Security definer: it runs from the activities triggers, fired by any '
    'writer (an athlete''s manual entry too), and must read and update rows the writer may '
    'not.';

-- Duplicate grouping -----------------------------------------------------------------------------

create function private.activities_group_inserted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_users uuid[];
    v_starts timestamptz[];
begin
    select array_agg(n.user_id), array_agg(n.start_date)
    into v_users, v_starts
    from new_rows as n;
    if v_users is not null then
        perform private.group_activity_duplicates(v_users, v_starts);
    end if;
    return null;
end;
$$;

comment on function private.activities_group_inserted() is
    'Statement-level AFTER INSERT trigger on activities: regroups duplicates around the new '
    'rows. Security definer: fired by any writer, it must read and update rows the writer may '
    'not (the grouping columns are not granted to athletes).';

revoke all on function private.activities_group_inserted() from public, anon, authenticated;

create function private.activities_group_updated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_users uuid[];
    v_starts timestamptz[];
begin
    -- Only changes that can change a grouping; the grouping's own writes (primary_activity_id,
    -- duplicate_override) and edits of names, descriptions or privacy stop here. Both versions
    -- of a changed row count: the old start's group may lose it, the new start's gain it.
    with
    new_versions as (
        select
            n.id, n.user_id, n.start_date, n.utc_offset, n.elapsed_time, n.moving_time,
            n.distance, n.activity_type, n.deleted_at, n.device_name, n.connection_id
        from new_rows as n
    ),

    old_versions as (
        select
            o.id, o.user_id, o.start_date, o.utc_offset, o.elapsed_time, o.moving_time,
            o.distance, o.activity_type, o.deleted_at, o.device_name, o.connection_id
        from old_rows as o
    ),

    changed as (
        (select * from new_versions except all select * from old_versions)
        union all
        (select * from old_versions except all select * from new_versions)
    )

    select array_agg(c.user_id), array_agg(c.start_date)
    into v_users, v_starts
    from changed as c;
    if v_users is not null then
        perform private.group_activity_duplicates(v_users, v_starts);
    end if;
    return null;
end;
$$;

comment on function private.activities_group_updated() is
    'Statement-level AFTER UPDATE trigger on activities: regroups duplicates around the old and '
    'new start of rows whose start, offset, duration, distance, sport, device, connection or '
    'deletion changed (other updates, including the grouping''s own, do nothing). Security '
    'definer: fired by any writer, it must read and update rows the writer may not.';

revoke all on function private.activities_group_updated() from public, anon, authenticated;

create function private.activities_group_deleted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_users uuid[];
    v_starts timestamptz[];
begin
    select array_agg(o.user_id), array_agg(o.start_date)
    into v_users, v_starts
    from old_rows as o;
    if v_users is not null then
        perform private.group_activity_duplicates(v_users, v_starts);
    end if;
    return null;
end;
$$;

comment on function private.activities_group_deleted() is
    'Statement-level AFTER DELETE trigger on activities: regroups duplicates around deleted '
    'rows (the copies of a deleted primary lost their pointer through on delete set null). '
    'Security definer: fired by any writer, it must read and update rows the writer may not.';

revoke all on function private.activities_group_deleted() from public, anon, authenticated;

create function private.activities_promote_before_delete()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_new bigint;
begin
    -- An overridden group loses its primary: the best remaining copy takes over, so the
    -- workout keeps counting once and the athlete's grouping stands.
    select m.id into v_new
    from public.activities as m
    left join public.provider_priorities as pp
        on coalesce(m.provider::text, m.source::text) = pp.origin
    where m.primary_activity_id = old.id and m.deleted_at is null
    order by coalesce(pp.priority, 1000), m.id
    limit 1;
    if v_new is not null then
        update public.activities as m
        set primary_activity_id = case when m.id <> v_new then v_new end
        where m.primary_activity_id = old.id;
    end if;
    return old;
end;
$$;

comment on function private.activities_promote_before_delete() is
    'Row-level BEFORE DELETE trigger on activities, for overridden primaries only: the best '
    'remaining copy becomes the primary of the athlete''s group. Security definer: fired by an '
    'athlete deleting a manual entry, it must update the group''s other rows.';

revoke all on function private.activities_promote_before_delete()
from public, anon, authenticated;

create trigger activities_group_duplicates_insert
after insert on public.activities
referencing new table as new_rows
for each statement execute function private.activities_group_inserted();

create trigger activities_group_duplicates_update
after update on public.activities
referencing old table as old_rows new table as new_rows
for each statement execute function private.activities_group_updated();

create trigger activities_group_duplicates_delete
after delete on public.activities
referencing old table as old_rows
for each statement execute function private.activities_group_deleted();

create trigger activities_promote_overridden_primary
before delete on public.activities
for each row
when (old.duplicate_override and old.primary_activity_id is null)
execute function private.activities_promote_before_delete();

-- --- the athlete's override -------------------------------------------------------------------

create function private.set_primary_activity(p_activity_id bigint)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_caller uuid := auth.uid();
    v_row public.activities;
    v_group bigint;
    v_count integer;
begin
    if v_caller is null then
        raise exception 'sign in to choose the primary copy of a workout'
            using errcode = '42501';
    end if;
    perform pg_advisory_xact_lock(
        hashtext('trainlytics.activity_duplicates'), hashtext(v_caller::text)
    );
    select a.* into v_row
    from public.activities as a
    where a.id = p_activity_id and a.user_id = v_caller and a.deleted_at is null;
    if not found then
        raise exception 'activity % is not one of your activities', p_activity_id
            using errcode = '42501',
            hint = 'Only the athlete who did the workout can choose its primary copy.';
    end if;
    v_group := coalesce(v_row.primary_activity_id, v_row.id);
    -- The whole group, frozen: this row primary, every other copy pointing to it.
    update public.activities as a
    set
        primary_activity_id = case when a.id <> p_activity_id then p_activity_id end,
        duplicate_override = true
    where
        a.user_id = v_caller
        and (a.id = v_group or a.primary_activity_id = v_group)
        and exists (
            select from public.activities as m
            where m.primary_activity_id = v_group
        );
    get diagnostics v_count = row_count;
    return greatest(v_count, 1);
end;
$$;

comment on function private.set_primary_activity(bigint) is
    'Makes the caller''s activity the primary copy of its duplicate group and freezes the group '
    '(duplicate_override on every copy). A row without copies stays as it is. Returns the '
    'number of copies in the group. Security definer: athletes have no write grant on the '
    'grouping columns; it checks that the row is the caller''s (auth.uid()).';

revoke all on function private.set_primary_activity(bigint) from public, anon;

grant execute on function private.set_primary_activity(bigint) to authenticated;

create function private.split_duplicate(p_activity_id bigint)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_caller uuid := auth.uid();
    v_row public.activities;
    v_new bigint;
begin
    if v_caller is null then
        raise exception 'sign in to separate a workout from its copies'
            using errcode = '42501';
    end if;
    perform pg_advisory_xact_lock(
        hashtext('trainlytics.activity_duplicates'), hashtext(v_caller::text)
    );
    select a.* into v_row
    from public.activities as a
    where a.id = p_activity_id and a.user_id = v_caller and a.deleted_at is null;
    if not found then
        raise exception 'activity % is not one of your activities', p_activity_id
            using errcode = '42501',
            hint = 'Only the athlete who did the workout can separate its copies.';
    end if;
    if v_row.primary_activity_id is null then
        -- A primary leaves: the best remaining copy leads the others (their override as it was).
        select m.id into v_new
        from public.activities as m
        left join public.provider_priorities as pp
            on coalesce(m.provider::text, m.source::text) = pp.origin
        where m.primary_activity_id = v_row.id and m.deleted_at is null
        order by coalesce(pp.priority, 1000), m.id
        limit 1;
        if v_new is not null then
            update public.activities as m
            set primary_activity_id = case when m.id <> v_new then v_new end
            where m.primary_activity_id = v_row.id;
        end if;
    end if;
    update public.activities as a
    set primary_activity_id = null, duplicate_override = true
    where a.id = v_row.id;
end;
$$;

comment on function private.split_duplicate(bigint) is
    'Separates the caller''s activity from its duplicate group: it becomes a workout of its own '
    'that automatic grouping never joins again (duplicate_override); if it was the primary, the '
    'best remaining copy becomes the primary of the others. Security definer: athletes have no '
    'write grant on the grouping columns; it checks that the row is the caller''s (auth.uid()).';

revoke all on function private.split_duplicate(bigint) from public, anon;

grant execute on function private.split_duplicate(bigint) to authenticated;

create function public.set_primary_activity(p_activity_id bigint)
returns integer
language sql
volatile
begin atomic
    select private.set_primary_activity(p_activity_id);
end;

comment on function public.set_primary_activity(bigint) is
    'The athlete chooses which copy of a duplicated workout counts (the others stay, pointing '
    'to it); automatic grouping never changes that group again. Own activities only. Returns '
    'the number of copies in the group. Security invoker wrapper of '
    'private.set_primary_activity.';

revoke all on function public.set_primary_activity(bigint) from public, anon;

grant execute on function public.set_primary_activity(bigint) to authenticated;

create function public.split_duplicate(p_activity_id bigint)
returns void
language sql
volatile
begin atomic
    select private.split_duplicate(p_activity_id);
end;

comment on function public.split_duplicate(bigint) is
    'The athlete says this activity is not a copy of the others grouped with it: it counts on '
    'its own from now on, and automatic grouping never joins it again. Own activities only. '
    'Security invoker wrapper of private.split_duplicate.';

revoke all on function public.split_duplicate(bigint) from public, anon;

grant execute on function public.split_duplicate(bigint) to authenticated;

create function public.regroup_activity_duplicates(p_user_id uuid default null)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_user uuid;
    v_starts timestamptz[];
    v_changed integer := 0;
begin
    for v_user in
        select u.id from public.users as u
        where p_user_id is null or u.id = p_user_id
        order by u.id
    loop
        -- Consecutive start times in batches of 1000: each grouping statement reads a bounded
        -- neighbourhood (the batch's rows +- 14 h); neighbouring batches overlap at the edges.
        for v_starts in
            select array_agg(b.start_date order by b.start_date)
            from (
                select
                    a.start_date,
                    (row_number() over (order by a.start_date) - 1) / 1000 as batch
                from public.activities as a
                where a.user_id = v_user
            ) as b
            group by b.batch
            order by b.batch
        loop
            v_changed := v_changed + coalesce(
                private.group_activity_duplicates(
                    array_fill(v_user, array[cardinality(v_starts)]), v_starts
                ),
                0
            );
        end loop;
    end loop;
    return v_changed;
end;
$$;

revoke all on function public.regroup_activity_duplicates(uuid) from public, anon, authenticated;

grant execute on function public.regroup_activity_duplicates(uuid) to service_role;

comment on function public.regroup_activity_duplicates(uuid) is
    'Regroups the duplicates of one athlete (or of everyone) over their whole history, e.g. '
    'after changing public.sport_families or public.provider_priorities; overridden groups are '
    'kept. Athlete by athlete, in batches of at most 1000 start times per grouping statement '
    '(bounded work per statement; bench/duplicate_grouping.py). Returns the number of rows '
    'changed. Workers only (service_role).';

-- The activities stored before this migration.
select public.regroup_activity_duplicates();

create function private.activities_maintain_primary_hidden()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        -- Rows inserted already pointing to a primary (rare: the grouping sets it by update).
        if not exists (select from new_rows as n where n.primary_activity_id is not null) then
            return null;
        end if;
        update public.activities as a
        set primary_hidden = coalesce(p.is_private or p.provider = 'strava', false)
        from new_rows as n
        inner join public.activities as p on n.primary_activity_id = p.id
        where
            a.id = n.id
            and a.primary_hidden
            is distinct from coalesce(p.is_private or p.provider = 'strava', false);
        return null;
    end if;
    -- Nothing that decides visibility changed (e.g. this trigger's own update): stop here,
    -- before issuing an update (statement triggers fire even for zero rows).
    if not exists (
        select from new_rows as n
        inner join old_rows as o on n.id = o.id
        where
            (n.is_private, n.provider, n.primary_activity_id)
            is distinct from (o.is_private, o.provider, o.primary_activity_id)
    ) then
        return null;
    end if;
    with changed as (
        select n.id, n.primary_activity_id
        from new_rows as n
        inner join old_rows as o on n.id = o.id
        where
            (n.is_private, n.provider, n.primary_activity_id)
            is distinct from (o.is_private, o.provider, o.primary_activity_id)
    ),

    -- The rows whose primary changed, and the copies of rows whose own visibility changed.
    targets as (
        select c.id from changed as c
        union
        select m.id
        from changed as c
        cross join lateral (
            select rm.id from public.activities as rm
            where rm.primary_activity_id = c.id
            offset 0
        ) as m
    ),

    computed as (
        select
            t.id,
            coalesce(p.is_private or p.provider = 'strava', false) as hidden
        from targets as t
        inner join public.activities as a on t.id = a.id
        left join public.activities as p on a.primary_activity_id = p.id
    )

    update public.activities as a
    set primary_hidden = c.hidden
    from computed as c
    where a.id = c.id and a.primary_hidden is distinct from c.hidden;
    return null;
end;
$$;

comment on function private.activities_maintain_primary_hidden() is
    'Statement-level AFTER INSERT and UPDATE trigger on activities: keeps primary_hidden equal '
    'to whether the row''s primary is hidden from coaches (private or Strava-sourced), for rows '
    'whose primary changed and for the copies of rows whose privacy or provider changed. '
    'Security definer: fired by an athlete hiding an activity, it updates the copies, whose '
    'grouping columns the athlete may not write.';

revoke all on function private.activities_maintain_primary_hidden()
from public, anon, authenticated;

create trigger activities_primary_hidden_insert
after insert on public.activities
referencing new table as new_rows
for each statement execute function private.activities_maintain_primary_hidden();

create trigger activities_primary_hidden_update
after update on public.activities
referencing old table as old_rows new table as new_rows
for each statement execute function private.activities_maintain_primary_hidden();
