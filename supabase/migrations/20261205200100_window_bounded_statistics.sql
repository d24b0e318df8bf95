-- Statistics read their window, not the athlete's history (issue 16).
--
-- public.weekly_volume filtered by week_start uses weekly_rollups_key (user_id, week_start, ...),
-- but three other athlete screens filtered a grouped column that no index served, so they read
-- every rollup row or workout of the athlete:
-- - monthly_volume and provider_volume (month_start): an index on (user_id, month_start);
-- - yearly_volume (year_start was date_trunc('year', month_start)) and weekly_compliance
--   (week_start was date_trunc('week', planned_date::timestamp)): a filter on an expression
--   column cannot become an index condition under RLS, because date_trunc is not leakproof and
--   the caller's quals may not run before the policy's. Both now group by a stored generated
--   column (weekly_rollups.year_start, workouts.planned_week), so the view's filter is a plain
--   date comparison (leakproof) on an indexed column.

create index weekly_rollups_user_month_idx on public.weekly_rollups (user_id, month_start);
comment on index public.weekly_rollups_user_month_idx is
    'Serves monthly_volume and provider_volume filtered by user_id and month_start (the '
    'window''s rows only); see migration 20261205200100.';

alter table public.weekly_rollups
add column year_start date generated always as (
    date_trunc('year', month_start::timestamp)::date
) stored;
comment on column public.weekly_rollups.year_start is
    'January 1st of month_start''s year (generated): the key yearly_volume groups and filters '
    'by.';
create index weekly_rollups_user_year_idx on public.weekly_rollups (user_id, year_start);
comment on index public.weekly_rollups_user_year_idx is
    'Serves yearly_volume filtered by user_id and year_start (the window''s rows only); see '
    'migration 20261205200100.';

alter table public.workouts
add column planned_week date generated always as (
    date_trunc('week', planned_date::timestamp)::date
) stored;
comment on column public.workouts.planned_week is
    'Monday of planned_date''s ISO week (generated): the key weekly_compliance groups and '
    'filters by.';
create index workouts_user_week_idx on public.workouts (user_id, planned_week);
comment on index public.workouts_user_week_idx is
    'Serves weekly_compliance filtered by user_id and week_start (the window''s workouts only); '
    'see migration 20261205200100.';

create or replace view public.yearly_volume
with (security_invoker = true) as
select
    r.user_id,
    r.activity_type,
    r.year_start,
    sum(r.activity_count)::bigint as activity_count,
    sum(r.distance)::double precision as total_distance,
    sum(r.moving_time)::bigint as total_moving_time,
    sum(r.elapsed_time)::bigint as total_elapsed_time,
    sum(r.elevation_gain)::real as total_elevation_gain,
    sum(r.calories)::real as total_calories,
    sum(r.load)::double precision as total_load
from public.weekly_rollups as r
group by r.user_id, r.activity_type, r.year_start;

comment on view public.yearly_volume is
    'Per user, sport and local calendar year: workouts (each counted once), distance (m), '
    'moving and elapsed time (s), elevation gain (m), calories (kcal), training load. Runs as '
    'the caller: RLS applies. A filter on user_id and year_start reads that window''s rollup '
    'rows only (index weekly_rollups_user_year_idx).';

create or replace view public.weekly_compliance
with (security_invoker = true) as
select
    w.user_id,
    w.planned_week as week_start,
    count(*) as planned_count,
    count(a.id) as completed_count,
    coalesce(sum(w.planned_duration), 0) as planned_duration,
    coalesce(sum(coalesce(a.moving_time, a.elapsed_time)), 0) as completed_duration,
    coalesce(sum(w.planned_distance), 0) as planned_distance,
    coalesce(sum(a.distance), 0) as completed_distance,
    coalesce(sum(w.planned_load), 0) as planned_load,
    coalesce(
        sum(
            (
                private.activity_training_load(
                    a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
                    a.weighted_average_watts, a.average_watts, u.preferences
                )
            ).load
        ),
        0
    ) as completed_load,
    round(count(a.id)::numeric / count(*), 4) as completion_rate
from public.workouts as w
left join public.activities as a
    on w.completed_activity_id = a.id and a.deleted_at is null
left join public.users as u on a.user_id = u.id
group by w.user_id, w.planned_week;

comment on view public.weekly_compliance is
    'Planned vs completed per athlete and local ISO week (of planned_date): planned and '
    'completed workout counts, durations (s), distances (m) and loads (training stress score '
    'units), completion_rate = completed_count / planned_count. A workout is completed when its '
    'completed_activity_id names a live activity the caller may read (set by hand or by '
    'public.match_workouts); completed figures are that activity''s. Runs as the caller: a '
    'coach counts as completed only workouts fulfilled by activities the coach may read. '
    'A filter on user_id and week_start reads that window''s workouts only (index '
    'workouts_user_week_idx).';
