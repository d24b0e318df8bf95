-- Volume totals at the grain the statistics return (issue 16).
--
-- public.weekly_volume, monthly_volume and yearly_volume summed public.weekly_rollups, whose
-- grain is (athlete, week, month, sport, provider, shareability): an athlete with several
-- sources and private activities had ~25 rollup rows per week to aggregate where an athlete of
-- one source had 1-2, so the heaviest athlete's year cost 4-7 times the median's.
--
-- public.volume_totals keeps, per athlete, period (ISO week, calendar month, calendar year, all
-- local), sport and scope, the count and sums the views return:
-- - scope "all" (shareable_only false): every counted workout, what the athlete and admins read;
-- - scope "shareable" (shareable_only true): only the shareable ones (not private, not
--   Strava-sourced), what a coach with an active grant reads.
-- One row per returned row: the views select, they no longer aggregate.
--
-- Maintenance: statement-level AFTER triggers on weekly_rollups (insert, update, delete,
-- truncate) add the signed differences of the rollup rows a statement wrote to the totals of
-- their week, month and year, in one upsert, and drop totals left with no workout and every sum
-- zero. Every writer of weekly_rollups (the activities' delta statement, the recomputation, the
-- loads' recomputation, public.rebuild_rollups) is followed without knowing about it. Sums are
-- numeric as in weekly_rollups: incremental totals equal aggregates of the rollups exactly.
--
-- The views are a UNION ALL of two branches over volume_totals:
-- 1. the "all" rows: RLS lets only the athlete and admins read them;
-- 2. the "shareable" rows of the athletes the caller coaches, gated by `not is_admin()` (a
--    One-Time Filter) and `user_id = any(readable ids minus the caller)` (an index key: for an
--    athlete reading their own totals the array is empty or lacks the filtered id, and the
--    index scan returns without reading a page).

create table public.volume_totals (
    user_id uuid not null references public.users (id) on delete cascade,
    shareable_only boolean not null,
    period text not null,
    period_start date not null,
    activity_type public.activity_type not null,
    activity_count integer not null,
    distance numeric not null,
    moving_time bigint not null,
    elapsed_time bigint not null,
    elevation_gain numeric not null,
    calories numeric not null,
    load numeric not null,
    constraint volume_totals_pkey primary key (
        user_id, shareable_only, period, period_start, activity_type
    ),
    constraint volume_totals_period check (period in ('week', 'month', 'year')),
    constraint volume_totals_period_start check (
        (period = 'week' and extract(isodow from period_start) = 1)
        or (period = 'month' and period_start = date_trunc('month', period_start)::date)
        or (period = 'year' and period_start = date_trunc('year', period_start)::date)
    )
);

alter table public.volume_totals set (fillfactor = 75);

comment on table public.volume_totals is
    'Per athlete, local period (ISO week, calendar month, calendar year), sport and scope: how '
    'many workouts and their summed metrics, i.e. exactly the rows of weekly_volume, '
    'monthly_volume and yearly_volume. Sums of weekly_rollups, maintained by triggers on it '
    '(never written by the API). RLS: the athlete and admins read every row, a coach with an '
    'active grant only the shareable_only rows.';

comment on column public.volume_totals.shareable_only is
    'False: every counted workout (what the athlete and admins read). True: only the shareable '
    'ones, neither private nor Strava-sourced (what a coach reads).';

comment on column public.volume_totals.period is 'week, month or year (local calendar).';

comment on column public.volume_totals.period_start is
    'Monday of the ISO week, first day of the month or January 1st of the year.';

comment on column public.volume_totals.activity_type is 'The sport (type activity_type).';

comment on column public.volume_totals.activity_count is
    'Workouts counted (primary, not deleted activities).';

comment on column public.volume_totals.distance is 'Summed distance in m (unknown counts 0).';

comment on column public.volume_totals.moving_time is 'Summed moving time in s.';

comment on column public.volume_totals.elapsed_time is 'Summed elapsed time in s.';

comment on column public.volume_totals.elevation_gain is 'Summed ascent in m.';

comment on column public.volume_totals.calories is 'Summed energy in kcal.';

comment on column public.volume_totals.load is
    'Summed training load (as weekly_rollups.load).';

alter table public.volume_totals enable row level security;

revoke all on table public.volume_totals from anon, authenticated, service_role;

grant select on table public.volume_totals to authenticated, service_role;

create policy volume_totals_select on public.volume_totals
for select to authenticated
using (
    user_id = (select auth.uid())
    or (
        array[user_id] && array_remove(
            array(select private.readable_user_ids()), (select auth.uid())
        )
        and (shareable_only or (select private.is_admin()))
    )
);

comment on policy volume_totals_select on public.volume_totals is
    'An athlete reads their own totals; a coach with an active grant reads the athlete''s '
    'shareable_only rows (no private, no Strava-sourced workout in them); an admin reads all. '
    'The caller''s own rows pass the first arm, so a read of one''s own totals never runs the '
    'helper.';

-- Maintenance ------------------------------------------------------------------------------------

create function private.volume_totals_apply_rollup_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_changes text;
    v_empty tid[];
begin
    if tg_op = 'TRUNCATE' then
        truncate public.volume_totals;
        return null;
    elsif tg_op = 'INSERT' then
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
            -- an unchanged total (a rewritten rollup row with the same sums) is not touched
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
        select array(select x.ctid from upserted as x where x.activity_count = 0)
        $sql$,
        v_changes
    ) into v_empty;
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
    'old_rows/new_rows; truncate): adds the signed rollup rows the statement wrote to the '
    'totals of their week, month and year (scope all, and scope shareable for shareable rows) '
    'in one upsert, then drops totals left with no workout and every sum zero. Security '
    'definer: the writers of the rollups run as whoever wrote activities.';

