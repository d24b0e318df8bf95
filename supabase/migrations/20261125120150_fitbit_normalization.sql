-- Fitbit normalisation: Fitbit accounts are read through the Google Health API since the Fitbit
-- Web API shut down on 2026-11-02. private.normalize_fitbit() accepts both payloads a Fitbit
-- connection may hold:
--
-- - a Google Health API exercise data point (GET /v4/users/me/dataTypes/exercise/dataPoints):
--   {"name": "users/<id>/dataTypes/exercise/dataPoints/<id>", "dataSource": {...},
--    "exercise": {"interval": {"startTime", "startUtcOffset": "-25200s", "endTime",
--    "endUtcOffset"}, "exerciseType": "RUNNING", "displayName", "activeDuration": "1741.989s",
--    "metricsSummary": {"caloriesKcal", "distanceMillimeters", "steps",
--    "averageHeartRateBeatsPerMinute" (an int64, so a JSON string), ...}}};
-- - a legacy Fitbit Web API activity-log entry (GET /1/user/-/activities/list.json), kept for
--   raw payloads stored before the shutdown: durations in ms, distance in distanceUnit
--   ("Kilometer" or "Mile"), speed in that unit per hour, elevation in feet when the unit is
--   imperial, the UTC offset inside startTime, manual when logType is "manual".
--
-- Vocabularies: the Google Health Exercise.ExerciseType enum (UPPER_SNAKE), then legacy
-- activityName values (mapped on the name first: a public library mis-maps the legacy type ids,
-- docs/providers.md §7), then the legacy activityTypeId values seen in real data as a fallback.

-- Google Health API Exercise.ExerciseType ------------------------------------------------------

