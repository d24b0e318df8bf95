-- Statistics views over the rollups, and recurring sync errors.
--
-- weekly_volume and monthly_volume keep their names and columns (the seed queries, the CLI and
-- the tests use them) but now read public.weekly_rollups instead of scanning activities: each
-- workout counts once (primary copies), soft-deleted rows never count, and the calendar is the
-- athlete's local one. yearly_volume and provider_volume are new. All run as the caller
-- (security_invoker), so the rollups' RLS applies: an athlete sees their own totals, a coach
-- the totals of the shareable activities of the athletes who granted access, an admin all.

create view public.yearly_volume
with (security_invoker = true) as
select
    r.user_id,
    r.activity_type,
    date_trunc('year', r.month_start)::date as year_start,
    sum(r.activity_count)::bigint as activity_count,
    sum(r.distance)::double precision as total_distance,
    sum(r.moving_time)::bigint as total_moving_time,
    sum(r.elapsed_time)::bigint as total_elapsed_time,
    sum(r.elevation_gain)::real as total_elevation_gain,
    sum(r.calories)::real as total_calories,
    sum(r.load)::double precision as total_load
from public.weekly_rollups as r
group by r.user_id, r.activity_type, date_trunc('year', r.month_start)::date;

comment on view public.yearly_volume is
    'Per user, sport and local calendar year: workouts (each counted once), distance (m), '
    'moving and elapsed time (s), elevation gain (m), calories (kcal), training load. Runs as '
    'the caller: RLS applies.';

comment on column public.yearly_volume.year_start is 'January 1st of the local calendar year.';

comment on column public.yearly_volume.total_load is
    'Summed training load (private.activity_training_load).';

revoke all on public.yearly_volume from anon, authenticated;

grant select on public.yearly_volume to authenticated, service_role;

create view public.provider_volume
with (security_invoker = true) as
select
    r.user_id,
    r.provider,
    r.month_start,
    sum(r.activity_count)::bigint as activity_count,
    sum(r.distance)::double precision as total_distance,
    sum(r.moving_time)::bigint as total_moving_time,
    sum(r.elapsed_time)::bigint as total_elapsed_time,
    sum(r.load)::double precision as total_load
from public.weekly_rollups as r
group by r.user_id, r.provider, r.month_start;

comment on view public.provider_volume is
    'Per user, provider and local calendar month: the workouts each source contributed, each '
    'workout counted once under the provider of its primary copy (provider null: manual '
    'entries and imported files). Runs as the caller: RLS applies (a coach never sees Strava '
    'rows).';

comment on column public.provider_volume.month_start is
    'First day of the local calendar month.';

comment on column public.provider_volume.total_load is 'Summed training load.';

revoke all on public.provider_volume from anon, authenticated;

grant select on public.provider_volume to authenticated, service_role;

-- Recurring sync errors -------------------------------------------------------------------------

create view public.recurring_sync_errors
with (security_invoker = true) as
with last_good_run as (
    select
        h.connection_id,
        max(h.sync_started_at) as started_at
    from public.sync_history as h
    where h.sync_status in ('success', 'partial')
    group by h.connection_id
),

failing_streaks as (
    select
        h.connection_id,
        h.user_id,
        count(*) as failures,
        min(h.sync_started_at) as first_failure_at,
        max(h.sync_started_at) as last_failure_at,
        (array_agg(h.error_message order by h.sync_started_at desc, h.id desc))[1]
            as error_message
    from public.sync_history as h
    left join last_good_run as g on h.connection_id = g.connection_id
    where
        h.sync_status = 'failed'
        and h.sync_started_at > coalesce(g.started_at, '-infinity')
    group by h.connection_id, h.user_id
    having count(*) >= 3
),

shared_errors as (
    select
        pc.provider,
        h.error_message,
        count(*) as failures,
        count(distinct h.connection_id) as connections,
        min(h.sync_started_at) as first_failure_at,
        max(h.sync_started_at) as last_failure_at
    from public.sync_history as h
    inner join public.provider_connections as pc on h.connection_id = pc.id
    where
        h.sync_status = 'failed'
        and h.error_message is not null
        and h.sync_started_at >= now() - interval '7 days'
    group by pc.provider, h.error_message
    having count(distinct h.connection_id) >= 2
)

select
    'failing_connection' as kind,
    pc.provider,
    s.connection_id,
    s.user_id,
    s.error_message,
    s.failures,
    1::bigint as connections,
    s.first_failure_at,
    s.last_failure_at
