-- Rollups: per-athlete weekly volume and daily training load, kept current as activities
-- arrive, change or disappear, so that statistics never scan an athlete's whole history.
--
-- Two tables, both in the athlete's LOCAL calendar (activities.start_date_local):
-- - public.weekly_rollups: per athlete, ISO week, sport, provider and shareability, the count
--   and sums of what statistics show (distance, times, elevation, calories, training load);
-- - public.daily_loads: per athlete, day and shareability, the day's training load and count
--   (the input of public.training_load_series).
--
-- What is counted: each workout once (activities.primary_activity_id is null, i.e. the primary
-- copy of a group of duplicates, or a standalone activity) and never a soft-deleted row
-- (deleted_at is null). The load of an activity is private.activity_training_load of its
-- metrics and the athlete's preferences (FTP, heart rates, ...).
--
-- Coaches: every rollup row says whether all of its activities are `shareable` (not private,
-- not Strava-sourced: what a coach may read row by row in public.activities). A coach reads
-- only the shareable rows of the athletes who granted access, so totals never leak private or
-- Strava-sourced activities; the athlete and admins read every row.
--
-- Maintenance is incremental: statement-level AFTER triggers with transition tables on
-- public.activities turn the rows a statement inserted, updated or deleted into signed deltas
-- (+ the new version if it counts, - the old version if it counted), grouped per rollup row and
-- added with one upsert per table; rows that fall to zero activities are deleted. Whatever path
-- writes activities (ingest, file import, manual entry, duplicate regrouping, soft delete), the
-- rollups follow in the same transaction. Sums are numeric, so the incremental result is exactly
-- the result of a rebuild. A change of users.preferences recomputes that athlete's rollups (their
-- loads depend on it). public.rebuild_rollups rebuilds from scratch (service_role).

-- Tables -------------------------------------------------------------------------------------

create table public.weekly_rollups (
    user_id uuid not null references public.users (id) on delete cascade,
    week_start date not null,
    month_start date not null,
    activity_type public.activity_type not null,
    provider public.provider_type,
    shareable boolean not null,
    activity_count integer not null,
    distance numeric not null,
    moving_time bigint not null,
    elapsed_time bigint not null,
    elevation_gain numeric not null,
    calories numeric not null,
    load numeric not null,
    constraint weekly_rollups_key unique nulls not distinct (
        user_id, week_start, month_start, activity_type, provider, shareable
    ),
    -- No check on the sums: an upsert checks the proposed row, which carries a negative delta.
    constraint weekly_rollups_week_is_monday check (extract(isodow from week_start) = 1),
    constraint weekly_rollups_month_overlaps_week check (
        month_start = date_trunc('month', month_start)::date
        and month_start <= week_start + 6
        and month_start + interval '1 month' > week_start
    )
);

alter table public.weekly_rollups set (fillfactor = 75);

alter table public.weekly_rollups
add constraint weekly_rollups_distance_finite check (
    distance > '-Infinity' and distance < 'Infinity'
),
add constraint weekly_rollups_elevation_gain_finite check (
    elevation_gain > '-Infinity' and elevation_gain < 'Infinity'
),
add constraint weekly_rollups_calories_finite check (
    calories > '-Infinity' and calories < 'Infinity'
),
add constraint weekly_rollups_load_finite check (load > '-Infinity' and load < 'Infinity');

comment on table public.weekly_rollups is
    'Per athlete, local ISO week (split at month boundaries), sport, provider and '
    'shareability: how many workouts and '
    'their summed metrics. Counts each workout once (primary copies only) and no soft-deleted '
    'activity. Maintained incrementally by triggers on activities (never written by the API); '
    'public.rebuild_rollups rebuilds it. RLS: the athlete and admins read every row, a coach '
    'with an active grant only the shareable rows.';

comment on column public.weekly_rollups.week_start is
    'Monday of the local ISO week (of activities.start_date_local).';

comment on column public.weekly_rollups.month_start is
    'First day of the local calendar month. A week that straddles two months is kept as two '
    'rows (one per month), so that monthly and yearly totals are exact sums of rollup rows.';

comment on column public.weekly_rollups.activity_type is 'The sport (type activity_type).';

comment on column public.weekly_rollups.provider is
    'The provider the counted activities came from; null for manual entries and imported files.';

