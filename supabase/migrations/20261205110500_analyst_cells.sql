-- Analyst suppression that cannot be differenced across views (issue 14, finding 5).
--
-- Each analyst view suppressed its own small groups: a week of 5 runners and 1 swimmer showed
-- weekly_training_load (6 athletes) and weekly_volume_by_sport (run, 5 athletes), and their
-- difference was the swimmer's exact moving time and load; monthly_volume_by_provider minus
-- monthly_volume_by_sport gave their distance; and with exactly 5 athletes the quartiles of
-- weekly_training_load were individuals' values.
--
-- Design: one set of published cells, every figure a sum of them.
-- - A cell is the finest grain any analyst view uses: local ISO week x calendar month (a week
--   split at a month boundary is two cells) x sport x source (provider, or manual_or_file),
--   over shareable rollup rows only. A cell is published when at least 5 distinct athletes
--   contribute to it; otherwise it is suppressed everywhere.
-- - private.analyst_published_rollups holds the per-athlete rollup rows of published cells
--   (never granted to anyone); every analyst volume and load view aggregates only those rows.
--   A coarser figure is therefore the sum of published cells, so subtracting one view from
--   another yields sums of published cells (each of at least 5 athletes) and never the part a
--   suppressed cell held: that part is in no view at all (complementary suppression by
--   construction, at the cost of omitting small cells from the totals too).
-- - Quantiles (weekly_training_load's quartiles and median) are shown only for at least 10
--   athletes: with 5 to 9 athletes a quartile (percentile_cont at position 0.25 x (n - 1),
--   an integer for n = 5 or 9) is one athlete's exact value, and neighbouring values are few;
--   from 10 they are interpolations over a group of ten or more. Below 10 they are null.
-- - monthly_sync_outcomes keeps its own rule (5 athletes per provider, outcome and month): it is
--   the only view over sync history and publishes no total that another view could complete.

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

create or replace view analytics.weekly_volume_by_sport as
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

comment on view analytics.weekly_volume_by_sport is
    'Per local ISO week and sport, across athletes: athletes active, workouts (each counted '
    'once), distance (m), moving time (s), elevation gain (m), training load. Strava-sourced '
    'and private activities excluded; sums of published cells only (week x month x sport x '
    'source with at least 5 athletes), so a suppressed cell is in no view.';
comment on column analytics.weekly_volume_by_sport.athlete_count is
    'Distinct athletes in the published cells (always at least 5).';

create or replace view analytics.monthly_volume_by_sport as
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

comment on view analytics.monthly_volume_by_sport is
    'Per local calendar month and sport, across athletes: athletes active, workouts, distance '
    '(m), moving time (s), elevation gain (m), training load. Strava-sourced and private '
    'activities excluded; sums of published cells only (week x month x sport x source with at '
    'least 5 athletes).';
comment on column analytics.monthly_volume_by_sport.athlete_count is
    'Distinct athletes in the published cells (always at least 5).';

create or replace view analytics.monthly_volume_by_provider as
select
    r.month_start,
    r.source,
    count(distinct r.user_id) as athlete_count,
    sum(r.activity_count)::bigint as activity_count,
    sum(r.distance)::double precision as total_distance,
    sum(r.moving_time)::bigint as total_moving_time
from private.analyst_published_rollups as r
group by r.month_start, r.source;

comment on view analytics.monthly_volume_by_provider is
    'Per local calendar month and source, across athletes: athletes, workouts (each counted '
    'once, under the source of its primary copy), distance (m), moving time (s). Strava never '
    'appears; sums of published cells only (week x month x sport x source with at least 5 '
    'athletes).';
comment on column analytics.monthly_volume_by_provider.athlete_count is
    'Distinct athletes in the published cells (always at least 5).';

create or replace view analytics.weekly_training_load as
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
