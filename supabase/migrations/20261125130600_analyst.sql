-- Analyst access: aggregates across athletes, without personal data, and nothing else.
--
-- Schema `analytics` is not exposed through the Data API (supabase/config.toml lists only
-- public). Role `analyst` (NOLOGIN, no BYPASSRLS: people log in with their own role and are
-- granted `analyst`) has USAGE on `analytics` and SELECT on its views, and no privilege on any
-- table, view or function elsewhere.
--
-- The views are deliberately NOT security_invoker: the analyst holds no right on the base
-- tables, so each view, owned by the migrations' owner (which bypasses RLS), is the boundary.
-- What they show:
-- - no user id, name, email, device, activity id or free text: only calendar buckets, sports,
--   providers and sums;
-- - a bucket appears only when at least 5 distinct athletes contribute to it (small groups
--   would identify people);
-- - only shareable activities (weekly_rollups.shareable): never Strava-sourced (Strava's API
--   agreement forbids using its data beyond the athlete's own view) and never private ones;
-- - each workout once (the rollups count primary copies only), soft-deleted ones never.
-- Functions are not called in these views (a view's function calls are checked against the
-- caller, who may execute none of ours).

create view private.analyst_published_rollups as
with shareable_rows as (
    select
        r.user_id,
        r.week_start,
        r.month_start,
        r.activity_type,
        r.activity_count,
        r.distance,
        r.moving_time,
        r.elevation_gain,
        r.load,
        coalesce(r.provider::text, 'manual_or_file') as source
    from public.weekly_rollups as r
    where r.shareable
),

published as (
    select
        w.week_start,
        w.month_start,
        w.activity_type,
        w.source
    from shareable_rows as w
    group by w.week_start, w.month_start, w.activity_type, w.source
    having count(distinct w.user_id) >= 5
)

select w.*
from shareable_rows as w
inner join published as p
    on
        w.week_start = p.week_start
        and w.month_start = p.month_start
        and w.activity_type = p.activity_type
        and w.source = p.source;

comment on view private.analyst_published_rollups is
    'The per-athlete shareable rollup rows of published analyst cells (local ISO week x month x '
    'sport x source with at least 5 distinct athletes): the only input of the analytics volume '
    'and load views, so that every analyst figure is a sum of published cells and no '
    'difference of two views reveals a suppressed one. Granted to no one; the analytics views '
    '(owned by the migrations'' owner) read it.';

comment on column private.analyst_published_rollups.source is
    'The provider, or manual_or_file for manual entries and imported files.';

revoke all on private.analyst_published_rollups from public, anon, authenticated, service_role;

create schema analytics;

comment on schema analytics is
    'Not exposed through the Data API: aggregate views across athletes for the analyst role, '
    'without personal data, Strava-sourced and private activities excluded, buckets of at '
    'least 5 athletes.';

do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'analyst') then
        create role analyst nologin;
    end if;
end;
$$;

comment on role analyst is
    'Read-only analysts: SELECT on the views of schema analytics and nothing else. NOLOGIN; '
    'grant it to a person''s own login role.';

revoke all on schema analytics from public;

grant usage on schema analytics to analyst;

create view analytics.weekly_volume_by_sport as
select
    r.week_start,
    r.activity_type,
    count(distinct r.user_id) as athlete_count,
    sum(r.activity_count)::bigint as activity_count,
    sum(r.distance)::double precision as total_distance,
    sum(r.moving_time)::bigint as total_moving_time,
    sum(r.elevation_gain)::double precision as total_elevation_gain,
    sum(r.load)::double precision as total_load
from private.analyst_published_rollups as r
group by r.week_start, r.activity_type;

comment on column analytics.weekly_volume_by_sport.week_start is
    'Monday of the local ISO week.';

grant select on analytics.weekly_volume_by_sport to analyst;

comment on view analytics.weekly_volume_by_sport is
    'Per local ISO week and sport, across athletes: athletes active, workouts (each counted '
    'once), distance (m), moving time (s), elevation gain (m), training load. Strava-sourced '
    'and private activities excluded; sums of published cells only (week x month x sport x '
    'source with at least 5 athletes), so a suppressed cell is in no view.';

comment on column analytics.weekly_volume_by_sport.athlete_count is
    'Distinct athletes in the published cells (always at least 5).';

create view analytics.monthly_volume_by_sport as
select
    r.month_start,
    r.activity_type,
    count(distinct r.user_id) as athlete_count,
    sum(r.activity_count)::bigint as activity_count,
    sum(r.distance)::double precision as total_distance,
    sum(r.moving_time)::bigint as total_moving_time,
    sum(r.elevation_gain)::double precision as total_elevation_gain,
    sum(r.load)::double precision as total_load
from private.analyst_published_rollups as r
group by r.month_start, r.activity_type;

comment on column analytics.monthly_volume_by_sport.month_start is
    'First day of the local calendar month.';

grant select on analytics.monthly_volume_by_sport to analyst;