insert into public.activity_type_mappings (provider, provider_value, activity_type)
values
-- running and walking
('fitbit', 'RUNNING', 'run'),
('fitbit', 'TRAIL_RUN', 'trail_run'),
('fitbit', 'INCLINE_RUN', 'run'),
('fitbit', 'TREADMILL', 'treadmill_run'),
('fitbit', 'TRACK_AND_FIELD', 'track_run'),
('fitbit', 'ORIENTEERING', 'run'),
('fitbit', 'WALKING', 'walk'),
('fitbit', 'INCLINE_WALK', 'walk'),
('fitbit', 'NORDIC_WALKING', 'walk'),
('fitbit', 'STROLLER_WALK', 'walk'),
('fitbit', 'TREADMILL_WALK', 'walk'),
('fitbit', 'POWER_WALKING', 'walk'),
('fitbit', 'WALK_WITH_WEIGHTS', 'walk'),
('fitbit', 'HIKING', 'hike'),
('fitbit', 'BACKPACKING', 'hike'),
('fitbit', 'RUCKING', 'hike'),
-- cycling
('fitbit', 'BIKING', 'ride'),
('fitbit', 'OUTDOOR_BIKE', 'ride'),
('fitbit', 'MOUNTAIN_BIKE', 'mountain_bike_ride'),
('fitbit', 'STATIONARY_BIKE', 'indoor_ride'),
('fitbit', 'ASSAULT_BIKE', 'indoor_ride'),
('fitbit', 'SPINNING', 'indoor_ride'),
('fitbit', 'ELECTRIC_BIKE', 'e_bike_ride'),
('fitbit', 'HAND_CYCLING', 'handcycle'),
('fitbit', 'UNICYCLING', 'other'),
-- water
('fitbit', 'SWIMMING', 'swim'),
('fitbit', 'SWIMMING_POOL', 'swim'),
('fitbit', 'SWIMMING_OPEN_WATER', 'open_water_swim'),
('fitbit', 'SYNCHRONIZED_SWIMMING', 'swim'),
('fitbit', 'ROWING', 'rowing'),
('fitbit', 'ROWING_MACHINE', 'virtual_row'),
('fitbit', 'KAYAKING', 'kayaking'),
('fitbit', 'CANOEING', 'canoeing'),
('fitbit', 'PADDLEBOARDING', 'stand_up_paddling'),
('fitbit', 'SURFING', 'surfing'),
('fitbit', 'KITESURFING', 'kitesurf'),
('fitbit', 'WINDSURFING', 'windsurf'),
('fitbit', 'SAILING', 'sail'),
('fitbit', 'FOILING', 'other'),
('fitbit', 'WAKEBOARDING', 'other'),
('fitbit', 'WATER_SKIING', 'other'),
('fitbit', 'WATER_POLO', 'other'),
('fitbit', 'WATER_AEROBICS', 'cardio'),
('fitbit', 'WATER_JOGGING', 'cardio'),
('fitbit', 'WATER_VOLLEYBALL', 'other'),
('fitbit', 'WATER_SPORT', 'other'),
('fitbit', 'DIVING', 'other'),
('fitbit', 'SCUBA_DIVING', 'other'),
('fitbit', 'SNORKELING', 'other'),
-- gym and fitness
('fitbit', 'STRENGTH_TRAINING', 'weight_training'),
('fitbit', 'FUNCTIONAL_STRENGTH_TRAINING', 'weight_training'),
('fitbit', 'CORE_TRAINING', 'weight_training'),
('fitbit', 'BODY_WEIGHT', 'weight_training'),
('fitbit', 'CALISTHENICS', 'weight_training'),
('fitbit', 'POWERLIFTING', 'weight_training'),
('fitbit', 'WEIGHTLIFTING', 'weight_training'),
('fitbit', 'FREE_WEIGHTS', 'weight_training'),
('fitbit', 'WEIGHTS', 'weight_training'),
('fitbit', 'WEIGHT_MACHINES', 'weight_training'),
('fitbit', 'RESISTANCE_BANDS', 'weight_training'),
('fitbit', 'TRX', 'weight_training'),
('fitbit', 'CROSSFIT', 'crossfit'),
('fitbit', 'ELLIPTICAL', 'elliptical'),
('fitbit', 'STAIRCLIMBER', 'stair_stepper'),
('fitbit', 'STEP_TRAINING', 'cardio'),
('fitbit', 'JUMPING_ROPE', 'cardio'),
('fitbit', 'AEROBIC_WORKOUT', 'cardio'),
('fitbit', 'CARDIO_WORKOUT', 'cardio'),
('fitbit', 'CARDIO_SCULPT', 'cardio'),
('fitbit', 'FITNESS_GAMING', 'cardio'),
('fitbit', 'HIIT', 'hiit'),
('fitbit', 'TABATA_WORKOUT', 'hiit'),
('fitbit', 'INTERVAL_WORKOUT', 'hiit'),
('fitbit', 'BOOTCAMP', 'hiit'),
('fitbit', 'CIRCUIT_TRAINING', 'workout'),
('fitbit', 'CROSS_TRAINING', 'workout'),
('fitbit', 'EXERCISE_CLASS', 'workout'),
('fitbit', 'BARRE_CLASS', 'workout'),
('fitbit', 'OUTDOOR_WORKOUT', 'workout'),
('fitbit', 'WORKOUT', 'workout'),
('fitbit', 'GYMNASTICS', 'workout'),
('fitbit', 'TRAMPOLINE', 'workout'),
('fitbit', 'PARKOUR', 'workout'),
('fitbit', 'STRETCHING', 'workout'),
('fitbit', 'YOGA', 'yoga'),
('fitbit', 'YOGA_BIKRAM', 'yoga'),
('fitbit', 'YOGA_HATHA', 'yoga'),
('fitbit', 'YOGA_POWER', 'yoga'),
('fitbit', 'YOGA_VINYASA', 'yoga'),
('fitbit', 'PILATES', 'pilates'),
('fitbit', 'MEDITATE', 'other'),
-- snow and ice
('fitbit', 'SKIING', 'alpine_ski'),
('fitbit', 'CROSS_COUNTRY_SKI', 'nordic_ski'),
('fitbit', 'SNOWBOARDING', 'snowboard'),
('fitbit', 'SNOWSHOEING', 'snowshoe'),
('fitbit', 'ICE_SKATING', 'ice_skate'),
('fitbit', 'SPEED_SKATING', 'ice_skate'),
('fitbit', 'SNOWMOBILING', 'other'),
('fitbit', 'SNOW_SPORT', 'other'),
-- wheels
('fitbit', 'SKATING', 'other'),
('fitbit', 'ROLLER_SKATING', 'inline_skate'),
('fitbit', 'ROLLERBLADING', 'inline_skate'),
('fitbit', 'SKATEBOARDING', 'skateboard'),
('fitbit', 'WHEELCHAIR', 'wheelchair'),
-- climbing
('fitbit', 'CLIMBING', 'rock_climbing'),
('fitbit', 'ROCK_CLIMBING', 'rock_climbing'),
('fitbit', 'INDOOR_CLIMBING', 'rock_climbing'),
-- racket and team sports
('fitbit', 'TENNIS', 'tennis'),
('fitbit', 'TABLE_TENNIS', 'table_tennis'),
('fitbit', 'BADMINTON', 'badminton'),
('fitbit', 'SQUASH', 'squash'),
('fitbit', 'PADEL', 'padel'),
('fitbit', 'PICKELBALL', 'pickleball'),  -- Google's spelling in the enum
('fitbit', 'PICKLEBALL', 'pickleball'),
('fitbit', 'RACQUETBALL', 'racquetball'),
('fitbit', 'RACKET_SPORTS', 'other'),
('fitbit', 'SOCCER', 'soccer'),
('fitbit', 'BASKETBALL', 'basketball'),
('fitbit', 'VOLLEYBALL', 'volleyball'),
('fitbit', 'VOLLEYBALL_BEACH', 'volleyball'),
('fitbit', 'RUGBY', 'rugby'),
('fitbit', 'HOCKEY', 'hockey'),
('fitbit', 'FIELD_HOCKEY', 'hockey'),
('fitbit', 'CRICKET', 'cricket'),
('fitbit', 'BASEBALL', 'other'),
('fitbit', 'SOFTBALL', 'other'),
('fitbit', 'FOOTBALL_AMERICAN', 'other'),
('fitbit', 'FOOTBALL_AUSTRALIAN', 'other'),
('fitbit', 'HANDBALL', 'other'),
('fitbit', 'LACROSSE', 'other'),
-- combat
('fitbit', 'BOXING', 'boxing'),
('fitbit', 'KICKBOXING', 'martial_arts'),
('fitbit', 'MARTIAL_ARTS', 'martial_arts'),
('fitbit', 'JIU_JITSU', 'martial_arts'),
('fitbit', 'KARATE', 'martial_arts'),
('fitbit', 'TAEKWONDO', 'martial_arts'),
('fitbit', 'MUAY_THAI', 'martial_arts'),
('fitbit', 'WRESTLING', 'martial_arts'),
('fitbit', 'TAI_CHI', 'martial_arts'),
('fitbit', 'FENCING', 'other'),
-- dance
('fitbit', 'DANCING', 'dance'),
('fitbit', 'BALLET', 'dance'),
('fitbit', 'BALLROOM_DANCE', 'dance'),
('fitbit', 'BREAKDANCING', 'dance'),
('fitbit', 'HIP_HOP', 'dance'),
('fitbit', 'JAZZ_DANCE', 'dance'),
('fitbit', 'MODERN_DANCE', 'dance'),
('fitbit', 'TANGO', 'dance'),
('fitbit', 'ZUMBA', 'dance'),
('fitbit', 'CHEERLEADING', 'dance'),
-- other sports and activities
('fitbit', 'GOLF', 'golf'),
('fitbit', 'EQUESTRIAN_SPORTS', 'horseback_riding'),
('fitbit', 'MULTISPORT', 'multisport'),
('fitbit', 'SPORT', 'other'),
('fitbit', 'ARCHERY', 'other'),
('fitbit', 'BOWLING', 'other'),
('fitbit', 'CURLING', 'other'),
('fitbit', 'FISHING', 'other'),
('fitbit', 'HUNTING', 'other'),
('fitbit', 'PARAGLIDING', 'other'),
('fitbit', 'FRISBEE_PLAYING_GENERAL', 'other'),
('fitbit', 'ULTIMATE_FRISBEE', 'other'),
('fitbit', 'MOTORCYCLE', 'other'),
('fitbit', 'MOTOCROSS', 'other'),
('fitbit', 'CLEANING', 'other'),
('fitbit', 'HOUSEHOLD_CHORES', 'other'),
('fitbit', 'GARDENING', 'other'),
('fitbit', 'MOWING_LAWN', 'other'),
('fitbit', 'SHOVELING', 'other'),
('fitbit', 'WEEDING', 'other'),
('fitbit', 'HOEING', 'other'),
('fitbit', 'CARPENTRY', 'other'),
('fitbit', 'OTHER', 'other'),
('fitbit', 'EXERCISE_TYPE_UNSPECIFIED', 'other')
on conflict (provider, provider_value) do update
set activity_type = excluded.activity_type;

