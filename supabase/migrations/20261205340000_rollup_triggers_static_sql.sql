-- The rollup triggers run static statements for page-sized statements (issue 16: ingest page
-- cost).
--
-- private.rollups_apply_activity_changes (on activities) and
-- private.volume_totals_apply_rollup_changes (on weekly_rollups) built their statements with
-- format() and ran them with EXECUTE: every statement of every page was parsed, analysed and
-- planned again (0.3-0.7 ms each, four of them for a page of new activities), the update
-- trigger of an upsert that updated no row still planned and ran its whole statement, and a
-- re-synced page that changed no rollup input still ran both delta statements (and, through
-- their upserts of no row, the triggers of weekly_rollups and daily_loads).
--
-- Now a statement of up to 2,000 rows (an ingest page, an edit, the rollups they write) is read
-- from its transition tables by static statements into arrays of signed changes, and the arrays
-- are applied by static statements: plpgsql caches all their plans (generic plans after the
-- first five calls of a session; the arrays' estimates do not depend on the statement that came
-- first). A statement with no row, or whose rows change nothing, returns before writing:
--
-- * activities: the versions that count (the signed differences of an update, as before) go
--   to private.rollup_change[] (weekly_rollups, daily_loads) and
--   private.source_total_change[] (source_totals); each array is applied only when not empty,
--   by the statements of private.rollups_delta_sql and private.source_totals_delta_sql written
--   out, except that the load preferences (users.preferences with the settings and the FTP in
--   force) are built once per athlete and local date instead of once per version (the same
--   value: it depends on nothing else).
-- * weekly_rollups: the new rows (added) and the old rows (subtracted), as arrays of
--   public.weekly_rollups, go to private.volume_totals_add, which first nets each rollup row's
--   change (its new sums minus its old ones, by the row's key), drops the rows whose net change
--   is zero (a row rewritten with the same sums, a load refresh that changed nothing), and fans
--   out the others to their week, month and year and scopes.
--
-- A bulk statement (more than 2,000 rows: a rebuild, a renormalisation) keeps the statements
-- built for its transition tables and planned for their size, as before: the arrays would hold
-- every row in memory. Same sums, same rows either way.

create type private.rollup_change as (
    sign integer,
    user_id uuid,
    start_date_local timestamp,
    activity_type public.activity_type,
    provider public.provider_type,
    is_private boolean,
    distance double precision,
    moving_time integer,
    elapsed_time integer,
    elevation_gain real,
    calories real,
    average_heartrate real,
    weighted_average_watts real,
    average_watts real
);

comment on type private.rollup_change is
'One activity version that counts in weekly_rollups and daily_loads (primary, not deleted), '
'added (sign 1) or subtracted (sign -1) by private.rollups_apply_activity_changes; the other '
'columns are those of public.activities of the same names.';

create type private.source_total_change as (
    sign integer,
    user_id uuid,
    start_date_local timestamp,
    source text,
    shareable boolean,
    distance double precision,
    moving_time integer
);

comment on type private.source_total_change is
'One live activity copy as source_totals counts it, added (sign 1) or subtracted (sign -1) by '
'private.rollups_apply_activity_changes: source is coalesce(provider, source) as text, '
'shareable is not private, not Strava-sourced and not hidden behind its primary; the other '
'columns are those of public.activities of the same names.';

create or replace function private.rollups_apply_activity_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    transition_rows bigint;
    changes text;
    source_changes text;
    rollups private.rollup_change[];
    sources private.source_total_change[];
    weekly_empty tid[];
    daily_empty tid[];
    sources_empty tid[];
begin
    if tg_op = 'DELETE' then
        select count(*) into transition_rows from old_rows;
    else
        select count(*) into transition_rows from new_rows;
    end if;
    if transition_rows = 0 then
        return null;
    end if;
    if transition_rows > 2000 then
        -- A bulk statement: the statements built for its transition tables, planned for their
        -- size (the arrays below would hold every changed version in memory).
        if tg_op = 'INSERT' then
            changes := format(
                'select 1 as sign, v.* from (%s) as v', private.rollups_versions_sql('new_rows')
            );
            source_changes := format(
                'select 1 as sign, v.* from (%s) as v',
                private.source_totals_versions_sql('new_rows')
            );
        elsif tg_op = 'DELETE' then
            changes := format(
                'select -1 as sign, v.* from (%s) as v', private.rollups_versions_sql('old_rows')
            );
            source_changes := format(
                'select -1 as sign, v.* from (%s) as v',
                private.source_totals_versions_sql('old_rows')
            );
        else
            changes := format(
                'select 1 as sign, v.* from (%1$s except all %2$s) as v '
                'union all select -1 as sign, v.* from (%2$s except all %1$s) as v',
                private.rollups_versions_sql('new_rows'),
                private.rollups_versions_sql('old_rows')
            );
            source_changes := format(
                'select 1 as sign, v.* from (%1$s except all %2$s) as v '
                'union all select -1 as sign, v.* from (%2$s except all %1$s) as v',
                private.source_totals_versions_sql('new_rows'),
                private.source_totals_versions_sql('old_rows')
            );
        end if;
        execute private.rollups_delta_sql(changes) into weekly_empty, daily_empty;
        execute private.source_totals_delta_sql(source_changes) into sources_empty;
    else
        -- A statement of up to 2,000 rows (an ingest page, an edit): static statements, their
        -- plans cached. The versions it adds and subtracts go to arrays (the id keeps two equal
        -- activities apart in the set differences); a table none of them changes is not written.
        if tg_op = 'INSERT' then
            rollups := array(
                select
                    row(
                        1, t.user_id, t.start_date_local, t.activity_type, t.provider,
                        t.is_private, t.distance, t.moving_time, t.elapsed_time, t.elevation_gain,
                        t.calories, t.average_heartrate, t.weighted_average_watts, t.average_watts
                    )::private.rollup_change
                from new_rows as t
                where t.deleted_at is null and t.primary_activity_id is null
            );
            sources := array(
                select
                    row(
                        1, t.user_id, t.start_date_local,
                        coalesce(t.provider::text, t.source::text),
                        not t.is_private and t.provider is distinct from 'strava'
                        and not t.primary_hidden,
                        t.distance, t.moving_time
                    )::private.source_total_change
                from new_rows as t
                where t.deleted_at is null
            );
        elsif tg_op = 'DELETE' then
            rollups := array(
                select
                    row(
                        -1, t.user_id, t.start_date_local, t.activity_type, t.provider,
                        t.is_private, t.distance, t.moving_time, t.elapsed_time, t.elevation_gain,
                        t.calories, t.average_heartrate, t.weighted_average_watts, t.average_watts
                    )::private.rollup_change
                from old_rows as t
                where t.deleted_at is null and t.primary_activity_id is null
            );
            sources := array(
                select
                    row(
                        -1, t.user_id, t.start_date_local,
                        coalesce(t.provider::text, t.source::text),
                        not t.is_private and t.provider is distinct from 'strava'
                        and not t.primary_hidden,
                        t.distance, t.moving_time
                    )::private.source_total_change
                from old_rows as t
                where t.deleted_at is null
            );
        else
            -- Only versions that changed: a new version equal to its old one (a re-ingested,
            -- renamed or touched activity) is in neither difference.
            rollups := array(
                with
                new_versions as (
                    select
                        t.id, t.user_id, t.start_date_local, t.activity_type, t.provider,
                        t.is_private, t.distance, t.moving_time, t.elapsed_time, t.elevation_gain,
                        t.calories, t.average_heartrate, t.weighted_average_watts, t.average_watts
                    from new_rows as t
                    where t.deleted_at is null and t.primary_activity_id is null
                ),
                old_versions as (
                    select
                        t.id, t.user_id, t.start_date_local, t.activity_type, t.provider,
                        t.is_private, t.distance, t.moving_time, t.elapsed_time, t.elevation_gain,
                        t.calories, t.average_heartrate, t.weighted_average_watts, t.average_watts
                    from old_rows as t
                    where t.deleted_at is null and t.primary_activity_id is null
                )
                select
                    row(
                        d.sign, d.user_id, d.start_date_local, d.activity_type, d.provider,
                        d.is_private, d.distance, d.moving_time, d.elapsed_time, d.elevation_gain,
                        d.calories, d.average_heartrate, d.weighted_average_watts, d.average_watts
                    )::private.rollup_change
                from (
                    select 1 as sign, v.*
                    from (
                        select * from new_versions
                        except all
                        select * from old_versions
                    ) as v
                    union all
                    select -1 as sign, v.*
                    from (
                        select * from old_versions
                        except all
                        select * from new_versions
                    ) as v
                ) as d
            );
            sources := array(
                with
                new_versions as (
                    select
                        t.id, t.user_id, t.start_date_local,
                        coalesce(t.provider::text, t.source::text) as source,
                        (
                            not t.is_private and t.provider is distinct from 'strava'
                            and not t.primary_hidden
                        ) as shareable,
                        t.distance, t.moving_time
                    from new_rows as t
                    where t.deleted_at is null
                ),
                old_versions as (
                    select
                        t.id, t.user_id, t.start_date_local,
                        coalesce(t.provider::text, t.source::text) as source,
                        (
                            not t.is_private and t.provider is distinct from 'strava'
                            and not t.primary_hidden
                        ) as shareable,
                        t.distance, t.moving_time
                    from old_rows as t
                    where t.deleted_at is null
                )
                select
                    row(
                        d.sign, d.user_id, d.start_date_local, d.source, d.shareable, d.distance,
                        d.moving_time
                    )::private.source_total_change
                from (
                    select 1 as sign, v.*
                    from (
                        select * from new_versions
                        except all
                        select * from old_versions
                    ) as v
                    union all
                    select -1 as sign, v.*
                    from (
                        select * from old_versions
                        except all
                        select * from new_versions
                    ) as v
                ) as d
            );
        end if;
        if cardinality(rollups) > 0 then
            with
            -- The load preferences of each athlete and local date of the versions, once (offset
            -- 0 keeps the subquery: the expression is not copied into every use of the load
            -- formulas' preference argument).
            preferences as (
                select
                    d.user_id,
                    d.day,
                    private.load_preferences(
                        u.preferences, s.max_heart_rate, s.resting_heart_rate,
                        s.threshold_heart_rate, s.sex, f.ftp_w
                    ) as load_preferences
                from (
                    select distinct c.user_id, c.start_date_local::date as day
                    from unnest(rollups) as c
                ) as d
                -- An athlete being deleted has no rollups left to adjust (they cascade away).
                inner join public.users as u on d.user_id = u.id
                left join public.athlete_settings as s on d.user_id = s.user_id
                -- the FTP in force on the local date
                left join lateral (
                    select h.ftp_w
                    from public.athlete_ftp_history as h
                    where h.user_id = d.user_id and h.effective_from <= d.day
                    order by h.effective_from desc
                    limit 1
                ) as f on true
                offset 0
            ),
            versions as (
                select c.*, p.load_preferences
                from unnest(rollups) as c
                inner join preferences as p
                    on c.user_id = p.user_id and c.start_date_local::date = p.day
            ),
            contributions as (
                select
                    c.user_id,
                    c.start_date_local::date as day,
                    c.activity_type,
                    c.provider,
                    (not c.is_private and c.provider is distinct from 'strava') as shareable,
                    sum(c.sign)::integer as activity_count,
                    sum(c.sign * coalesce(c.distance::numeric, 0)) as distance,
                    sum(c.sign * coalesce(c.moving_time, 0))::bigint as moving_time,
                    sum(c.sign * coalesce(c.elapsed_time, 0))::bigint as elapsed_time,
                    sum(c.sign * coalesce(c.elevation_gain::numeric, 0)) as elevation_gain,
                    sum(c.sign * coalesce(c.calories::numeric, 0)) as calories,
                    -- private.rollup_load, written out: its wrapper is not inlined
                    sum(
                        c.sign * coalesce(
                            (
                                private.activity_training_load(
                                    c.activity_type, c.moving_time, c.elapsed_time,
                                    c.average_heartrate, c.weighted_average_watts, c.average_watts,
                                    c.load_preferences
                                )
                            ).load::numeric,
                            0
                        )
                    ) as load
                from versions as c
                group by 1, 2, 3, 4, 5
            ),
            weekly as (
                insert into public.weekly_rollups as r (
                    user_id, week_start, month_start, activity_type, provider, shareable,
                    activity_count, distance, moving_time, elapsed_time, elevation_gain, calories,
                    load
                )
                select
                    c.user_id, date_trunc('week', c.day)::date, date_trunc('month', c.day)::date,
                    c.activity_type, c.provider, c.shareable, sum(c.activity_count),
                    sum(c.distance), sum(c.moving_time), sum(c.elapsed_time),
                    sum(c.elevation_gain), sum(c.calories), sum(c.load)
                from contributions as c
                group by 1, 2, 3, 4, 5, 6
                -- A fixed order of row locks: concurrent writers of one athlete cannot deadlock.
                order by 1, 2, 3, 4, 5, 6
                on conflict (user_id, week_start, month_start, activity_type, provider, shareable)
                do update set
                    activity_count = r.activity_count + excluded.activity_count,
                    distance = r.distance + excluded.distance,
                    moving_time = r.moving_time + excluded.moving_time,
                    elapsed_time = r.elapsed_time + excluded.elapsed_time,
                    elevation_gain = r.elevation_gain + excluded.elevation_gain,
                    calories = r.calories + excluded.calories,
                    load = r.load + excluded.load
                returning r.ctid, r.activity_count
            ),
            daily as (
                insert into public.daily_loads as d (user_id, day, shareable, load, activity_count)
                select c.user_id, c.day, c.shareable, sum(c.load), sum(c.activity_count)
                from contributions as c
                group by 1, 2, 3
                order by 1, 2, 3
                on conflict (user_id, day, shareable) do update set
                    load = d.load + excluded.load,
                    activity_count = d.activity_count + excluded.activity_count
                returning d.ctid, d.activity_count
            )
            -- Where the rows left with no activity are: the statements below delete them there.
            select
                array(select w.ctid from weekly as w where w.activity_count = 0),
                array(select d.ctid from daily as d where d.activity_count = 0)
            into weekly_empty, daily_empty;
        end if;
        if cardinality(sources) > 0 then
            with
            deltas as (
                select
                    c.user_id,
                    s.shareable_only,
                    p.period,
                    p.period_start,
                    c.source,
                    sum(c.sign)::integer as activity_count,
                    sum(c.sign * coalesce(c.distance::numeric, 0)) as distance,
                    sum(c.sign * coalesce(c.moving_time, 0))::bigint as moving_time
                from unnest(sources) as c
                -- An athlete being deleted has no totals left to adjust (they cascade away).
                inner join public.users as u on c.user_id = u.id
                cross join lateral (
                    values
                    ('day', c.start_date_local::date),
                    ('week', date_trunc('week', c.start_date_local)::date)
                ) as p (period, period_start)
                cross join (values (false), (true)) as s (shareable_only)
                where c.shareable or not s.shareable_only
                group by 1, 2, 3, 4, 5
            ),
            upserted as (
                insert into public.source_totals as t (
                    user_id, shareable_only, period, period_start, source, activity_count,
                    distance, moving_time
                )
                select
                    d.user_id, d.shareable_only, d.period, d.period_start, d.source,
                    d.activity_count, d.distance, d.moving_time
                from deltas as d
                where d.activity_count <> 0 or d.distance <> 0 or d.moving_time <> 0
                -- A fixed order of row locks: concurrent writers of one athlete cannot deadlock.
                order by 1, 2, 3, 4, 5
                on conflict (user_id, shareable_only, period, period_start, source) do update set
                    activity_count = t.activity_count + excluded.activity_count,
                    distance = t.distance + excluded.distance,
                    moving_time = t.moving_time + excluded.moving_time
                returning t.ctid, t.activity_count
            )
            select array(select x.ctid from upserted as x where x.activity_count = 0)
            into sources_empty;
        end if;
    end if;
    -- The upserts hold these rows' locks until commit: nobody moved them since.
    if cardinality(weekly_empty) > 0 then
        -- Empty means every sum back to zero as well (numeric: exact). A row whose count
        -- reached 0 while a sum did not is mid-statement: a nested statement (the duplicate
        -- grouping's update, fired before this insert's own delta) subtracted a version that
        -- the outer statement has yet to add; deleting it would lose the other activities.
        delete from public.weekly_rollups as r
        where
            r.ctid = any(weekly_empty)
            and r.activity_count = 0
            and r.distance = 0
            and r.moving_time = 0
            and r.elapsed_time = 0
            and r.elevation_gain = 0
            and r.calories = 0
            and r.load = 0;
    end if;
    if cardinality(daily_empty) > 0 then
        delete from public.daily_loads as d
        where d.ctid = any(daily_empty) and d.activity_count = 0 and d.load = 0;
    end if;
    if cardinality(sources_empty) > 0 then
        delete from public.source_totals as t
        where
            t.ctid = any(sources_empty)
            and t.activity_count = 0
            and t.distance = 0
            and t.moving_time = 0;
    end if;
    return null;
end;
$$;

comment on function private.rollups_apply_activity_changes() is
'Statement-level AFTER trigger on activities (insert, update, delete; transition tables '
'old_rows/new_rows): adds the new versions that count and subtracts the old versions that '
'counted (primary, not deleted), only for rows whose rollup inputs changed, to weekly_rollups '
'and daily_loads (loads with the settings and the FTP in force on each activity''s date), and '
'likewise every live copy to source_totals; then drops rows left with no activity and every '
'sum zero (a nested statement may subtract before its outer statement adds). A statement of up '
'to 2,000 rows runs static statements (plans cached): its changes go to private.rollup_change[] '
'and private.source_total_change[], and a table whose array is empty is not written; a larger '
'one runs the statements of private.rollups_delta_sql and private.source_totals_delta_sql, '
'planned for its transition tables. Security definer: whoever writes activities (an '
'athlete''s manual entry, a worker) has no right to write the rollups.';

create function private.volume_totals_add(
    p_added public.weekly_rollups[], p_removed public.weekly_rollups[]
)
returns tid[]
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_empty tid[];
begin
    with
    changes as (
        select
            1 as sign, n.user_id, n.week_start, n.month_start, n.activity_type, n.provider,
            n.shareable, n.activity_count, n.distance, n.moving_time, n.elapsed_time,
            n.elevation_gain, n.calories, n.load
        from unnest(p_added) as n
        union all
        select
            -1 as sign, o.user_id, o.week_start, o.month_start, o.activity_type, o.provider,
            o.shareable, o.activity_count, o.distance, o.moving_time, o.elapsed_time,
            o.elevation_gain, o.calories, o.load
        from unnest(p_removed) as o
    ),
    -- Each rollup row's net change (its new sums minus its old ones); a row rewritten with the
    -- same sums changes no total.
    nets as (
        select
            c.user_id,
            c.week_start,
            c.month_start,
            c.activity_type,
            c.shareable,
            sum(c.sign * c.activity_count) as activity_count,
            sum(c.sign * c.distance) as distance,
            sum(c.sign * c.moving_time) as moving_time,
            sum(c.sign * c.elapsed_time) as elapsed_time,
            sum(c.sign * c.elevation_gain) as elevation_gain,
            sum(c.sign * c.calories) as calories,
            sum(c.sign * c.load) as load
        from changes as c
        group by c.user_id, c.week_start, c.month_start, c.activity_type, c.provider, c.shareable
        having
            sum(c.sign * c.activity_count) <> 0 or sum(c.sign * c.distance) <> 0
            or sum(c.sign * c.moving_time) <> 0 or sum(c.sign * c.elapsed_time) <> 0
            or sum(c.sign * c.elevation_gain) <> 0 or sum(c.sign * c.calories) <> 0
            or sum(c.sign * c.load) <> 0
    ),
    deltas as (
        select
            c.user_id,
            s.shareable_only,
            p.period,
            p.period_start,
            c.activity_type,
            sum(c.activity_count)::integer as activity_count,
            sum(c.distance) as distance,
            sum(c.moving_time)::bigint as moving_time,
            sum(c.elapsed_time)::bigint as elapsed_time,
            sum(c.elevation_gain) as elevation_gain,
            sum(c.calories) as calories,
            sum(c.load) as load
        from nets as c
        -- An athlete being deleted has no totals left to adjust (they cascade away).
        inner join public.users as u on c.user_id = u.id
        cross join lateral (
            values
            ('week', c.week_start),
            ('month', c.month_start),
            ('year', date_trunc('year', c.month_start::timestamp)::date)
        ) as p (period, period_start)
        -- every row counts in scope "all", the shareable ones in scope "shareable" too
        cross join lateral (
            select false as shareable_only
            union all
            select true where c.shareable
        ) as s
        group by 1, 2, 3, 4, 5
    ),
    upserted as (
        insert into public.volume_totals as t (
            user_id, shareable_only, period, period_start, activity_type, activity_count,
            distance, moving_time, elapsed_time, elevation_gain, calories, load
        )
        select
            d.user_id, d.shareable_only, d.period, d.period_start, d.activity_type,
            d.activity_count, d.distance, d.moving_time, d.elapsed_time,
            d.elevation_gain, d.calories, d.load
        from deltas as d
        -- an unchanged total (changes of rollup rows that cancel out) is not touched
        where
            d.activity_count <> 0 or d.distance <> 0 or d.moving_time <> 0
            or d.elapsed_time <> 0 or d.elevation_gain <> 0 or d.calories <> 0
            or d.load <> 0
        -- A fixed order of row locks: concurrent writers of one athlete cannot deadlock.
        order by 1, 2, 3, 4, 5
        on conflict (user_id, shareable_only, period, period_start, activity_type)
        do update set
            activity_count = t.activity_count + excluded.activity_count,
            distance = t.distance + excluded.distance,
            moving_time = t.moving_time + excluded.moving_time,
            elapsed_time = t.elapsed_time + excluded.elapsed_time,
            elevation_gain = t.elevation_gain + excluded.elevation_gain,
            calories = t.calories + excluded.calories,
            load = t.load + excluded.load
        returning t.ctid, t.activity_count
    )
    select array(select x.ctid from upserted as x where x.activity_count = 0) into v_empty;
    return v_empty;
end;
$$;

comment on function private.volume_totals_add(public.weekly_rollups[], public.weekly_rollups[]) is
'Adds weekly_rollups rows (p_added) and subtracts others (p_removed) from volume_totals: nets '
'each rollup row (by its key columns: new sums minus old sums), drops the rows whose net change '
'is zero, adds the others to the totals of their week, month and year (scope all, and scope '
'shareable for shareable rows) in one upsert, and returns the ctids of the totals it left with '
'no workout (to delete). One static statement, its plan cached: used by '
'private.volume_totals_apply_rollup_changes for statements of up to 2,000 rows. Security '
'definer: the writers of the rollups run as whoever wrote activities.';

revoke all on function private.volume_totals_add(public.weekly_rollups[], public.weekly_rollups[])
from public, anon, authenticated;

create or replace function private.volume_totals_apply_rollup_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_rows bigint;
    v_changes text;
    v_added public.weekly_rollups[] := '{}';
    v_removed public.weekly_rollups[] := '{}';
    v_empty tid[];
begin
    if tg_op = 'TRUNCATE' then
        truncate public.volume_totals;
        return null;
    elsif tg_op = 'DELETE' then
        select count(*) into v_rows from old_rows;
    else
        select count(*) into v_rows from new_rows;
    end if;
    if v_rows = 0 then
        return null;
    end if;
    if v_rows > 2000 then
        -- A bulk statement (a rebuild): the statement built for its transition tables, planned
        -- for their size (the arrays below would hold every row in memory).
        if tg_op = 'INSERT' then
            v_changes := 'select 1 as sign, n.* from new_rows as n';
        elsif tg_op = 'DELETE' then
            v_changes := 'select -1 as sign, o.* from old_rows as o';
        else
            v_changes := 'select 1 as sign, n.* from new_rows as n '
                || 'union all select -1 as sign, o.* from old_rows as o';
        end if;
        execute format(
            $sql$
            with changes as (%s),
            deltas as (
                select
                    c.user_id,
                    s.shareable_only,
                    p.period,
                    p.period_start,
                    c.activity_type,
                    sum(c.sign * c.activity_count)::integer as activity_count,
                    sum(c.sign * c.distance) as distance,
                    sum(c.sign * c.moving_time)::bigint as moving_time,
                    sum(c.sign * c.elapsed_time)::bigint as elapsed_time,
                    sum(c.sign * c.elevation_gain) as elevation_gain,
                    sum(c.sign * c.calories) as calories,
                    sum(c.sign * c.load) as load
                from changes as c
                inner join public.users as u on c.user_id = u.id
                cross join lateral (
                    values
                    ('week', c.week_start),
                    ('month', c.month_start),
                    ('year', date_trunc('year', c.month_start::timestamp)::date)
                ) as p (period, period_start)
                cross join lateral (
                    select false as shareable_only
                    union all
                    select true where c.shareable
                ) as s
                group by 1, 2, 3, 4, 5
            ),
            upserted as (
                insert into public.volume_totals as t (
                    user_id, shareable_only, period, period_start, activity_type,
                    activity_count, distance, moving_time, elapsed_time, elevation_gain,
                    calories, load
                )
                select
                    d.user_id, d.shareable_only, d.period, d.period_start, d.activity_type,
                    d.activity_count, d.distance, d.moving_time, d.elapsed_time,
                    d.elevation_gain, d.calories, d.load
                from deltas as d
                where
                    d.activity_count <> 0 or d.distance <> 0 or d.moving_time <> 0
                    or d.elapsed_time <> 0 or d.elevation_gain <> 0 or d.calories <> 0
                    or d.load <> 0
                order by 1, 2, 3, 4, 5
                on conflict (user_id, shareable_only, period, period_start, activity_type)
                do update set
                    activity_count = t.activity_count + excluded.activity_count,
                    distance = t.distance + excluded.distance,
                    moving_time = t.moving_time + excluded.moving_time,
                    elapsed_time = t.elapsed_time + excluded.elapsed_time,
                    elevation_gain = t.elevation_gain + excluded.elevation_gain,
                    calories = t.calories + excluded.calories,
                    load = t.load + excluded.load
                returning t.ctid, t.activity_count
            )
            select array(select x.ctid from upserted as x where x.activity_count = 0)
            $sql$,
            v_changes
        ) into v_empty;
    else
        -- A statement of up to 2,000 rows (the rollups of an ingest page or an edit): static
        -- statements, their plans cached; the rows go to arrays of public.weekly_rollups.
        if tg_op in ('INSERT', 'UPDATE') then
            v_added := array(select n::public.weekly_rollups from new_rows as n);
        end if;
        if tg_op in ('DELETE', 'UPDATE') then
            v_removed := array(select o::public.weekly_rollups from old_rows as o);
        end if;
        v_empty := private.volume_totals_add(v_added, v_removed);
    end if;
    -- Empty means the count and every sum back to zero (numeric: exact); a count at zero with
    -- a sum left is mid-statement (a nested statement subtracted first) and stays.
    if cardinality(v_empty) > 0 then
        delete from public.volume_totals as t
        where
            t.ctid = any(v_empty)
            and t.activity_count = 0
            and t.distance = 0
            and t.moving_time = 0
            and t.elapsed_time = 0
            and t.elevation_gain = 0
            and t.calories = 0
            and t.load = 0;
    end if;
    return null;
end;
$$;

comment on function private.volume_totals_apply_rollup_changes() is
'Statement-level AFTER trigger on weekly_rollups (insert, update, delete: transition tables '
'old_rows/new_rows; truncate): adds the rollup rows the statement wrote and subtracts the '
'ones it removed or rewrote to the totals of their week, month and year (scope all, and scope '
'shareable for shareable rows) in one upsert, then drops totals left with no workout and every '
'sum zero. A statement of up to 2,000 rows goes to private.volume_totals_add (static, nets '
'each rollup row first and skips the unchanged ones); a larger one runs a statement planned '
'for its transition tables; a statement that wrote no row returns at once. Security definer: '
'the writers of the rollups run as whoever wrote activities.';