revoke all on function private.volume_totals_apply_rollup_changes()
from public, anon, authenticated;

create trigger weekly_rollups_volume_totals_insert
after insert on public.weekly_rollups
referencing new table as new_rows
for each statement execute function private.volume_totals_apply_rollup_changes();

create trigger weekly_rollups_volume_totals_update
after update on public.weekly_rollups
referencing old table as old_rows new table as new_rows
for each statement execute function private.volume_totals_apply_rollup_changes();

create trigger weekly_rollups_volume_totals_delete
after delete on public.weekly_rollups
referencing old table as old_rows
for each statement execute function private.volume_totals_apply_rollup_changes();

create trigger weekly_rollups_volume_totals_truncate
after truncate on public.weekly_rollups
for each statement execute function private.volume_totals_apply_rollup_changes();

-- The totals of the rollups already there.
insert into public.volume_totals (
    user_id, shareable_only, period, period_start, activity_type, activity_count, distance,
    moving_time, elapsed_time, elevation_gain, calories, load
)
select
    r.user_id,
    s.shareable_only,
    p.period,
    p.period_start,
    r.activity_type,
    sum(r.activity_count) as activity_count,
    sum(r.distance) as distance,
    sum(r.moving_time) as moving_time,
    sum(r.elapsed_time) as elapsed_time,
    sum(r.elevation_gain) as elevation_gain,
    sum(r.calories) as calories,
    sum(r.load) as load
from public.weekly_rollups as r
cross join lateral (
    values ('week', r.week_start), ('month', r.month_start), ('year', r.year_start)
) as p (period, period_start)
cross join (values (false), (true)) as s (shareable_only)
where r.shareable or not s.shareable_only
group by r.user_id, s.shareable_only, p.period, p.period_start, r.activity_type;

-- Views ----------------------------------------------------------------------------------------
-- Same columns and types as before (sum(integer) was bigint, the numeric sums were cast).

create or replace view public.weekly_volume
with (security_invoker = true) as
select
    t.user_id,
    t.activity_type,
    t.period_start as week_start,
    t.activity_count::bigint as activity_count,
    t.distance::double precision as total_distance,
    t.moving_time as total_moving_time,
    t.elapsed_time as total_elapsed_time,
    t.elevation_gain::real as total_elevation_gain,
    t.calories::real as total_calories,
    t.load::double precision as total_load
from public.volume_totals as t
where t.period = 'week' and not t.shareable_only
union all
select
    t.user_id,
    t.activity_type,
    t.period_start as week_start,
    t.activity_count::bigint as activity_count,
    t.distance::double precision as total_distance,
    t.moving_time as total_moving_time,
    t.elapsed_time as total_elapsed_time,
    t.elevation_gain::real as total_elevation_gain,
    t.calories::real as total_calories,
    t.load::double precision as total_load
