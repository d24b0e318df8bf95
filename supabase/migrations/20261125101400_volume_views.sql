-- Training volume per user, sport and local calendar week or month. The week and month are
-- those of the athlete's wall clock at the start of each activity (start_date_local), so a
-- Sunday-evening run in Los Angeles counts in that Sunday's week, not in Monday's (UTC).
-- Soft-deleted activities are excluded. Views run as the caller: an athlete sees their own
-- volume, a coach the volume of what the coach may read, an admin everyone's.

create view public.weekly_volume
with (security_invoker = true) as
select
    a.user_id,
    a.activity_type,
    date_trunc('week', a.start_date_local)::date as week_start,
    count(*) as activity_count,
    coalesce(sum(a.distance), 0) as total_distance,
    coalesce(sum(a.moving_time), 0) as total_moving_time,
    coalesce(sum(a.elapsed_time), 0) as total_elapsed_time,
    coalesce(sum(a.elevation_gain), 0) as total_elevation_gain,
    coalesce(sum(a.calories), 0) as total_calories
from public.activities as a
where a.deleted_at is null
group by a.user_id, a.activity_type, date_trunc('week', a.start_date_local)::date;

comment on view public.weekly_volume is
    'Per user, sport and local ISO week (Monday start): activity count, distance (m), moving '
    'and elapsed time (s), elevation gain (m), calories (kcal). Runs as the caller: RLS '
    'applies.';
comment on column public.weekly_volume.week_start is
    'Monday of the local calendar week (ISO 8601) of the activities'' local start.';

create view public.monthly_volume
with (security_invoker = true) as
select
    a.user_id,
    a.activity_type,
    date_trunc('month', a.start_date_local)::date as month_start,
    count(*) as activity_count,
    coalesce(sum(a.distance), 0) as total_distance,
    coalesce(sum(a.moving_time), 0) as total_moving_time,
    coalesce(sum(a.elapsed_time), 0) as total_elapsed_time,
    coalesce(sum(a.elevation_gain), 0) as total_elevation_gain,
    coalesce(sum(a.calories), 0) as total_calories
from public.activities as a
where a.deleted_at is null
group by a.user_id, a.activity_type, date_trunc('month', a.start_date_local)::date;

comment on view public.monthly_volume is
    'Per user, sport and local calendar month: activity count, distance (m), moving and elapsed '
    'time (s), elevation gain (m), calories (kcal). Runs as the caller: RLS applies.';
comment on column public.monthly_volume.month_start is
    'First day of the local calendar month of the activities'' local start.';

revoke all on public.weekly_volume from anon, authenticated;
revoke all on public.monthly_volume from anon, authenticated;
grant select on public.weekly_volume to authenticated, service_role;
grant select on public.monthly_volume to authenticated, service_role;
