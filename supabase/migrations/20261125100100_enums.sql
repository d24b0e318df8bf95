-- Enumerated types. Adding a value later needs a migration of its own: PostgreSQL cannot use
-- an enum value in the transaction that added it.

create type public.provider_type as enum ('strava', 'garmin', 'polar', 'coros', 'wahoo', 'fitbit');

comment on type public.provider_type is
    'A connected data provider: strava (Strava API v3), garmin (Garmin Connect Developer '
    'Program), polar (Polar AccessLink), coros (COROS Open API), wahoo (Wahoo Cloud API), fitbit '
    '(Fitbit accounts, read through the Google Health API since the Fitbit Web API shut down on '
    '2026-11-02).';

create type public.user_role as enum ('athlete', 'coach', 'admin');

comment on type public.user_role is
    'What a user may do: athlete (own data only), coach (also reads the athletes who granted '
    'access and plans their workouts), admin (reads everything except tokens, OAuth state and '
    'raw provider payloads; changes roles). A suspended user (users.is_active false) keeps '
    'only the rights of an athlete over their own data.';

create type public.sync_status as enum ('running', 'success', 'failed', 'partial', 'skipped');

create type public.connection_status as enum ('active', 'error', 'revoked', 'disconnected');

comment on type public.connection_status is
    'Health of a provider connection: active (tokens valid, syncing), error (still authorised '
    'but recent syncs failed; see last_error), revoked (the provider refused the tokens or the '
    'athlete deauthorised at the provider: the athlete must reconnect), disconnected (the '
    'athlete disconnected in Trainlytics; tokens are gone).';

create type public.sync_trigger as enum (
    'initial', 'scheduled', 'webhook', 'manual', 'retry', 'legacy_import'
);

create type public.connection_event_type as enum (
    'connected', 'reconnected', 'refreshed', 'refresh_failed', 'revoked', 'disconnected',
    'scopes_changed'
);

comment on type public.connection_event_type is
    'Audit trail of a connection: connected (first OAuth success), reconnected (OAuth success '
    'on an existing row), refreshed (tokens rotated), refresh_failed (a refresh was refused or '
    'failed), revoked (provider refused tokens or the athlete deauthorised at the provider), '
    'disconnected (the athlete disconnected), scopes_changed (the granted permissions changed).';

create type public.coach_grant_status as enum ('pending', 'active', 'revoked');

comment on type public.coach_grant_status is
    'State of an athlete''s grant to a coach: pending (offered by the athlete, not yet accepted '
    'by the coach), active (the coach reads the athlete''s shared data and plans workouts), '
    'revoked (ended by either side; kept for the record).';

create type public.activity_source as enum ('provider', 'manual', 'file');

comment on type public.activity_source is
    'Where an activity row came from: provider (synchronised through a provider connection), '
    'manual (entered by the athlete), file (imported from a FIT, GPX or TCX file or an export '
    'archive).';

create type public.activity_type as enum (
    -- running and walking
    'run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run', 'walk', 'hike',
    -- cycling
    'ride', 'mountain_bike_ride', 'gravel_ride', 'virtual_ride', 'indoor_ride', 'e_bike_ride',
    'e_mountain_bike_ride', 'handcycle', 'velomobile',
    -- swimming and multisport
    'swim', 'open_water_swim', 'triathlon', 'multisport',
    -- water
    'rowing', 'virtual_row', 'kayaking', 'canoeing', 'stand_up_paddling', 'surfing', 'kitesurf',
    'windsurf', 'sail',
    -- snow and ice
    'alpine_ski', 'backcountry_ski', 'nordic_ski', 'snowboard', 'snowshoe', 'ice_skate',
    -- wheels
    'inline_skate', 'roller_ski', 'skateboard', 'wheelchair',
    -- gym and fitness
    'weight_training', 'crossfit', 'hiit', 'cardio', 'elliptical', 'stair_stepper', 'yoga',
    'pilates', 'physical_therapy', 'dance', 'workout',
    -- climbing and mountains
    'rock_climbing', 'mountaineering',
    -- racket and team sports
    'tennis', 'squash', 'badminton', 'table_tennis', 'padel', 'pickleball', 'racquetball',
    'soccer', 'basketball', 'volleyball', 'cricket', 'hockey', 'rugby',
    -- other sports
    'golf', 'boxing', 'martial_arts', 'horseback_riding',
    -- fallback
    'other'
);

comment on type public.activity_type is
    'Canonical sport of an activity, whatever its source. Running: run (road or unspecified), '
    'trail_run, treadmill_run, track_run, virtual_run; walk, hike. Cycling: ride (road or '
    'unspecified), mountain_bike_ride, gravel_ride, virtual_ride (a virtual world such as Zwift), '
    'indoor_ride (a trainer without a virtual world), e_bike_ride, e_mountain_bike_ride, '
    'handcycle, velomobile. Water: swim (pool or unspecified), open_water_swim, rowing, '
    'virtual_row (rowing machine), kayaking, canoeing, stand_up_paddling, surfing, kitesurf, '
    'windsurf, sail. Multisport: triathlon, multisport (other combined sessions). Snow: '
    'alpine_ski, backcountry_ski, nordic_ski, snowboard, snowshoe, ice_skate. Wheels: '
    'inline_skate, roller_ski, skateboard, wheelchair. Gym: weight_training, crossfit, hiit, '
    'cardio, elliptical, stair_stepper, yoga, pilates, physical_therapy, dance, workout (a '
    'generic session). Also rock_climbing, mountaineering, racket and team sports (tennis, '
    'squash, badminton, table_tennis, padel, pickleball, racquetball, soccer, basketball, '
    'volleyball, cricket, hockey, rugby), golf, boxing, martial_arts, horseback_riding. other is '
    'the fallback for a provider type no mapping knows: the provider''s own value is kept in '
    'activities.provider_activity_type.';

comment on type public.sync_trigger is
    'Why a synchronisation ran: initial (backfill after connecting), scheduled (periodic '
    'polling), webhook (a provider notification), manual (the athlete or an operator asked), '
    'retry (a retry of a failed run), legacy_import (the activities were carried over from a '
    'Trainlytics v1 database by `trainlytics legacy import`, not fetched from the provider).';

comment on type public.sync_status is
    'Outcome of one synchronisation run: running (started, not finished), success (everything '
    'fetched and stored), failed (nothing durable stored), partial (some pages stored, then an '
    'error), skipped (the provider declined for a reason the athlete can fix, e.g. Garmin '
    'history without HISTORICAL_DATA_EXPORT; error_message says what to grant).';