-- Legacy Fitbit Web API: activityName, then activityTypeId ---------------------------------------
-- Names that equal an enum value above but for case ("Yoga", "Tennis") are covered by the
-- case-insensitive lookup and skipped here; the remaining names are added.

insert into public.activity_type_mappings (provider, provider_value, activity_type)
select
    'fitbit'::public.provider_type as provider,
    v.provider_value,
    v.activity_type::public.activity_type as activity_type
from (
    values
    ('Run', 'run'),
    ('Running', 'run'),
    ('Treadmill', 'treadmill_run'),
    ('Walk', 'walk'),
    ('Walking', 'walk'),
    ('Hike', 'hike'),
    ('Hiking', 'hike'),
    ('Bike', 'ride'),
    ('Biking', 'ride'),
    ('Bicycling', 'ride'),
    ('Outdoor Bike', 'ride'),
    ('Mountain Biking', 'mountain_bike_ride'),
    ('Spinning', 'indoor_ride'),
    ('Swim', 'swim'),
    ('Swimming', 'swim'),
    ('Open Water Swim', 'open_water_swim'),
    ('Rowing Machine', 'virtual_row'),
    ('Kayaking', 'kayaking'),
    ('Elliptical', 'elliptical'),
    ('Stairclimber', 'stair_stepper'),
    ('Weights', 'weight_training'),
    ('Weight Lifting', 'weight_training'),
    ('Strength Training', 'weight_training'),
    ('Yoga', 'yoga'),
    ('Pilates', 'pilates'),
    ('Workout', 'workout'),
    ('Aerobic Workout', 'cardio'),
    ('Interval Workout', 'hiit'),
    ('HIIT', 'hiit'),
    ('Bootcamp', 'hiit'),
    ('Circuit Training', 'workout'),
    ('Crossfit', 'crossfit'),
    ('Kickboxing', 'martial_arts'),
    ('Martial Arts', 'martial_arts'),
    ('Boxing', 'boxing'),
    ('Dancing', 'dance'),
    ('Tennis', 'tennis'),
    ('Golf', 'golf'),
    ('Skiing', 'alpine_ski'),
    ('Cross-Country Skiing', 'nordic_ski'),
    ('Snowboarding', 'snowboard'),
    ('Ice Skating', 'ice_skate'),
    ('Sport', 'other'),
    -- legacy activityTypeId values as seen in real activity logs (docs/providers.md §7)
    ('90009', 'run'),
    ('90013', 'walk'),
    ('90001', 'ride'),
    ('1071', 'ride'),
    ('90024', 'swim'),
    ('3001', 'cardio')
) as v (provider_value, activity_type)
where not exists (
    select 1
    from public.activity_type_mappings as m
    where m.provider = 'fitbit' and lower(m.provider_value) = lower(v.provider_value)
);

