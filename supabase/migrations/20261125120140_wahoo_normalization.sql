-- Wahoo normalisation: the Wahoo Cloud API's workout_type_id vocabulary mapped to the canonical
-- activity_type, and private.normalize_wahoo(), which turns one workout of GET /v1/workouts (a
-- workout object with its nested workout_summary) into private.normalized_activity.
--
-- Wahoo quirks handled here (docs/providers.md §6 and §8):
-- - every summary value is a decimal string ("52891.62") or null; the workout's "minutes" is
--   often 0 in real data, so it is only a fallback when the summary is missing;
-- - "starts" is a UTC instant and Wahoo sends no time zone: utc_offset 0, timezone null;
-- - a missing sensor reads "0.0" (heart rate, power, normalised power, cadence): a zero there
--   means "not measured" and becomes null; zero distance or calories stay zero;
-- - power_bike_np_last is the normalised power of the ride: weighted_average_watts;
-- - no private flag; a manual flag only in newer summaries ("manual", read when present).

-- Vocabulary ------------------------------------------------------------------------------------
-- workout_type_id as listed by Wahoo's Cloud API documentation (ids 24, 48, 50-55 and 57-60 are
-- not assigned there). Mapping written for Trainlytics' canonical types.

insert into public.activity_type_mappings (provider, provider_value, activity_type)
values
('wahoo', '0', 'ride'),                   -- BIKING
('wahoo', '1', 'run'),                    -- RUNNING
('wahoo', '2', 'workout'),                -- FE (fitness equipment)
('wahoo', '3', 'track_run'),              -- RUNNING_TRACK
('wahoo', '4', 'trail_run'),              -- RUNNING_TRAIL
('wahoo', '5', 'treadmill_run'),          -- RUNNING_TREADMILL
('wahoo', '6', 'walk'),                   -- WALKING
('wahoo', '7', 'walk'),                   -- WALKING_SPEED
('wahoo', '8', 'walk'),                   -- WALKING_NORDIC
('wahoo', '9', 'hike'),                   -- HIKING
('wahoo', '10', 'mountaineering'),        -- MOUNTAINEERING
('wahoo', '11', 'gravel_ride'),           -- BIKING_CYCLECROSS
('wahoo', '12', 'indoor_ride'),           -- BIKING_INDOOR
('wahoo', '13', 'mountain_bike_ride'),    -- BIKING_MOUNTAIN
('wahoo', '14', 'ride'),                  -- BIKING_RECUMBENT
('wahoo', '15', 'ride'),                  -- BIKING_ROAD
('wahoo', '16', 'ride'),                  -- BIKING_TRACK
('wahoo', '17', 'other'),                 -- BIKING_MOTOCYCLING (motorcycling)
('wahoo', '18', 'workout'),               -- FE_GENERAL
('wahoo', '19', 'treadmill_run'),         -- FE_TREADMILL
('wahoo', '20', 'elliptical'),            -- FE_ELLIPTICAL
('wahoo', '21', 'indoor_ride'),           -- FE_BIKE
('wahoo', '22', 'virtual_row'),           -- FE_ROWER (rowing machine)
('wahoo', '23', 'stair_stepper'),         -- FE_CLIMBER
('wahoo', '25', 'swim'),                  -- SWIMMING_LAP
('wahoo', '26', 'open_water_swim'),       -- SWIMMING_OPEN_WATER
('wahoo', '27', 'snowboard'),             -- SNOWBOARDING
('wahoo', '28', 'alpine_ski'),            -- SKIING
('wahoo', '29', 'alpine_ski'),            -- SKIING_DOWNHILL
('wahoo', '30', 'nordic_ski'),            -- SKIING_CROSS_COUNTRY
('wahoo', '31', 'inline_skate'),          -- SKATING (outdoor)
('wahoo', '32', 'ice_skate'),             -- SKATING_ICE
('wahoo', '33', 'inline_skate'),          -- SKATING_INLINE
('wahoo', '34', 'skateboard'),            -- LONG_BOARDING
('wahoo', '35', 'sail'),                  -- SAILING
('wahoo', '36', 'windsurf'),              -- WINDSURFING
('wahoo', '37', 'canoeing'),              -- CANOEING
('wahoo', '38', 'kayaking'),              -- KAYAKING
('wahoo', '39', 'rowing'),                -- ROWING
('wahoo', '40', 'kitesurf'),              -- KITEBOARDING
('wahoo', '41', 'stand_up_paddling'),     -- STAND_UP_PADDLE_BOARD
('wahoo', '42', 'workout'),               -- WORKOUT
('wahoo', '43', 'cardio'),                -- CARDIO_CLASS
('wahoo', '44', 'stair_stepper'),         -- STAIR_CLIMBER
('wahoo', '45', 'wheelchair'),            -- WHEELCHAIR
('wahoo', '46', 'golf'),                  -- GOLFING
('wahoo', '47', 'other'),                 -- OTHER
('wahoo', '49', 'indoor_ride'),           -- BIKING_INDOOR_CYCLING_CLASS
('wahoo', '56', 'walk'),                  -- WALKING_TREADMILL
('wahoo', '61', 'indoor_ride'),           -- BIKING_INDOOR_TRAINER
('wahoo', '62', 'multisport'),            -- MULTISPORT
('wahoo', '63', 'multisport'),            -- TRANSITION (between multisport legs)
('wahoo', '64', 'e_bike_ride'),           -- EBIKING
('wahoo', '65', 'workout'),               -- TICKR_OFFLINE (heart-rate strap memory)
('wahoo', '66', 'yoga'),                  -- YOGA
('wahoo', '67', 'run'),                   -- RUNNING_RACE
('wahoo', '68', 'virtual_ride'),          -- BIKING_INDOOR_VIRTUAL
('wahoo', '69', 'other'),                 -- MENTAL_STRENGTH
('wahoo', '70', 'handcycle'),             -- HANDCYCLING
('wahoo', '71', 'virtual_run'),           -- RUNNING_INDOOR_VIRTUAL
('wahoo', '255', 'other')                 -- UNKNOWN
on conflict (provider, provider_value) do update
set activity_type = excluded.activity_type;