comment on column public.weekly_rollups.shareable is
    'True when the row''s activities are neither private nor Strava-sourced, i.e. what a coach '
    'may read row by row; the athlete''s other activities are summed in rows where it is false.';

comment on column public.weekly_rollups.activity_count is
    'Workouts counted (primary, not deleted activities).';

comment on column public.weekly_rollups.distance is 'Summed distance in m (unknown counts 0).';

comment on column public.weekly_rollups.moving_time is 'Summed moving time in s.';

comment on column public.weekly_rollups.elapsed_time is 'Summed elapsed time in s.';

comment on column public.weekly_rollups.elevation_gain is 'Summed ascent in m.';

comment on column public.weekly_rollups.calories is 'Summed energy in kcal.';

comment on column public.weekly_rollups.load is
    'Summed training load (private.activity_training_load under the athlete''s current '
    'preferences; TSS-like units).';

create table public.daily_loads (
    user_id uuid not null references public.users (id) on delete cascade,
    day date not null,
    shareable boolean not null,
    load numeric not null,
    activity_count integer not null,
    primary key (user_id, day, shareable)
);

alter table public.daily_loads set (fillfactor = 75);

alter table public.daily_loads
add constraint daily_loads_load_finite check (load > '-Infinity' and load < 'Infinity');

comment on table public.daily_loads is
    'Per athlete, local day and shareability: the day''s training load and workout count '
    '(primary, not deleted activities). A day has up to two rows (shareable or not): sum them '
    'per day; a coach reads only the shareable one. Input of public.training_load_series. '
    'Maintained incrementally by triggers on activities; rebuilt by public.rebuild_rollups.';

comment on column public.daily_loads.day is 'Local calendar day (of activities.start_date_local).';

comment on column public.daily_loads.shareable is
    'True when the row''s activities are neither private nor Strava-sourced (what a coach may '
    'read row by row).';

comment on column public.daily_loads.load is
    'Summed training load of the day''s activities (private.activity_training_load under the '
    'athlete''s current preferences).';

comment on column public.daily_loads.activity_count is 'Workouts counted that day.';

alter table public.weekly_rollups enable row level security;

alter table public.daily_loads enable row level security;

-- Nobody writes rollups but their maintenance functions, not even the workers' service_role.
revoke all on table public.weekly_rollups from anon, authenticated, service_role;

revoke all on table public.daily_loads from anon, authenticated, service_role;

grant select on table public.weekly_rollups to authenticated, service_role;

grant select on table public.daily_loads to authenticated, service_role;

-- The shape of activities_select: readable_user_ids() runs once (an initPlan) and keeps the
-- (user_id, ...) key usable; the per-row part only narrows what coaches see.
create policy weekly_rollups_select on public.weekly_rollups
for select to authenticated
using (
    user_id = (select auth.uid())
    or (
        array[user_id] && array_remove(
            array(select private.readable_user_ids()), (select auth.uid())
        )
        and (shareable or (select private.is_admin()))
    )
);

comment on policy weekly_rollups_select on public.weekly_rollups is
    'An athlete reads their own rollups; a coach with an active grant reads the athlete''s '
    'shareable rows only (no private, no Strava-sourced activity in them); an admin reads all. '
    'The caller''s own rows pass the first arm, so a query filtered by the caller''s user_id '
    'never runs the helper.';

create policy daily_loads_select on public.daily_loads
for select to authenticated
using (
    user_id = (select auth.uid())
    or (
        array[user_id] && array_remove(
            array(select private.readable_user_ids()), (select auth.uid())
        )
        and (shareable or (select private.is_admin()))
    )
);

comment on policy daily_loads_select on public.daily_loads is
    'An athlete reads their own daily loads; a coach with an active grant reads the athlete''s '
    'shareable rows only; an admin reads all. The caller''s own rows pass the first arm, so a '
    'query filtered by the caller''s user_id never runs the helper.';

-- Per-activity load ----------------------------------------------------------------------------