-- Helpers ---------------------------------------------------------------------------------------

create function private.fitbit_duration_seconds(p_value text)
returns double precision
language sql
immutable
parallel safe
as $$
    -- google.protobuf.Duration in JSON: seconds with up to nine fractional digits and an "s".
    select case
        when p_value ~ '^\s*-?[0-9]{1,12}(\.[0-9]{1,9})?s\s*$'
            then rtrim(btrim(p_value), 's')::double precision
    end;
$$;

comment on function private.fitbit_duration_seconds(text) is
    'A google.protobuf.Duration JSON string ("1741.989s", "-25200s") in seconds; null when the '
    'value is not of that form. Never raises.';

revoke all on function private.fitbit_duration_seconds(text) from public, anon, authenticated;

grant execute on function private.fitbit_duration_seconds(text) to service_role;

create function private.fitbit_offset_seconds(p_value text)
returns integer
language sql
immutable
parallel safe
as $$
    -- The offset written at the end of an ISO 8601 timestamp: "Z", "+02:00", "-0700", "+05".
    select case
        when p_value ~ '[Zz]\s*$' then 0
        when p_value ~ 'T.*[+-][0-9]{2}(:?[0-9]{2})?\s*$' then
            (case when substring(p_value from '([+-])[0-9]{2}(:?[0-9]{2})?\s*$') = '-'
                then -1 else 1 end)
            * (
                substring(p_value from '[+-]([0-9]{2})(:?[0-9]{2})?\s*$')::integer * 3600
                + coalesce(
                    substring(p_value from '[+-][0-9]{2}:?([0-9]{2})\s*$')::integer, 0
                ) * 60
            )
    end;