from public.volume_totals as t
where
    t.period = 'week'
    and t.shareable_only
    and not (select private.is_admin())
    -- one initPlan parameter (array_remove is not leakproof, a parameter is): an index key
    and t.user_id = any(
        (
            select array_remove(array(select private.readable_user_ids()), (select auth.uid()))
        )::uuid[]
    );

comment on view public.weekly_volume is
    'Per user, sport and local ISO week: workouts (each counted once), distance (m), moving and '
    'elapsed time (s), elevation gain (m), calories (kcal), training load. Read from '
    'volume_totals, one row per returned row. Runs as the caller: the athlete and admins read '
    'every workout''s totals (first branch), a coach with an active grant the totals of the '
    'shareable workouts only (second branch).';

create or replace view public.monthly_volume
with (security_invoker = true) as
select
    t.user_id,
    t.activity_type,
    t.period_start as month_start,
    t.activity_count::bigint as activity_count,
    t.distance::double precision as total_distance,
    t.moving_time as total_moving_time,
    t.elapsed_time as total_elapsed_time,
    t.elevation_gain::real as total_elevation_gain,
    t.calories::real as total_calories,
    t.load::double precision as total_load
from public.volume_totals as t
where t.period = 'month' and not t.shareable_only
union all
select
    t.user_id,
    t.activity_type,
    t.period_start as month_start,
    t.activity_count::bigint as activity_count,
    t.distance::double precision as total_distance,
    t.moving_time as total_moving_time,
    t.elapsed_time as total_elapsed_time,
    t.elevation_gain::real as total_elevation_gain,
    t.calories::real as total_calories,
    t.load::double precision as total_load
from public.volume_totals as t
where
    t.period = 'month'
    and t.shareable_only
    and not (select private.is_admin())
    -- one initPlan parameter (array_remove is not leakproof, a parameter is): an index key
    and t.user_id = any(
        (
            select array_remove(array(select private.readable_user_ids()), (select auth.uid()))
        )::uuid[]
    );

comment on view public.monthly_volume is
    'Per user, sport and local calendar month: workouts (each counted once), distance (m), '
    'moving and elapsed time (s), elevation gain (m), calories (kcal), training load. Read from '
    'volume_totals, one row per returned row. Runs as the caller: the athlete and admins read '
    'every workout''s totals, a coach with an active grant the shareable workouts'' only.';

create or replace view public.yearly_volume
with (security_invoker = true) as
select
    t.user_id,
    t.activity_type,
    t.period_start as year_start,
    t.activity_count::bigint as activity_count,
    t.distance::double precision as total_distance,
    t.moving_time as total_moving_time,
    t.elapsed_time as total_elapsed_time,
    t.elevation_gain::real as total_elevation_gain,
    t.calories::real as total_calories,
    t.load::double precision as total_load
from public.volume_totals as t
where t.period = 'year' and not t.shareable_only
union all
select
    t.user_id,
    t.activity_type,
    t.period_start as year_start,
    t.activity_count::bigint as activity_count,
    t.distance::double precision as total_distance,
    t.moving_time as total_moving_time,
    t.elapsed_time as total_elapsed_time,
    t.elevation_gain::real as total_elevation_gain,
    t.calories::real as total_calories,
    t.load::double precision as total_load
from public.volume_totals as t
where
    t.period = 'year'
    and t.shareable_only
    and not (select private.is_admin())
    -- one initPlan parameter (array_remove is not leakproof, a parameter is): an index key
    and t.user_id = any(
        (
            select array_remove(array(select private.readable_user_ids()), (select auth.uid()))
        )::uuid[]
    );

comment on view public.yearly_volume is
    'Per user, sport and local calendar year: workouts (each counted once), distance (m), '
    'moving and elapsed time (s), elevation gain (m), calories (kcal), training load. Read from '
    'volume_totals, one row per returned row. Runs as the caller: the athlete and admins read '
    'every workout''s totals, a coach with an active grant the shareable workouts'' only.';
