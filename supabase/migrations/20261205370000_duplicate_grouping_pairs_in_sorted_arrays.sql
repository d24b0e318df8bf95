-- Duplicate grouping finds its pairs in sorted arrays (issue 16, item 2: a page for an athlete
-- with a dense history within 1.2x of the same page for a new athlete).
--
-- The page of the heaviest athlete (60,000 activities, ~14 a day) regroups the ~1,040 rows in
-- its windows where a new athlete's page regroups its own 200. Of the statement's cost, most
-- went to finding pairs: a window over every start sorted by (athlete, time) - a two-key sort
-- whose first key is the same for every row, ~0.8 ms of ~2,000 starts against ~0.3 ms by time
-- alone - then the candidates keyed by 5-minute buckets, probed three ways and hash-joined.
--
-- Now each athlete's starts become two arrays ordered by time (ordered aggregates: a sort per
-- athlete, by time), and each start with another within the 300 s before it is compared with
-- the three before it by subscript. Where no start has four others within the 300 s before
-- it, that finds every pair of rows with starts within 300 s of each other, and so every pair
-- the rules accept. A crowd (same-time files, say) also takes the previous path, bucket
-- hashing of the rows next to another row's start, only then (a one-time filter). Either set
-- of pairs contains the accepted ones and the screen that follows keeps exactly those: the
-- changes are those of the previous definition for every input
-- (tests/analytics/test_duplicate_grouping_equivalence.py, against 20261125130000, with a test
-- on each side of the crowd limit). A local start equal to the UTC start is one start; the
-- source key is a bigint (connection id, 0 for the athlete's manual entries, minus the row id
-- for a row of its own). At 10M activities, the statement for the heaviest athlete's page (its
-- 200 anchors, prepared, 80 interleaved rounds): 8.6 -> 6.3 ms (median); a new athlete's
-- 1.7 -> 1.6 ms. Signature, grants, security and rules are unchanged.