from failing_streaks as s
inner join public.provider_connections as pc on s.connection_id = pc.id
union all
select
    'shared_error' as kind,
    e.provider,
    null::bigint as connection_id,
    null::uuid as user_id,
    e.error_message,
    e.failures,
    e.connections,
    e.first_failure_at,
    e.last_failure_at
from shared_errors as e;

comment on view public.recurring_sync_errors is
    'Sync failures that recur. kind failing_connection: a connection whose last 3 or more '
    'finished runs all failed (the streak since its last success or partial run), with the '
    'latest error. kind shared_error: the same error message in failed runs of 2 or more '
    'connections of one provider within the last 7 days (a provider outage or an integration '
    'bug rather than one account''s problem). Runs as the caller: an athlete sees their own '
    'connections, an admin everyone''s.';

comment on column public.recurring_sync_errors.kind is
    'failing_connection (one connection failing run after run) or shared_error (one error '
    'across connections).';

comment on column public.recurring_sync_errors.connection_id is
    'The failing connection (failing_connection); null for shared_error.';

comment on column public.recurring_sync_errors.user_id is
    'The connection''s athlete (failing_connection); null for shared_error.';

comment on column public.recurring_sync_errors.error_message is
    'The latest error of the streak, or the error shared across connections.';

comment on column public.recurring_sync_errors.failures is
    'Failed runs in a row (failing_connection) or failed runs with that error in the last 7 '
    'days (shared_error).';

comment on column public.recurring_sync_errors.connections is
    'Connections concerned (1 for failing_connection).';

comment on column public.recurring_sync_errors.first_failure_at is
    'Start of the first failed run counted.';

comment on column public.recurring_sync_errors.last_failure_at is
    'Start of the latest failed run counted.';

revoke all on public.recurring_sync_errors from anon, authenticated;

grant select on public.recurring_sync_errors to authenticated, service_role;

create view public.weekly_volume
with (security_invoker = true) as
select
    r.user_id,
    r.activity_type,
    r.week_start,
    sum(r.activity_count)::bigint as activity_count,
    sum(r.distance)::double precision as total_distance,
    sum(r.moving_time)::bigint as total_moving_time,
    sum(r.elapsed_time)::bigint as total_elapsed_time,
    sum(r.elevation_gain)::real as total_elevation_gain,
    sum(r.calories)::real as total_calories,
    sum(r.load)::double precision as total_load
from public.weekly_rollups as r
group by r.user_id, r.activity_type, r.week_start;

revoke all on public.weekly_volume from anon, authenticated;

grant select on public.weekly_volume to authenticated, service_role;

comment on view public.weekly_volume is
    'Per user, sport and local ISO week (Monday start): workouts (each counted once: primary '
    'copies, no soft-deleted activity), distance (m), moving and elapsed time (s), elevation '
    'gain (m), calories (kcal), training load. Read from weekly_rollups. Runs as the caller: a '
    'coach sees only the shareable (not private, not Strava-sourced) part.';

comment on column public.weekly_volume.week_start is
    'Monday of the local calendar week (ISO 8601) of the activities'' local start.';

comment on column public.weekly_volume.total_load is
    'Summed training load (private.activity_training_load).';

create view public.monthly_volume
with (security_invoker = true) as
select
    r.user_id,
    r.activity_type,
    r.month_start,
    sum(r.activity_count)::bigint as activity_count,
    sum(r.distance)::double precision as total_distance,
    sum(r.moving_time)::bigint as total_moving_time,
    sum(r.elapsed_time)::bigint as total_elapsed_time,
    sum(r.elevation_gain)::real as total_elevation_gain,
    sum(r.calories)::real as total_calories,
    sum(r.load)::double precision as total_load
from public.weekly_rollups as r
group by r.user_id, r.activity_type, r.month_start;

revoke all on public.monthly_volume from anon, authenticated;

grant select on public.monthly_volume to authenticated, service_role;

comment on view public.monthly_volume is
    'Per user, sport and local calendar month: workouts (each counted once), distance (m), '
    'moving and elapsed time (s), elevation gain (m), calories (kcal), training load. Read from '
    'weekly_rollups (whose rows never straddle a month). Runs as the caller: RLS applies.';

comment on column public.monthly_volume.month_start is
    'First day of the local calendar month of the activities'' local start.';

comment on column public.monthly_volume.total_load is
    'Summed training load (private.activity_training_load).';