-- Helpers ---------------------------------------------------------------------------------------

create function private.wahoo_number(p_value jsonb)
returns double precision
language sql
immutable
parallel safe
as $$
    -- Wahoo sends decimal strings; tolerate plain JSON numbers too. Never raises.
    select v.x
    from (
        select case
            when jsonb_typeof(p_value) in ('number', 'string')
                then private.try_float(p_value #>> '{}')
        end as x
    ) as v
    where v.x not in ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8);
$$;

comment on function private.wahoo_number(jsonb) is
    'A Wahoo summary value (a decimal string such as "52891.62", or a JSON number) as double '
    'precision; null for null, absent, non-numeric or non-finite values. Never raises.';

revoke all on function private.wahoo_number(jsonb) from public, anon, authenticated;

grant execute on function private.wahoo_number(jsonb) to service_role;

create function private.normalize_wahoo(p_payload jsonb)
returns private.normalized_activity
language plpgsql
stable
set search_path = ''
as $$
declare
    -- The webhook nests the workout inside its summary; the list nests the summary inside the
    -- workout. Both shapes are accepted: the workout is the item, its summary the metrics.
    w jsonb := case
        when jsonb_typeof(p_payload -> 'workout') = 'object' then p_payload -> 'workout'
        else p_payload
    end;
    s jsonb;
    r private.normalized_activity;
    v_type text;
    v_total double precision;
    v_active double precision;
    v_distance double precision;
    v_speed double precision;
    v_token text;
    v_zone text;
    v_offset integer;