create function private.rollup_load(
    p_activity_type public.activity_type,
    p_moving_time integer,
    p_elapsed_time integer,
    p_average_heartrate real,
    p_weighted_average_watts real,
    p_average_watts real,
    p_preferences jsonb
)
returns numeric
language sql
immutable
parallel safe
-- A SQL-standard body: bound at creation, inlined into the rollup queries.
begin atomic
    select coalesce(
        (
            private.activity_training_load(
                p_activity_type,
                p_moving_time,
                p_elapsed_time,
                p_average_heartrate,
                p_weighted_average_watts,
                p_average_watts,
                p_preferences
            )
        ).load::numeric,
        0
    );
end;

comment on function private.rollup_load(
    public.activity_type, integer, integer, real, real, real, jsonb
) is
    'The training load one activity adds to the rollups: private.activity_training_load of its '
    'metrics and the athlete''s preferences, as numeric (exact sums), 0 when unknown.';

revoke all on function private.rollup_load(
    public.activity_type, integer, integer, real, real, real, jsonb
) from public, anon, authenticated;

create function private.rollups_delta_sql(p_changes text)
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

revoke all on function private.rollups_delta_sql(text) from public, anon, authenticated;

comment on function private.rollups_delta_sql(text) is
    'Builds the statement that adds signed activity versions (the query p_changes: a sign '
    'column and the activity columns) to weekly_rollups and daily_loads in one upsert each, '
    'and returns the ctids of the rows of each table it left with no activity (to delete). '
    'Used by the rollup triggers.';

create function private.rollups_apply_activity_changes()
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

comment on function private.rollups_apply_activity_changes() is
    'Statement-level AFTER trigger on activities (insert, update, delete; transition tables '
    'old_rows/new_rows): adds the new versions that count and subtracts the old versions that '
    'counted (primary, not deleted), only for rows whose rollup inputs changed, then drops '
    'rollup rows left with no activity. Security definer: whoever writes activities (an '
    'athlete''s manual entry, a worker) has no right to write the rollups.';

revoke all on function private.rollups_apply_activity_changes() from public, anon, authenticated;

-- Recomputing ----------------------------------------------------------------------------------

