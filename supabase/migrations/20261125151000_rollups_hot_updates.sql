-- Rollup maintenance without index writes: HOT updates of the rollup rows.
--
-- Each page of activities updates a rollup row per (athlete, week, sport, provider, shareable)
-- and a daily-load row per (athlete, day, shareable) it touches. Two things made every such
-- update write a new entry into the tables' large unique indexes (a non-HOT update):
-- - the partial indexes on rows with activity_count = 0 (used to find rows left empty): a
--   column in an index predicate counts as indexed, and every update changes activity_count;
-- - full pages (fillfactor 100): a HOT update needs room on the row's own page.
-- The ingest slowdown that rollup maintenance costs grew with the tables (bench/analytics.py:
-- 17.9 % at 1M activities, 25.1 % at 3M). The partial indexes go: the delta statement now
-- returns where the rows it left empty are (their ctid; the upserts hold their locks), and the
-- trigger deletes exactly those. Both tables leave a quarter of each page free for updates
-- (new pages; public.rebuild_rollups rewrites them all).

drop index public.weekly_rollups_empty_idx;
drop index public.daily_loads_empty_idx;

alter table public.weekly_rollups set (fillfactor = 75);
alter table public.daily_loads set (fillfactor = 75);

create or replace function private.rollups_delta_sql(p_changes text)
returns text
language sql
immutable
parallel safe
begin atomic
    select format(
        $sql$
        with changes as (%1$s),
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
                sum(
                    c.sign * private.rollup_load(
                        c.activity_type, c.moving_time, c.elapsed_time, c.average_heartrate,
                        c.weighted_average_watts, c.average_watts, u.preferences
                    )
                ) as load
            from changes as c
            -- An athlete being deleted has no rollups left to adjust (they cascade away).
            inner join public.users as u on c.user_id = u.id
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
        -- Where the rows left with no activity are: the next statements delete them there.
        select
            array(select w.ctid from weekly as w where w.activity_count = 0),
            array(select d.ctid from daily as d where d.activity_count = 0)
        $sql$,
        p_changes
    );
end;
create or replace function private.rollups_apply_activity_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    changes text;
    weekly_empty tid[];
    daily_empty tid[];
begin
    if tg_op = 'INSERT' then
        perform from new_rows limit 1;
        if not found then
            return null;
        end if;
        changes := format(
            'select 1 as sign, v.* from (%s) as v', private.rollups_versions_sql('new_rows')
        );
    elsif tg_op = 'DELETE' then
        perform from old_rows limit 1;
        if not found then
            return null;
        end if;
        changes := format(
            'select -1 as sign, v.* from (%s) as v', private.rollups_versions_sql('old_rows')
        );
    else
        perform from new_rows limit 1;
        if not found then
            return null;
        end if;
        -- Only versions that changed: a new version equal to its old one (a re-ingested,
        -- renamed or touched activity) is in neither difference.
        changes := format(
            'select 1 as sign, v.* from (%1$s except all %2$s) as v '
            'union all select -1 as sign, v.* from (%2$s except all %1$s) as v',
            private.rollups_versions_sql('new_rows'),
            private.rollups_versions_sql('old_rows')
        );
    end if;
    execute private.rollups_delta_sql(changes) into weekly_empty, daily_empty;
    -- The upserts hold these rows' locks until commit: nobody moved them since.
    if cardinality(weekly_empty) > 0 then
        delete from public.weekly_rollups as r
        where r.ctid = any(weekly_empty) and r.activity_count = 0;
    end if;
    if cardinality(daily_empty) > 0 then
        delete from public.daily_loads as d
        where d.ctid = any(daily_empty) and d.activity_count = 0;
    end if;
    return null;
end;
$$;
comment on function private.rollups_delta_sql(text) is
    'Builds the statement that adds signed activity versions (the query p_changes: a sign '
    'column and the activity columns) to weekly_rollups and daily_loads in one upsert each, '
    'and returns the ctids of the rows of each table it left with no activity (to delete). '
    'Used by the rollup triggers.';