comment on view analytics.monthly_volume_by_sport is
    'Per local calendar month and sport, across athletes: athletes active, workouts, distance '
    '(m), moving time (s), elevation gain (m), training load. Strava-sourced and private '
    'activities excluded; sums of published cells only (week x month x sport x source with at '
    'least 5 athletes).';

comment on column analytics.monthly_volume_by_sport.athlete_count is
    'Distinct athletes in the published cells (always at least 5).';

create view analytics.monthly_volume_by_provider as
select
    r.month_start,
    r.source,
    count(distinct r.user_id) as athlete_count,
    sum(r.activity_count)::bigint as activity_count,
    sum(r.distance)::double precision as total_distance,
    sum(r.moving_time)::bigint as total_moving_time
from private.analyst_published_rollups as r
group by r.month_start, r.source;

comment on column analytics.monthly_volume_by_provider.month_start is
    'First day of the local calendar month.';

comment on column analytics.monthly_volume_by_provider.source is
    'The provider (type provider_type, never strava), or manual_or_file for manual entries and '
    'imported files.';

grant select on analytics.monthly_volume_by_provider to analyst;

comment on view analytics.monthly_volume_by_provider is
    'Per local calendar month and source, across athletes: athletes, workouts (each counted '
    'once, under the source of its primary copy), distance (m), moving time (s). Strava never '
    'appears; sums of published cells only (week x month x sport x source with at least 5 '
    'athletes).';

comment on column analytics.monthly_volume_by_provider.athlete_count is
    'Distinct athletes in the published cells (always at least 5).';

create view analytics.weekly_training_load as
with per_athlete as (
    select
        r.week_start,
        r.user_id,
        sum(r.load) as load,
        sum(r.moving_time) as moving_time
    from private.analyst_published_rollups as r
    group by r.week_start, r.user_id
)

select
    p.week_start,
    count(*) as athlete_count,
    avg(p.load)::double precision as mean_load,
    case
        when count(*) >= 10 then percentile_cont(0.25) within group (order by p.load)
    end as load_p25,
    case
        when count(*) >= 10 then percentile_cont(0.5) within group (order by p.load)
    end as load_median,
    case
        when count(*) >= 10 then percentile_cont(0.75) within group (order by p.load)
    end as load_p75,
    avg(p.moving_time)::double precision as mean_moving_time
from per_athlete as p
group by p.week_start;

comment on column analytics.weekly_training_load.week_start is 'Monday of the local ISO week.';

comment on column analytics.weekly_training_load.mean_load is
    'Mean weekly training load per active athlete.';

comment on column analytics.weekly_training_load.mean_moving_time is
    'Mean weekly moving time per active athlete, in s.';

grant select on analytics.weekly_training_load to analyst;

comment on view analytics.weekly_training_load is
    'Per local ISO week, the distribution of weekly training load across active athletes '
    '(mean, and quartiles when at least 10 athletes) and their mean moving time (s), over '
    'published cells only (week x month x sport x source with at least 5 athletes), so it '
    'equals the sum of the other views'' cells. Strava-sourced and private activities '
    'excluded; no minimum or maximum, which would be one person''s figure.';

comment on column analytics.weekly_training_load.athlete_count is
    'Athletes in the published cells of the week (always at least 5).';

comment on column analytics.weekly_training_load.load_p25 is
    'First quartile of weekly training load; null below 10 athletes (it would be one '
    'athlete''s value).';

comment on column analytics.weekly_training_load.load_median is
    'Median weekly training load; null below 10 athletes.';

comment on column analytics.weekly_training_load.load_p75 is
    'Third quartile of weekly training load; null below 10 athletes.';

create view analytics.monthly_sync_outcomes as
select
    pc.provider,
    h.sync_status,
    date_trunc('month', h.sync_started_at at time zone 'UTC')::date as month_start,
    count(distinct h.connection_id) as connection_count,
    count(*) as run_count,
    sum(h.activities_created)::bigint as activities_created,
    sum(h.api_calls)::bigint as api_calls
from public.sync_history as h
inner join public.provider_connections as pc on h.connection_id = pc.id
where pc.provider <> 'strava'
group by
    pc.provider, h.sync_status, date_trunc('month', h.sync_started_at at time zone 'UTC')::date
having count(distinct h.user_id) >= 5;

comment on view analytics.monthly_sync_outcomes is
    'Per provider, run outcome and UTC month: connections, runs, activities created and API '
    'calls. Strava excluded; groups of fewer than 5 athletes omitted.';

comment on column analytics.monthly_sync_outcomes.month_start is
    'First day of the UTC month in which the runs started.';

comment on column analytics.monthly_sync_outcomes.connection_count is
    'Distinct connections with a run in the group.';

comment on column analytics.monthly_sync_outcomes.run_count is 'Sync runs in the group.';

grant select on analytics.monthly_sync_outcomes to analyst;

revoke all on all tables in schema analytics from public, anon, authenticated, service_role;