create or replace function private.group_activity_duplicates(
    p_user_ids uuid[], p_starts timestamptz[]
)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
-- JIT would compile for seconds. The plan is generic and cached: its joins are hash joins
-- (enable_nestloop off) and its index scans parameterised laterals, whatever the anchors.
set jit = off
set plan_cache_mode = force_generic_plan
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

    -- Every row in the ranges, narrow and as stored (one index range scan per range): the
    -- columns the screens below need. The rest of a row is read only for a row of a pair
    -- that passes them.
    near as materialized (
        select a.*
        from ranges as r
        cross join lateral (
            select
                ra.id,
                ra.user_id,
                ra.primary_activity_id,
                ra.duplicate_override,
                ra.deleted_at,
                ra.connection_id,
                ra.source,
                ra.start_date,
                ra.start_date_local,
                ra.elapsed_time,
                ra.moving_time,
                ra.distance,
                ra.activity_type
            from public.activities as ra
            where
                ra.user_id = r.user_id
                and ra.start_date >= r.lo
                and ra.start_date <= r.hi
            offset 0  -- keeps the parameterised index scan (no pull-up into a hash join)
        ) as a
    ),

    -- The rest of the near rows' current groups, when outside the ranges (rare): regrouped too.
    outside as (
        select a.*
        from (
            select n.primary_activity_id as id from near as n
            where n.primary_activity_id is not null
            union
            -- one index scan for all the near rows' ids
            select rm.id from public.activities as rm
            where rm.primary_activity_id = any(array(select n.id from near as n))
        ) as g
        cross join lateral (
            select
                ra.id,
                ra.user_id,
                ra.primary_activity_id,
                ra.duplicate_override,
                ra.deleted_at,
                ra.connection_id,
                ra.source,
                ra.start_date,
                ra.start_date_local,
                ra.elapsed_time,
                ra.moving_time,
                ra.distance,
                ra.activity_type
            from public.activities as ra where ra.id = g.id
            offset 0
        ) as a
        where not exists (select from near as n where n.id = g.id)
    ),

    -- The rows to regroup: never an overridden one.
    scope as materialized (
        select n.* from near as n where not n.duplicate_override
        union all
        select o.* from outside as o where not o.duplicate_override
    ),

    -- A pair the rules accept has a start (UTC or local) of one row within 300 s of a start of
    -- the other (a link: UTC starts within 300 s; the same time: within 120 s; a time-zone
    -- mistake: a local start within 120 s of the other's local or UTC start). Each athlete's
    -- starts (a local start equal to the UTC start counted once) are put in order, by time,
    -- as arrays (ordered aggregates: a sort per athlete by one key, where a window partitioned
    -- by athlete sorted every start by two), and each start is compared with the three before
    -- it. Where no start has four others in the 300 s before it, the starts within 300 s
    -- before a start are among its three predecessors: every pair of rows with starts within
    -- 300 s of each other is found there (the screen below drops those of one source).
    start_points as (
        select s.id, s.user_id, p.at
        from scope as s
        cross join lateral (
            -- UTC: the same as at time zone 'UTC', without a time zone lookup per row
            values
            ((s.start_date at time zone interval '00:00')),
            (nullif(s.start_date_local, (s.start_date at time zone interval '00:00')))
        ) as p (at)
        where s.deleted_at is null and p.at is not null
    ),

    sorted_starts as materialized (
        select
            p.user_id,
            array_agg(p.id order by p.at, p.id) as ids,
            -- the same order: equal times are equal whichever row comes first
            array_agg(p.at order by p.at) as ats
        from start_points as p
        group by p.user_id
    ),

    -- The starts with another within the 300 s before them (only they can have a pair there).
    close_starts as materialized (
        select t.user_id, g.i
        from sorted_starts as t
        cross join lateral generate_series(2, cardinality(t.ats)) as g (i)
        where t.ats[g.i] <= t.ats[g.i - 1] + interval '300 seconds'
    ),

    close_pairs as (
        select
            least(t.ids[c.i], t.ids[c.i - d.k]) as x_id,
            greatest(t.ids[c.i], t.ids[c.i - d.k]) as y_id
        from close_starts as c
        inner join sorted_starts as t on c.user_id = t.user_id
        cross join (values (1), (2), (3)) as d (k)
        where
            c.i > d.k
            and t.ats[c.i] <= t.ats[c.i - d.k] + interval '300 seconds'
            and t.ids[c.i] <> t.ids[c.i - d.k]
    ),

    -- A crowd (a start with four others or more in the 300 s before it: same-time files, say)
    -- may hold pairs further apart in that order. Then, and only then, the rows are also
    -- paired by hashing: the rows with a start next to another row's start within 300 s (two
    -- starts of different rows within 300 s have starts of different rows side by side among
    -- them, and a row has two starts at most, so both rows are among these), keyed by the
    -- 5-minute bucket of their UTC and local starts, two pairing when keys fall in the same
    -- or neighbouring buckets (every pair with starts within 300 s, some up to 600 s apart).
    -- The screen below keeps exactly the accepted pairs of either.
    crowded as (
        select exists (
            select from close_starts as c
            inner join sorted_starts as t on c.user_id = t.user_id
            where c.i > 4 and t.ats[c.i] <= t.ats[c.i - 4] + interval '300 seconds'
        ) as found
    ),

    crowd_rows as (
        select distinct e.id
        from close_starts as c
        inner join sorted_starts as t on c.user_id = t.user_id
        cross join lateral (values (t.ids[c.i]), (t.ids[c.i - 1])) as e (id)
        where (select w.found from crowded as w) and t.ids[c.i] <> t.ids[c.i - 1]
    ),

    bucket_keys as (
        select distinct
            s.id,
            s.user_id,
            coalesce(s.connection_id, case when s.source = 'manual' then 0 else -s.id end)
                as source_key,
            k.bucket
        from crowd_rows as r
        inner join scope as s on r.id = s.id
        cross join lateral (
            values
            (floor(extract(epoch from (s.start_date at time zone 'UTC')) / 300)::bigint),
            (floor(extract(epoch from s.start_date_local) / 300)::bigint)
        ) as k (bucket)
        where (select w.found from crowded as w)
    ),

    probe_keys as materialized (
        select k.id, k.user_id, k.source_key, k.bucket + d.step as bucket
        from bucket_keys as k
        cross join (values (-1), (0), (1)) as d (step)
    ),

    pair_ids as (
        select p.x_id, p.y_id from close_pairs as p
        union
        select kx.id, ky.id
        from bucket_keys as kx
        inner join probe_keys as ky
            on
                kx.user_id = ky.user_id
                and kx.bucket = ky.bucket
                and kx.id < ky.id
                and kx.source_key <> ky.source_key
    ),

    -- What the screen and the matching need of the paired rows.
    candidates as materialized (
        select
            s.id,
            s.user_id,
            coalesce(s.connection_id, case when s.source = 'manual' then 0 else -s.id end)
                as source_key,
            s.start_date,
            s.start_date_local,
            (s.start_date at time zone 'UTC') as start_utc,
            coalesce(s.elapsed_time, s.moving_time) as duration,
            nullif(s.distance, 0) as distance,
            coalesce(f.sport_family, s.activity_type::text) as sport_family
        from (
            select p.x_id as id from pair_ids as p
            union
            select p.y_id from pair_ids as p
        ) as d
        inner join scope as s on d.id = s.id
        left join public.sport_families as f on s.activity_type = f.activity_type
    ),

    -- The screen: of the pairs, those the rules may accept, judged on the narrow rows.
    -- A start within 300 s (a certain link accepts up to 300 s, a hint widens the tolerances:
    -- both need the whole rows, judged below), or the whole-hour time-zone rule, which needs
    -- nothing else and is applied exactly as below. Every pair the rules accept passes.
    screened as materialized (
        select i.x_id, i.y_id
        from pair_ids as i
        inner join candidates as x on i.x_id = x.id
        inner join candidates as y on i.y_id = y.id
        cross join lateral (
            select
                extract(epoch from y.start_date - x.start_date) as shift,
                round(extract(epoch from y.start_date - x.start_date) / 3600.0) as hours
        ) as m
        where
            x.source_key <> y.source_key
            and (
                x.sport_family = y.sport_family
                or x.sport_family = 'generic'
                or y.sport_family = 'generic'
            )
            and (
                abs(m.shift) <= 300
                or (
                    m.hours <> 0
                    and abs(m.hours) <= 14
                    and abs(m.shift - m.hours * 3600) <= 60
                    and abs(y.duration - x.duration)
                    <= greatest(60, 0.02 * greatest(y.duration, x.duration))
                    and (
                        abs(y.distance - x.distance) is null
                        or abs(y.distance - x.distance)
                        <= greatest(50, 0.01 * greatest(y.distance, x.distance))
                    )
                    and (
                        abs(extract(epoch from x.start_date_local - y.start_date_local)) <= 120
                        or abs(extract(epoch from x.start_date_local - y.start_utc)) <= 120
                        or abs(extract(epoch from x.start_utc - y.start_date_local)) <= 120
                    )
                )
            )
    ),

    -- The whole rows of the screened pairs (by primary key), with what matching needs.
    detailed as materialized (
        select
            c.*,
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
            select sc.x_id as id from screened as sc
            union
            select sc.y_id from screened as sc
        ) as d
        inner join candidates as c on d.id = c.id
        cross join lateral (
            select
                ra.external_id,
                ra.activity_data,
                ra.device_name,
                ra.average_watts,
                ra.average_heartrate,
                ra.provider,
                ra.source
            from public.activities as ra where ra.id = d.id
            offset 0
        ) as a
        left join public.provider_priorities as pp
            on coalesce(a.provider::text, a.source::text) = pp.origin
    ),

    pairs as (
        select
            x.id as x_id,
            y.id as y_id,
            x.source_key as x_source,
            y.source_key as y_source,
            m.*
        from screened as i
        inner join detailed as x on i.x_id = x.id
        inner join detailed as y on i.y_id = y.id
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
        inner join detailed as c on r.id = c.id
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

comment on function private.group_activity_duplicates(uuid[], timestamptz[]) is
    'Regroups cross-source duplicates around the given (user_id, start_date) anchors, '
    'set-based: merged ±14 h 2 min windows around the anchors, read with the (user_id, '
    'start_date) index; the rows found and the rest of their groups (never overridden rows) '
    'are matched again, pairs being found in each athlete''s starts (UTC and local) sorted '
    'by time, each compared with the three before it (and, where a crowd puts four or more '
    'within 300 s, by hashing 5-minute buckets as well; the matching statement joins by hash, '
    'enable_nestloop off, its generic plan cached), read narrow and screened first (different '
    'sources, compatible sport, a start within 300 s or the time-zone rule below); only the '
    'rows of the pairs '
    'that pass are read whole and matched by the rules. Same '
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
