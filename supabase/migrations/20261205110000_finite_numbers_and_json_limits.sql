-- Every float and numeric column rejects NaN and ±Infinity; every JSON column has a size limit.
--
-- PostgreSQL orders NaN above every number (and above Infinity), so `'NaN' >= 0` is true and
-- a check such as `distance >= 0` let NaN through; Infinity passed it too. One such row
-- poisoned every sum it reached (rollups, analyst totals), and a numeric rollup that once
-- held NaN stays NaN after the row is deleted (NaN - NaN is NaN). Each column now has a check
-- `col > '-Infinity' and col < 'Infinity'`: NaN fails the second comparison, the infinities
-- one each; null still passes (unknown is allowed). tests/db/test_catalog_conventions.py
-- requires such a check on every float or numeric column of every table, present and future.
--
-- JSON size limits (pg_column_size of the jsonb value, i.e. its binary size before TOAST
-- compression on insert), chosen well above what the code writes:
--   activities.activity_data              64 KiB  (normalisers write < 2 KiB of extra fields)
--   users.preferences                     16 KiB  (a handful of settings)
--   activity_raw_payloads.payload          4 MiB  (a detailed Strava activity with laps and
--                                                  segment efforts is tens of KiB)
--   provider_connections.provider_profile 64 KiB  (a provider's athlete profile)
--   provider_connections.sync_cursor      16 KiB  (a cursor is a few keys)
--   connection_events.detail              16 KiB  (a few keys of audit detail)
--   sync_history.error_details           256 KiB  (one short entry per failed item)
--   workouts.structure                   256 KiB  (a structured workout's steps)
-- A write above a limit fails with a check violation that names the constraint.

-- --- rows written before the checks ----------------------------------------------------------
-- A non-finite measurement becomes unknown (null), then the rollups of the athletes whose sums
-- it poisoned are rebuilt from the activities.

update public.activities set
    distance = case
        when distance > '-Infinity' and distance < 'Infinity' then distance
    end,
    average_speed = case
        when average_speed > '-Infinity' and average_speed < 'Infinity' then average_speed
    end,
    max_speed = case
        when max_speed > '-Infinity' and max_speed < 'Infinity' then max_speed
    end,
    average_heartrate = case
        when average_heartrate > '-Infinity' and average_heartrate < 'Infinity'
            then average_heartrate
    end,
    max_heartrate = case
        when max_heartrate > '-Infinity' and max_heartrate < 'Infinity' then max_heartrate
    end,
    average_watts = case
        when average_watts > '-Infinity' and average_watts < 'Infinity' then average_watts
    end,
    max_watts = case
        when max_watts > '-Infinity' and max_watts < 'Infinity' then max_watts
    end,
    weighted_average_watts = case
        when weighted_average_watts > '-Infinity' and weighted_average_watts < 'Infinity'
            then weighted_average_watts
    end,
    average_cadence = case
        when average_cadence > '-Infinity' and average_cadence < 'Infinity' then average_cadence
    end,
    max_cadence = case
        when max_cadence > '-Infinity' and max_cadence < 'Infinity' then max_cadence
    end,
    elevation_gain = case
        when elevation_gain > '-Infinity' and elevation_gain < 'Infinity' then elevation_gain
    end,
    elevation_loss = case
        when elevation_loss > '-Infinity' and elevation_loss < 'Infinity' then elevation_loss
    end,
    calories = case
        when calories > '-Infinity' and calories < 'Infinity' then calories
    end
where
    not (distance > '-Infinity' and distance < 'Infinity')
    or not (average_speed > '-Infinity' and average_speed < 'Infinity')
    or not (max_speed > '-Infinity' and max_speed < 'Infinity')
    or not (average_heartrate > '-Infinity' and average_heartrate < 'Infinity')
    or not (max_heartrate > '-Infinity' and max_heartrate < 'Infinity')
    or not (average_watts > '-Infinity' and average_watts < 'Infinity')
    or not (max_watts > '-Infinity' and max_watts < 'Infinity')
    or not (
        weighted_average_watts > '-Infinity' and weighted_average_watts < 'Infinity'
    )
    or not (average_cadence > '-Infinity' and average_cadence < 'Infinity')
    or not (max_cadence > '-Infinity' and max_cadence < 'Infinity')
    or not (elevation_gain > '-Infinity' and elevation_gain < 'Infinity')
    or not (elevation_loss > '-Infinity' and elevation_loss < 'Infinity')
    or not (calories > '-Infinity' and calories < 'Infinity');

update public.workouts set
    planned_distance = case
        when planned_distance > '-Infinity' and planned_distance < 'Infinity'
            then planned_distance
    end,
    planned_load = case
        when planned_load > '-Infinity' and planned_load < 'Infinity' then planned_load
    end
where
    not (planned_distance > '-Infinity' and planned_distance < 'Infinity')
    or not (planned_load > '-Infinity' and planned_load < 'Infinity');

select public.rebuild_rollups(p.user_id)
from (
    select r.user_id
    from public.weekly_rollups as r
    where
        not (r.distance > '-Infinity' and r.distance < 'Infinity')
        or not (r.elevation_gain > '-Infinity' and r.elevation_gain < 'Infinity')
        or not (r.calories > '-Infinity' and r.calories < 'Infinity')
        or not (r.load > '-Infinity' and r.load < 'Infinity')
    union
    select d.user_id
    from public.daily_loads as d
    where not (d.load > '-Infinity' and d.load < 'Infinity')
) as p;

-- --- finite numbers ---------------------------------------------------------------------------

alter table public.activities
add constraint activities_distance_finite check (
    distance > '-Infinity' and distance < 'Infinity'
),
add constraint activities_average_speed_finite check (
    average_speed > '-Infinity' and average_speed < 'Infinity'
),
add constraint activities_max_speed_finite check (
    max_speed > '-Infinity' and max_speed < 'Infinity'
),
add constraint activities_pace_finite check (
    pace > '-Infinity' and pace < 'Infinity'
),
add constraint activities_average_heartrate_finite check (
    average_heartrate > '-Infinity' and average_heartrate < 'Infinity'
),
add constraint activities_max_heartrate_finite check (
    max_heartrate > '-Infinity' and max_heartrate < 'Infinity'
),
add constraint activities_average_watts_finite check (
    average_watts > '-Infinity' and average_watts < 'Infinity'
),
add constraint activities_max_watts_finite check (
    max_watts > '-Infinity' and max_watts < 'Infinity'
),
add constraint activities_weighted_average_watts_finite check (
    weighted_average_watts > '-Infinity' and weighted_average_watts < 'Infinity'
),
add constraint activities_average_cadence_finite check (
    average_cadence > '-Infinity' and average_cadence < 'Infinity'
),
add constraint activities_max_cadence_finite check (
    max_cadence > '-Infinity' and max_cadence < 'Infinity'
),
add constraint activities_elevation_gain_finite check (
    elevation_gain > '-Infinity' and elevation_gain < 'Infinity'
),
add constraint activities_elevation_loss_finite check (
    elevation_loss > '-Infinity' and elevation_loss < 'Infinity'
),
add constraint activities_calories_finite check (
    calories > '-Infinity' and calories < 'Infinity'
),
add constraint activities_activity_data_size check (pg_column_size(activity_data) <= 65536);

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

alter table public.daily_loads
add constraint daily_loads_load_finite check (load > '-Infinity' and load < 'Infinity');

alter table public.workouts
add constraint workouts_planned_distance_finite check (
    planned_distance > '-Infinity' and planned_distance < 'Infinity'
),
add constraint workouts_planned_load_finite check (
    planned_load > '-Infinity' and planned_load < 'Infinity'
),
add constraint workouts_structure_size check (pg_column_size(structure) <= 262144);

-- --- JSON size limits -------------------------------------------------------------------------

alter table public.users
add constraint users_preferences_size check (pg_column_size(preferences) <= 16384);

alter table public.activity_raw_payloads
add constraint activity_raw_payloads_payload_size check (pg_column_size(payload) <= 4194304);

alter table public.provider_connections
add constraint provider_connections_profile_size check (
    pg_column_size(provider_profile) <= 65536
),
add constraint provider_connections_cursor_size check (pg_column_size(sync_cursor) <= 16384);

alter table public.connection_events
add constraint connection_events_detail_size check (pg_column_size(detail) <= 16384);

alter table public.sync_history
add constraint sync_history_error_details_size check (
    pg_column_size(error_details) <= 262144
);