$$;

comment on function private.fitbit_offset_seconds(text) is
    'The UTC offset carried at the end of an ISO 8601 timestamp, in seconds east of UTC (Z = 0, '
    '"-07:00" = -25200); null when the timestamp has no offset. Never raises.';

revoke all on function private.fitbit_offset_seconds(text) from public, anon, authenticated;

grant execute on function private.fitbit_offset_seconds(text) to service_role;

create function private.fitbit_number(p_value jsonb)
returns double precision
language sql
immutable
parallel safe
as $$
    -- Google's JSON mapping writes int64 values as strings ("119"); doubles as numbers.
    select v.x
    from (
        select case
            when jsonb_typeof(p_value) in ('number', 'string')
                then private.try_float(p_value #>> '{}')
        end as x
    ) as v
    where v.x not in ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8);
$$;

comment on function private.fitbit_number(jsonb) is
    'A JSON number or numeric string (protobuf JSON writes int64 as a string) as double '
    'precision; null for anything else, including NaN and infinities. Never raises.';

revoke all on function private.fitbit_number(jsonb) from public, anon, authenticated;

grant execute on function private.fitbit_number(jsonb) to service_role;

-- Normalisers -----------------------------------------------------------------------------------

create function private.normalize_fitbit_exercise(p_payload jsonb)
returns private.normalized_activity
language plpgsql
stable
set search_path = ''
as $$
declare
    e jsonb := p_payload -> 'exercise';
    m jsonb;
    r private.normalized_activity;
    v_end timestamptz;
    v_offset double precision;
    v_active double precision;
    v_num double precision;
    v_pace double precision;
    v_device jsonb;