create function private.rollups_recompute(p_user_ids uuid[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    if p_user_ids is null then
        truncate public.weekly_rollups, public.daily_loads;
    else
        delete from public.weekly_rollups as r where r.user_id = any(p_user_ids);
        delete from public.daily_loads as d where d.user_id = any(p_user_ids);
    end if;
    with contributions as (
        select
            a.user_id,
            a.start_date_local::date as day,
            a.activity_type,
            a.provider,
            (not a.is_private and a.provider is distinct from 'strava') as shareable,
            count(*)::integer as activity_count,
            sum(coalesce(a.distance::numeric, 0)) as distance,
            sum(coalesce(a.moving_time, 0))::bigint as moving_time,
            sum(coalesce(a.elapsed_time, 0))::bigint as elapsed_time,
            sum(coalesce(a.elevation_gain::numeric, 0)) as elevation_gain,
            sum(coalesce(a.calories::numeric, 0)) as calories,
            sum(
                private.rollup_load(
                    a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
                    a.weighted_average_watts, a.average_watts, u.preferences
                )
            ) as load
        from public.activities as a
        inner join public.users as u on a.user_id = u.id
        where
            a.deleted_at is null
            and a.primary_activity_id is null
            and (p_user_ids is null or a.user_id = any(p_user_ids))
        group by 1, 2, 3, 4, 5
    ),
    weekly as (
        insert into public.weekly_rollups (
            user_id, week_start, month_start, activity_type, provider, shareable,
            activity_count, distance, moving_time, elapsed_time, elevation_gain, calories, load
        )
        select
            c.user_id, date_trunc('week', c.day)::date, date_trunc('month', c.day)::date,
            c.activity_type, c.provider, c.shareable, sum(c.activity_count), sum(c.distance),
            sum(c.moving_time), sum(c.elapsed_time), sum(c.elevation_gain), sum(c.calories),
            sum(c.load)
        from contributions as c
        group by 1, 2, 3, 4, 5, 6
    )
    insert into public.daily_loads (user_id, day, shareable, load, activity_count)
    select c.user_id, c.day, c.shareable, sum(c.load), sum(c.activity_count)
    from contributions as c
    group by 1, 2, 3;
end;
$$;

comment on function private.rollups_recompute(uuid[]) is
    'Recomputes weekly_rollups and daily_loads from activities for the given athletes (null: '
    'everyone, after emptying both tables). Security definer: called by the preferences '
    'trigger, which fires for an athlete editing their own profile, who may not write rollups.';

revoke all on function private.rollups_recompute(uuid[]) from public, anon, authenticated;

grant execute on function private.rollups_recompute(uuid[]) to service_role;

create function private.rollups_apply_preference_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    changed uuid[];
begin
    changed := array(
        select n.id
        from new_rows as n
        inner join old_rows as o on n.id = o.id
        where n.preferences is distinct from o.preferences
    );
    if cardinality(changed) > 0 then
        perform private.rollups_recompute(changed);
    end if;
    return null;
end;
$$;

comment on function private.rollups_apply_preference_changes() is
    'Statement-level AFTER UPDATE trigger on users: the training load of an activity depends '
    'on the athlete''s preferences (FTP, heart rates), so a change of preferences recomputes '
    'that athlete''s rollups. Security definer: the athlete editing their profile may not '
    'write rollups.';

revoke all on function private.rollups_apply_preference_changes()
from public, anon, authenticated;

create function public.rebuild_rollups(p_user_id uuid default null)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    -- Writers of activities wait until the rebuild commits: their triggers' deltas must not
    -- land between the recomputation's snapshot and its writes.
    lock table public.activities in share mode;
    perform private.rollups_recompute(
        case when p_user_id is not null then array[p_user_id] end
    );
end;
$$;

comment on function public.rebuild_rollups(uuid) is
    'Rebuilds weekly_rollups and daily_loads from activities: one athlete, or everyone when '
    'p_user_id is null (after a bulk load with triggers disabled, or to check the incremental '
    'maintenance). Holds a SHARE lock on activities until commit, so concurrent writes wait '
    'instead of slipping between the recomputation and its writes. Service role only.';

revoke all on function public.rebuild_rollups(uuid) from public, anon, authenticated;

grant execute on function public.rebuild_rollups(uuid) to service_role;

-- Triggers ---------------------------------------------------------------------------------------
-- Transition tables allow one event per trigger, and no column list: three triggers, and the
-- update trigger itself skips rows whose rollup inputs did not change.

create trigger activities_rollups_insert
after insert on public.activities
referencing new table as new_rows
for each statement execute function private.rollups_apply_activity_changes();

create trigger activities_rollups_update
after update on public.activities
referencing old table as old_rows new table as new_rows
for each statement execute function private.rollups_apply_activity_changes();

create trigger activities_rollups_delete
after delete on public.activities
referencing old table as old_rows
for each statement execute function private.rollups_apply_activity_changes();

create trigger users_rollups_preferences
after update on public.users
referencing old table as old_rows new table as new_rows
for each statement execute function private.rollups_apply_preference_changes();

-- Rollups ---------------------------------------------------------------------------------------

-- The activity versions that count in the rollups (primary, not deleted), with the columns the
-- rollups read; the id keeps two equal activities apart in the set differences below.
create function private.rollups_versions_sql(p_rows text)
returns text
language sql
immutable
parallel safe
begin atomic
    select format(
        'select t.id, t.user_id, t.start_date_local, t.activity_type, t.provider, '
        't.is_private, t.distance, t.moving_time, t.elapsed_time, t.elevation_gain, '
        't.calories, t.average_heartrate, t.weighted_average_watts, t.average_watts '
        'from %1$s as t '
        'where t.deleted_at is null and t.primary_activity_id is null',
        p_rows
    );
end;

comment on function private.rollups_versions_sql(text) is
    'Builds the query of the activity versions of the relation p_rows (a transition table) '
    'that count in the rollups (primary, not deleted), with the columns the rollups read.';

revoke all on function private.rollups_versions_sql(text) from public, anon, authenticated;

create index weekly_rollups_user_id_array on public.weekly_rollups using gin ((array[user_id]));

comment on index public.weekly_rollups_user_id_array is
    'Serves the second arm of weekly_rollups_select (array[user_id] && the readable ids) when a '
    'query does not filter by user_id.';

create index daily_loads_user_id_array on public.daily_loads using gin ((array[user_id]));

comment on index public.daily_loads_user_id_array is
    'Serves the second arm of daily_loads_select (array[user_id] && the readable ids) when a '
    'query does not filter by user_id.';