begin
    if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
        r.error := 'wahoo workout is not a JSON object';
        return r;
    end if;
    s := case
        when jsonb_typeof(w -> 'workout_summary') = 'object' then w -> 'workout_summary'
        when jsonb_typeof(p_payload -> 'workout') = 'object' then p_payload - 'workout'
        else '{}'::jsonb
    end;

    r.external_id := case jsonb_typeof(w -> 'id')
        when 'number' then w ->> 'id'
        when 'string' then nullif(btrim(w ->> 'id'), '')
    end;
    if r.external_id is null then
        r.error := 'wahoo workout without an id';
        return r;
    end if;
    r.start_date := private.try_timestamptz(w ->> 'starts');
    if r.start_date is null then
        r.error := 'wahoo workout ' || r.external_id || ' without a valid "starts"';
        return r;
    end if;
    -- "starts" is UTC; the summary's time_zone (an IANA name, e.g. "America/Toronto") gives
    -- the local clock. Without a known zone the start stays UTC (offset 0, no zone).
    v_zone := case when jsonb_typeof(s -> 'time_zone') = 'string' then btrim(s ->> 'time_zone') end;
    v_offset := private.zone_utc_offset(v_zone, r.start_date);
    r.timezone := case when v_offset is not null then v_zone end;
    r.utc_offset := coalesce(v_offset, 0);

    r.name := left(nullif(btrim(w ->> 'name'), ''), 500);
    r.description := null;
    v_type := case jsonb_typeof(w -> 'workout_type_id')
        when 'number' then w ->> 'workout_type_id'
        when 'string' then nullif(btrim(w ->> 'workout_type_id'), '')
    end;
    r.provider_activity_type := v_type;
    r.activity_type := private.map_activity_type('wahoo', v_type);

    v_total := private.wahoo_number(s -> 'duration_total_accum');
    v_active := private.wahoo_number(s -> 'duration_active_accum');
    if v_total is null and private.wahoo_number(w -> 'minutes') > 0 then
        v_total := private.wahoo_number(w -> 'minutes') * 60;
    end if;
    r.elapsed_time := case when v_total >= 0 and v_total < 2147483647 then round(v_total) end;
    r.moving_time := case
        when v_active >= 0 and v_active < 2147483647 then round(v_active)
    end;

    v_distance := private.wahoo_number(s -> 'distance_accum');
    r.distance := case when v_distance >= 0 then v_distance end;
    v_speed := private.wahoo_number(s -> 'speed_avg');
    r.average_speed := case
        when v_speed >= 0 then v_speed
        when r.distance > 0 and r.moving_time > 0 then r.distance / r.moving_time
    end;
    r.max_speed := null;  -- not in the workout summary

    r.average_heartrate := (
        select x from (select private.wahoo_number(s -> 'heart_rate_avg') as x) as v
        where x > 0 and x <= 300
    );
    r.max_heartrate := null;
    r.average_watts := nullif(greatest(private.wahoo_number(s -> 'power_avg'), 0), 0);
    r.max_watts := null;
    r.weighted_average_watts := nullif(
        greatest(private.wahoo_number(s -> 'power_bike_np_last'), 0), 0
    );
    r.average_cadence := nullif(greatest(private.wahoo_number(s -> 'cadence_avg'), 0), 0);
    r.max_cadence := null;
    r.elevation_gain := (
        select x from (select private.wahoo_number(s -> 'ascent_accum') as x) as v where x >= 0
    );
    r.elevation_loss := null;
    r.calories := (
        select x from (select private.wahoo_number(s -> 'calories_accum') as x) as v where x >= 0
    );

    r.is_manual := case
        when jsonb_typeof(s -> 'manual') = 'boolean' then (s ->> 'manual')::boolean
        else false
    end;
    r.is_private := false;
    -- workout_token is "<device name>:<workout counter>" for ELEMNT/KICKR recordings.
    v_token := w ->> 'workout_token';
    r.device_name := case
        when v_token ~ '^.+:[0-9]+$' then left(btrim(substring(v_token from '^(.+):[0-9]+$')), 200)
    end;

    r.activity_data := jsonb_strip_nulls(jsonb_build_object(
        'workout_summary_id', s -> 'id',
        'plan_id', w -> 'plan_id',
        'workout_token', w -> 'workout_token',
        'tss', private.wahoo_number(s -> 'power_bike_tss_last'),
        'work_joules', private.wahoo_number(s -> 'work_accum'),
        'duration_paused', private.wahoo_number(s -> 'duration_paused_accum'),
        'time_zone', s -> 'time_zone',
        'fit_url', s #> '{file,url}'
    ));
    r.provider_updated_at := (
        select max(t) from unnest(array[
            private.try_timestamptz(w ->> 'updated_at'),
            private.try_timestamptz(s ->> 'updated_at')
        ]) as t
    );
    r.error := null;
    return r;
end;
$$;

revoke all on function private.normalize_wahoo(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_wahoo(jsonb) to service_role;

revoke all on function private.normalize_wahoo(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_wahoo(jsonb) to service_role;

comment on function private.normalize_wahoo(jsonb) is
    'One Wahoo workout (GET /v1/workouts item: the workout with its workout_summary; or the '
    'webhook''s workout_summary with its nested workout) as private.normalized_activity: '
    'decimal strings to numbers, UTC start with the summary''s IANA time_zone as timezone and '
    'its offset at the start as utc_offset (no or unknown zone: offset 0, no timezone), '
    'durations in s, distance in m, speed in m/s, power_bike_np_last as weighted average power, '
    'zero heart rate/power/cadence as not measured, provider_updated_at the later of the '
    'workout''s and summary''s updated_at. Pure; returns error instead of raising.';

-- Registration: the ingest calls private.normalize_wahoo through the registry

select private.register_provider('wahoo', 'private.normalize_wahoo(jsonb)', false);

-- Its duplicate priority (public.provider_priorities: the lowest wins the primary role).
insert into public.provider_priorities (origin, priority, upload_origin_pattern) values
('wahoo', 40, '^wahoo');