begin
    m := case
        when jsonb_typeof(e -> 'metricsSummary') = 'object' then e -> 'metricsSummary'
        else '{}'::jsonb
    end;
    -- The data point's resource name ends with its id; the user segment ("me" or the numeric
    -- id) must not make the same exercise look different.
    r.external_id := nullif(substring(p_payload ->> 'name' from '/dataPoints/([^/]+)$'), '');
    if r.external_id is null then
        r.error := 'google health exercise without a data point name';
        return r;
    end if;
    r.start_date := private.try_timestamptz(e #>> '{interval,startTime}');
    if r.start_date is null then
        r.error := 'google health exercise ' || r.external_id || ' without interval.startTime';
        return r;
    end if;
    v_end := private.try_timestamptz(e #>> '{interval,endTime}');

    -- Offset of local time at the start (a Duration such as "-25200s"); no IANA zone is given.
    v_offset := private.fitbit_duration_seconds(e #>> '{interval,startUtcOffset}');
    r.utc_offset := case when abs(v_offset) <= 64800 then round(v_offset) else 0 end;
    r.timezone := null;

    r.provider_activity_type := nullif(btrim(e ->> 'exerciseType'), '');
    r.activity_type := private.map_activity_type('fitbit', r.provider_activity_type);
    r.name := left(coalesce(
        nullif(btrim(e ->> 'displayName'), ''),
        initcap(replace(r.provider_activity_type, '_', ' '))
    ), 500);
    r.description := null;

    r.elapsed_time := case
        when v_end >= r.start_date and v_end - r.start_date < interval '60 days'
            then round(extract(epoch from v_end - r.start_date))
    end;
    v_active := private.fitbit_duration_seconds(e ->> 'activeDuration');
    r.moving_time := case when v_active >= 0 and v_active < 2147483647 then round(v_active) end;

    v_num := private.fitbit_number(m -> 'distanceMillimeters');
    r.distance := case when v_num >= 0 then v_num / 1000.0 end;
    v_num := private.fitbit_number(m -> 'averageSpeedMillimetersPerSecond');
    v_pace := private.fitbit_number(m -> 'averagePaceSecondsPerMeter');
    r.average_speed := case
        when v_num >= 0 then v_num / 1000.0
        when v_pace > 0 then 1.0 / v_pace
        when r.distance > 0 and r.moving_time > 0 then r.distance / r.moving_time
    end;
    r.max_speed := null;

    v_num := private.fitbit_number(m -> 'averageHeartRateBeatsPerMinute');
    r.average_heartrate := case when v_num > 0 and v_num <= 300 then v_num end;
    r.max_heartrate := null;
    r.average_watts := null;
    r.max_watts := null;
    r.weighted_average_watts := null;
    -- Steps of both feet per minute.
    v_num := private.fitbit_number(m #> '{mobilityMetrics,avgCadenceStepsPerMinute}');
    r.average_cadence := case when v_num > 0 then v_num end;
    r.max_cadence := null;
    v_num := private.fitbit_number(m -> 'elevationGainMillimeters');
    r.elevation_gain := case when v_num >= 0 then v_num / 1000.0 end;
    r.elevation_loss := null;
    v_num := private.fitbit_number(m -> 'caloriesKcal');
    r.calories := case when v_num >= 0 then v_num end;

    r.is_manual := coalesce(p_payload #>> '{dataSource,recordingMethod}' = 'MANUAL', false);
    r.is_private := false;
    v_device := p_payload #> '{dataSource,device}';
    r.device_name := left(nullif(btrim(coalesce(
        v_device ->> 'displayName',
        concat_ws(' ', v_device ->> 'manufacturer', v_device ->> 'model')
    )), ''), 200);

    r.activity_data := jsonb_strip_nulls(jsonb_build_object(
        'data_point', p_payload -> 'name',
        'steps', private.fitbit_number(m -> 'steps'),
        'active_zone_minutes', private.fitbit_number(m -> 'activeZoneMinutes'),
        'swim_lengths', private.fitbit_number(m -> 'totalSwimLengths'),
        'end_utc_offset', private.fitbit_duration_seconds(e #>> '{interval,endUtcOffset}'),
        'recording_method', p_payload #> '{dataSource,recordingMethod}',
        'has_gps', e #> '{exerciseMetadata,hasGps}'
    ));
    r.provider_updated_at := null;  -- not exposed: ingest uses the time of receipt
    r.error := null;
    return r;
end;
$$;

comment on function private.normalize_fitbit_exercise(jsonb) is
    'One Google Health API exercise data point as private.normalized_activity: id from the '
    'resource name, start from interval.startTime, utc_offset from interval.startUtcOffset '
    '(Duration "-25200s"), elapsed time from the interval, moving time from activeDuration, '
    'distance from mm to m, speed from mm/s (or pace, or distance/moving time), heart rate '
    'from its int64 string, manual when dataSource.recordingMethod is MANUAL. Pure; returns '
    'error instead of raising.';

revoke all on function private.normalize_fitbit_exercise(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_fitbit_exercise(jsonb) to service_role;

create function private.normalize_fitbit_legacy(p_payload jsonb)
returns private.normalized_activity
language plpgsql
stable
set search_path = ''
as $$
declare
    r private.normalized_activity;
    v_unit text := lower(btrim(p_payload ->> 'distanceUnit'));
    v_metres_per_unit double precision;
    v_num double precision;
    v_start text := coalesce(p_payload ->> 'startTime', p_payload ->> 'originalStartTime');
    v_name text := nullif(btrim(p_payload ->> 'activityName'), '');
    v_type_id text := case jsonb_typeof(p_payload -> 'activityTypeId')
        when 'number' then p_payload ->> 'activityTypeId'
        when 'string' then nullif(btrim(p_payload ->> 'activityTypeId'), '')
    end;
begin
    r.external_id := case jsonb_typeof(p_payload -> 'logId')
        when 'number' then p_payload ->> 'logId'
        when 'string' then nullif(btrim(p_payload ->> 'logId'), '')
    end;
    if r.external_id is null then
        r.error := 'fitbit activity log without a logId';
        return r;
    end if;
    r.start_date := private.try_timestamptz(v_start);
    r.utc_offset := private.fitbit_offset_seconds(v_start);
    if r.start_date is null or r.utc_offset is null then
        r.error := 'fitbit activity ' || r.external_id || ' without a startTime with an offset';
        return r;
    end if;
    if abs(r.utc_offset) > 64800 then
        r.error := 'fitbit activity ' || r.external_id || ' has an impossible UTC offset';
        return r;
    end if;
    r.timezone := null;

    r.name := left(v_name, 500);
    r.description := null;
    r.provider_activity_type := coalesce(v_name, v_type_id);
    -- The name first: the type ids are mis-mapped in at least one public library.
    r.activity_type := private.map_activity_type('fitbit', v_name);
    if r.activity_type = 'other' and v_type_id is not null then
        r.activity_type := private.map_activity_type('fitbit', v_type_id);
    end if;

    v_num := private.fitbit_number(p_payload -> 'duration');
    r.elapsed_time := case when v_num >= 0 and v_num < 2.1e12 then round(v_num / 1000.0) end;
    v_num := private.fitbit_number(p_payload -> 'activeDuration');
    r.moving_time := case when v_num >= 0 and v_num < 2.1e12 then round(v_num / 1000.0) end;

    -- distanceUnit follows the Accept-Language of the request: kilometres unless en_US.
    v_metres_per_unit := case v_unit
        when 'mile' then 1609.344
        when 'kilometer' then 1000.0
        when 'meter' then 1.0
        when 'yard' then 0.9144
        when 'foot' then 0.3048
        when '' then 1000.0
    end;
    if v_metres_per_unit is null then
        v_metres_per_unit := case when v_unit is null then 1000.0 end;
    end if;
    v_num := private.fitbit_number(p_payload -> 'distance');
    r.distance := case when v_num >= 0 then v_num * v_metres_per_unit end;
    v_num := private.fitbit_number(p_payload -> 'speed');  -- distance units per hour
    r.average_speed := case
        when v_num >= 0 and v_metres_per_unit is not null then v_num * v_metres_per_unit / 3600.0
        when r.distance > 0 and r.moving_time > 0 then r.distance / r.moving_time
    end;
    r.max_speed := null;

    v_num := private.fitbit_number(p_payload -> 'averageHeartRate');
    r.average_heartrate := case when v_num > 0 and v_num <= 300 then v_num end;
    r.max_heartrate := null;
    r.average_watts := null;
    r.max_watts := null;
    r.weighted_average_watts := null;
    r.average_cadence := null;
    r.max_cadence := null;
    -- Elevation follows the same locale as distance: feet when the unit is imperial.
    v_num := private.fitbit_number(p_payload -> 'elevationGain');
    r.elevation_gain := case
        when v_num >= 0 and v_unit = 'mile' then v_num * 0.3048
        when v_num >= 0 then v_num
    end;
    r.elevation_loss := null;
    v_num := private.fitbit_number(p_payload -> 'calories');
    r.calories := case when v_num >= 0 then v_num end;

    r.is_manual := coalesce(lower(p_payload ->> 'logType') = 'manual', false);
    r.is_private := false;
    r.device_name := left(nullif(btrim(p_payload #>> '{source,name}'), ''), 200);
    r.activity_data := jsonb_strip_nulls(jsonb_build_object(
        'log_type', p_payload -> 'logType',
        'activity_type_id', p_payload -> 'activityTypeId',
        'steps', private.fitbit_number(p_payload -> 'steps'),
        'distance_unit', p_payload -> 'distanceUnit',
        'source_type', p_payload #> '{source,type}',
        'tcx_link', p_payload -> 'tcxLink'
    ));
    r.provider_updated_at := private.try_timestamptz(p_payload ->> 'lastModified');
    r.error := null;
    return r;
end;
$$;

comment on function private.normalize_fitbit_legacy(jsonb) is
    'One legacy Fitbit Web API activity-log entry as private.normalized_activity: durations ms '
    'to s, distance from distanceUnit (Kilometer, Mile) to m, speed from unit/h to m/s, '
    'elevationGain from ft when the unit is imperial, UTC offset taken from startTime, manual '
    'when logType is manual, type mapped on activityName first and activityTypeId second. '
    'Pure; returns error instead of raising.';

revoke all on function private.normalize_fitbit_legacy(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_fitbit_legacy(jsonb) to service_role;

create function private.normalize_fitbit(p_payload jsonb)
returns private.normalized_activity
language plpgsql
stable
set search_path = ''
as $$
declare
    r private.normalized_activity;
begin
    if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
        r.error := 'fitbit payload is not a JSON object';
        return r;
    end if;
    if jsonb_typeof(p_payload -> 'exercise') = 'object' then
        return private.normalize_fitbit_exercise(p_payload);
    end if;
    if p_payload ? 'logId' then
        return private.normalize_fitbit_legacy(p_payload);
    end if;
    r.error := 'fitbit payload is neither a Google Health exercise data point nor a legacy '
        || 'activity log';
    return r;
end;
$$;

revoke all on function private.normalize_fitbit(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_fitbit(jsonb) to service_role;

comment on function private.normalize_fitbit(jsonb) is
    'A Fitbit connection''s activity payload as private.normalized_activity: a Google Health API '
    'exercise data point (the current API) or a legacy Fitbit Web API activity-log entry '
    '(stored before the 2026-11-02 shutdown). Pure; returns error instead of raising.';

revoke all on function private.normalize_fitbit(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_fitbit(jsonb) to service_role;

-- Registration: the ingest calls private.normalize_fitbit through the registry

select private.register_provider('fitbit', 'private.normalize_fitbit(jsonb)', false);

-- Its duplicate priority (public.provider_priorities: the lowest wins the primary role).
insert into public.provider_priorities (origin, priority, upload_origin_pattern) values
('fitbit', 50, '^fitbit');
