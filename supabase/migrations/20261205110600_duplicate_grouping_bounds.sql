-- Duplicate grouping stays linear, and the full regroup runs in bounded batches (issue 14,
-- finding 7).
--
-- Measured before: one insert of N manual activities at the same time took 0.56 s for 40,
-- 14.8 s for 100 and timed out for 250; with a 70-row cluster in place each nearby insert cost
-- 2.8 s; public.regroup_activity_duplicates on 8 such clusters ran 203 s with no bound. The
-- cause: every manual or imported row was a source of its own, so N same-time rows were each
-- other's best match per source, every pair linked, and the component walk (a recursive CTE
-- reaching every row from every row) grew as N^3. Now:
-- - the athlete's manual entries are one source (two manual entries are two workouts, never
--   copies of each other; a manual entry still joins a provider's or a file's copy);
-- - each row links to at most its 8 best matches (a workout has at most one copy per source,
--   and nobody records one workout with 8 sources), so the links and the walk stay linear in
--   the rows even for a crowd of same-time imported files;
-- - the bucket keys of a row are deduplicated (its UTC and local buckets coincide at offset 0);
-- - the matching statement runs with enable_nestloop off: its CTEs are joined by hash instead
--   of nested loops over CTE scans whose row counts the planner cannot estimate;
-- - public.regroup_activity_duplicates regroups athlete by athlete, in batches of at most 1000
--   start times per grouping statement, instead of one statement over everyone's history.
-- bench/duplicate_grouping.py measures all three (README "Benchmarks").

create or replace function private.group_activity_duplicates(
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


create or replace function public.regroup_activity_duplicates(p_user_id uuid default null)
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
comment on function public.regroup_activity_duplicates(uuid) is
    'Regroups the duplicates of one athlete (or of everyone) over their whole history, e.g. '
    'after changing public.sport_families or public.provider_priorities; overridden groups are '
    'kept. Athlete by athlete, in batches of at most 1000 start times per grouping statement '
    '(bounded work per statement; bench/duplicate_grouping.py). Returns the number of rows '
    'changed. Workers only (service_role).';
