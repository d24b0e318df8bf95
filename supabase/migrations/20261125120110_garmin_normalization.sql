-- Garmin normalisation: Garmin's activityType vocabulary in public.activity_type_mappings, and
-- private.normalize_garmin(), which turns one Garmin Connect Developer Program activity
-- (an item of an "activities" / "manuallyUpdatedActivities" push, of a pull or ping callback
-- response, or an "activityDetails" item whose metrics sit under "summary") into the unified
-- activities columns (private.normalized_activity). Registered in private.providers (end of file).
--
-- Garmin facts relied on (shared/docs/providers.md §3 and §8; the official specification is
-- partner-only, these are the fields independent integrations agree on):
-- - startTimeInSeconds is the UTC start (epoch s); startTimeOffsetInSeconds the device's offset
--   from UTC in s (an offset, not a zone: timezone stays null).
-- - durationInSeconds s, distanceInMeters m, averageSpeedInMetersPerSecond /
--   maxSpeedInMetersPerSecond m/s (pace in decimal min/km when speed is missing),
--   totalElevationGainInMeters / totalElevationLossInMeters m, activeKilocalories kcal.
-- - Cadence comes per sport: averageRunCadenceInStepsPerMinute (steps of both feet already),
--   averageBikeCadenceInRoundsPerMinute (rpm), swim strokes and wheelchair pushes likewise.
-- - manual = true for activities entered by hand. Garmin has no private flag and no
--   description.
-- - activityType is UPPER_SNAKE in the partner API (lower snake "typeKey" in Garmin Connect)
--   but not strictly: real payloads hold "BACKCOUNTRY SKIING/SNOWBOARDING".

-- Vocabulary ---------------------------------------------------------------------------------

-- Keys from the Garmin Health/Activity API appendix as quoted by integrations
-- (the-momentum/open-wearables) and Garmin Connect's activity-type keys (which the partner
-- API sends upper-cased); the lookup is case-insensitive. Values without a canonical sport
-- (diving, motor sports, flying, ...) are listed as other on purpose: known, not forgotten.
insert into public.activity_type_mappings (provider, provider_value, activity_type)
values
-- running
('garmin', 'RUNNING', 'run'),
('garmin', 'STREET_RUNNING', 'run'),
('garmin', 'OBSTACLE_RUN', 'run'),
('garmin', 'ULTRA_RUN', 'run'),
('garmin', 'TRAIL_RUNNING', 'trail_run'),
('garmin', 'TRACK_RUNNING', 'track_run'),
('garmin', 'TREADMILL_RUNNING', 'treadmill_run'),
('garmin', 'INDOOR_RUNNING', 'treadmill_run'),
('garmin', 'VIRTUAL_RUN', 'virtual_run'),
-- walking and hiking
('garmin', 'WALKING', 'walk'),
('garmin', 'CASUAL_WALKING', 'walk'),
('garmin', 'SPEED_WALKING', 'walk'),
('garmin', 'HIKING', 'hike'),
('garmin', 'RUCKING', 'hike'),
('garmin', 'MOUNTAINEERING', 'mountaineering'),
-- cycling
('garmin', 'CYCLING', 'ride'),
('garmin', 'ROAD_BIKING', 'ride'),
('garmin', 'RECUMBENT_CYCLING', 'ride'),
('garmin', 'TRACK_CYCLING', 'ride'),
('garmin', 'BMX', 'ride'),
('garmin', 'CYCLOCROSS', 'gravel_ride'),
('garmin', 'GRAVEL_CYCLING', 'gravel_ride'),
('garmin', 'MOUNTAIN_BIKING', 'mountain_bike_ride'),
('garmin', 'DOWNHILL_BIKING', 'mountain_bike_ride'),
('garmin', 'ENDURO_MTB', 'mountain_bike_ride'),
('garmin', 'INDOOR_CYCLING', 'indoor_ride'),
('garmin', 'VIRTUAL_RIDE', 'virtual_ride'),
('garmin', 'E_BIKE_FITNESS', 'e_bike_ride'),
('garmin', 'E_BIKE_MOUNTAIN', 'e_mountain_bike_ride'),
('garmin', 'E_ENDURO_MTB', 'e_mountain_bike_ride'),
('garmin', 'HANDCYCLING', 'handcycle'),
('garmin', 'HAND_CYCLING', 'handcycle'),
('garmin', 'INDOOR_HANDCYCLING', 'handcycle'),
('garmin', 'INDOOR_HAND_CYCLING', 'handcycle'),
-- swimming and multisport
('garmin', 'SWIMMING', 'swim'),
('garmin', 'LAP_SWIMMING', 'swim'),
('garmin', 'OPEN_WATER_SWIMMING', 'open_water_swim'),
('garmin', 'MULTI_SPORT', 'multisport'),
('garmin', 'TRANSITION', 'multisport'),
('garmin', 'TRANSITION_V2', 'multisport'),
('garmin', 'BIKE_TO_RUN_TRANSITION', 'multisport'),
('garmin', 'BIKE_TO_RUN_TRANSITION_V2', 'multisport'),
('garmin', 'BIKETORUNTRANSITION_V2', 'multisport'),
('garmin', 'RUN_TO_BIKE_TRANSITION', 'multisport'),
('garmin', 'RUN_TO_BIKE_TRANSITION_V2', 'multisport'),
('garmin', 'RUNTOBIKETRANSITION_V2', 'multisport'),
('garmin', 'SWIM_TO_BIKE_TRANSITION', 'multisport'),
('garmin', 'SWIM_TO_BIKE_TRANSITION_V2', 'multisport'),
('garmin', 'SWIMTOBIKETRANSITION_V2', 'multisport'),
-- gym and fitness equipment
('garmin', 'FITNESS_EQUIPMENT', 'workout'),
('garmin', 'STRENGTH_TRAINING', 'weight_training'),
('garmin', 'INDOOR_CARDIO', 'cardio'),
('garmin', 'CARDIO_TRAINING', 'cardio'),
('garmin', 'JUMP_ROPE', 'cardio'),
('garmin', 'HIIT', 'hiit'),
('garmin', 'ELLIPTICAL', 'elliptical'),
('garmin', 'STAIR_CLIMBING', 'stair_stepper'),
('garmin', 'FLOOR_CLIMBING', 'stair_stepper'),
('garmin', 'INDOOR_ROWING', 'virtual_row'),
('garmin', 'YOGA', 'yoga'),
('garmin', 'PILATES', 'pilates'),
('garmin', 'MOBILITY', 'workout'),
('garmin', 'DANCE', 'dance'),
('garmin', 'BOXING', 'boxing'),
('garmin', 'MIXED_MARTIAL_ARTS', 'martial_arts'),
('garmin', 'MEDITATION', 'other'),
('garmin', 'BREATHWORK', 'other'),
-- climbing
('garmin', 'ROCK_CLIMBING', 'rock_climbing'),
('garmin', 'INDOOR_CLIMBING', 'rock_climbing'),
('garmin', 'BOULDERING', 'rock_climbing'),
-- snow and ice ("_WS": Garmin's winter-sports family)
('garmin', 'WINTER_SPORTS', 'other'),
('garmin', 'RESORT_SKIING', 'alpine_ski'),
('garmin', 'RESORT_SKIING_SNOWBOARDING', 'alpine_ski'),
('garmin', 'RESORT_SKIING_SNOWBOARDING_WS', 'alpine_ski'),
('garmin', 'RESORT_SNOWBOARDING', 'snowboard'),
('garmin', 'SNOWBOARDING', 'snowboard'),
('garmin', 'SNOWBOARDING_WS', 'snowboard'),
('garmin', 'BACKCOUNTRY_SKIING', 'backcountry_ski'),
('garmin', 'BACKCOUNTRY_SKIING_SNOWBOARDING', 'backcountry_ski'),
('garmin', 'BACKCOUNTRY_SKIING_SNOWBOARDING_WS', 'backcountry_ski'),
('garmin', 'BACKCOUNTRY SKIING/SNOWBOARDING', 'backcountry_ski'),
('garmin', 'BACKCOUNTRY_SNOWBOARDING', 'snowboard'),
('garmin', 'CROSS_COUNTRY_SKIING', 'nordic_ski'),
('garmin', 'CROSS_COUNTRY_SKIING_WS', 'nordic_ski'),
('garmin', 'CROSS_COUNTRY_INDOOR_SKIING', 'nordic_ski'),
('garmin', 'SKATE_SKIING', 'nordic_ski'),
('garmin', 'SKATE_SKIING_WS', 'nordic_ski'),
('garmin', 'SKATING', 'ice_skate'),
('garmin', 'SKATING_WS', 'ice_skate'),
('garmin', 'SNOW_SHOE', 'snowshoe'),
('garmin', 'SNOW_SHOE_WS', 'snowshoe'),
('garmin', 'SNOWMOBILING', 'other'),
('garmin', 'SNOWMOBILING_WS', 'other'),
-- water ("_V2": Garmin's newer keys of the same sports)
('garmin', 'WATER_SPORTS', 'other'),
('garmin', 'ROWING', 'rowing'),
('garmin', 'ROWING_V2', 'rowing'),
('garmin', 'KAYAKING', 'kayaking'),
('garmin', 'KAYAKING_V2', 'kayaking'),
('garmin', 'PADDLING', 'kayaking'),
('garmin', 'PADDLING_V2', 'kayaking'),
('garmin', 'WHITEWATER_RAFTING_KAYAKING', 'kayaking'),
('garmin', 'WHITEWATER_RAFTING', 'other'),
('garmin', 'WHITEWATER_RAFTING_V2', 'other'),
('garmin', 'STAND_UP_PADDLEBOARDING', 'stand_up_paddling'),
('garmin', 'STAND_UP_PADDLEBOARDING_V2', 'stand_up_paddling'),
('garmin', 'SURFING', 'surfing'),
('garmin', 'SURFING_V2', 'surfing'),
('garmin', 'WAKESURFING', 'surfing'),
('garmin', 'KITEBOARDING', 'kitesurf'),
('garmin', 'KITEBOARDING_V2', 'kitesurf'),
('garmin', 'WIND_KITE_SURFING', 'kitesurf'),
('garmin', 'WINDSURFING', 'windsurf'),
('garmin', 'WINDSURFING_V2', 'windsurf'),
('garmin', 'SAILING', 'sail'),
('garmin', 'SAILING_V2', 'sail'),
('garmin', 'OFFSHORE_GRINDING', 'sail'),
('garmin', 'OFFSHORE_GRINDING_V2', 'sail'),
('garmin', 'ONSHORE_GRINDING', 'sail'),
('garmin', 'ONSHORE_GRINDING_V2', 'sail'),
('garmin', 'WAKEBOARDING', 'other'),
('garmin', 'WAKEBOARDING_V2', 'other'),
('garmin', 'WATERSKIING', 'other'),
('garmin', 'WATER_TUBING', 'other'),
('garmin', 'BOATING', 'other'),
('garmin', 'BOATING_V2', 'other'),
('garmin', 'FISHING', 'other'),
('garmin', 'FISHING_V2', 'other'),
('garmin', 'SNORKELING', 'other'),
('garmin', 'DIVING', 'other'),
('garmin', 'APNEA_DIVING', 'other'),
('garmin', 'APNEA_HUNTING', 'other'),
('garmin', 'POOL_APNEA', 'other'),
('garmin', 'CCR_DIVING', 'other'),
('garmin', 'GAUGE_DIVING', 'other'),
('garmin', 'MULTI_GAS_DIVING', 'other'),
('garmin', 'SINGLE_GAS_DIVING', 'other'),
-- wheels
('garmin', 'INLINE_SKATING', 'inline_skate'),
('garmin', 'WHEELCHAIR_PUSH_RUN', 'wheelchair'),
('garmin', 'WHEELCHAIR_PUSH_WALK', 'wheelchair'),
-- racket and team sports
('garmin', 'RACKET_SPORTS', 'other'),
('garmin', 'TENNIS', 'tennis'),
('garmin', 'TENNIS_V2', 'tennis'),
('garmin', 'PLATFORM_TENNIS', 'tennis'),
('garmin', 'SQUASH', 'squash'),
('garmin', 'BADMINTON', 'badminton'),
('garmin', 'TABLE_TENNIS', 'table_tennis'),
('garmin', 'PADDELBALL', 'padel'),
('garmin', 'PICKLEBALL', 'pickleball'),
('garmin', 'RACQUETBALL', 'racquetball'),
('garmin', 'TEAM_SPORTS', 'other'),
('garmin', 'SOCCER', 'soccer'),
('garmin', 'BASKETBALL', 'basketball'),
('garmin', 'VOLLEYBALL', 'volleyball'),
('garmin', 'CRICKET', 'cricket'),
('garmin', 'FIELD_HOCKEY', 'hockey'),
('garmin', 'ICE_HOCKEY', 'hockey'),
('garmin', 'RUGBY', 'rugby'),
('garmin', 'AMERICAN_FOOTBALL', 'other'),
('garmin', 'BASEBALL', 'other'),
('garmin', 'SOFTBALL', 'other'),
('garmin', 'LACROSSE', 'other'),
('garmin', 'ULTIMATE_DISC', 'other'),
-- other sports and activities
('garmin', 'GOLF', 'golf'),
('garmin', 'DISC_GOLF', 'other'),
('garmin', 'HORSEBACK_RIDING', 'horseback_riding'),
('garmin', 'ARCHERY', 'other'),
('garmin', 'HUNTING', 'other'),
('garmin', 'HUNTING_FISHING', 'other'),
('garmin', 'FLYING', 'other'),
('garmin', 'HANG_GLIDING', 'other'),
('garmin', 'SKY_DIVING', 'other'),
('garmin', 'WINGSUIT_FLYING', 'other'),
('garmin', 'RC_DRONE', 'other'),
('garmin', 'DRIVING_GENERAL', 'other'),
('garmin', 'AUTO_RACING', 'other'),
('garmin', 'MOTORCYCLING', 'other'),
('garmin', 'MOTORCYCLING_V2', 'other'),
('garmin', 'MOTOCROSS', 'other'),
('garmin', 'MOTOCROSS_V2', 'other'),
('garmin', 'ATV', 'other'),
('garmin', 'ATV_V2', 'other'),
('garmin', 'OVERLAND', 'other'),
('garmin', 'E_SPORT', 'other'),
('garmin', 'PARA_SPORTS', 'other'),
('garmin', 'STEPS', 'other'),
('garmin', 'STOP_WATCH', 'other'),
('garmin', 'SAFETY', 'other'),
('garmin', 'ASSISTANCE', 'other'),
('garmin', 'INCIDENT_DETECTED', 'other'),
('garmin', 'OTHER', 'other')
on conflict (provider, provider_value) do update
    set activity_type = excluded.activity_type;

-- Helpers ------------------------------------------------------------------------------------

create function private.garmin_number(p_value jsonb)
returns double precision
language sql
immutable
parallel safe
as $$
    -- A JSON number (or numeric string) that is >= 0 and fits a real; otherwise null.
    select case when v >= 0 and v < 1e38 then v end
    from (
        select private.try_float(
            case when jsonb_typeof(p_value) in ('number', 'string') then p_value #>> '{}' end
        ) as v
    ) as x;
$$;

comment on function private.garmin_number(jsonb) is
    'A non-negative number below 1e38 (fits real) from a JSON number or numeric string; null '
    'for anything else (negative, huge, text, object). Never raises. Service role only.';

revoke all on function private.garmin_number(jsonb) from public, anon, authenticated;

grant execute on function private.garmin_number(jsonb) to service_role;

create function private.garmin_activity_type(p_value text)
returns public.activity_type
language sql
stable
parallel safe
as $$
    -- The value as sent first; then its canonical key (upper case, every run of other
    -- characters one underscore), so "Backcountry Skiing/Snowboarding" finds
    -- BACKCOUNTRY_SKIING_SNOWBOARDING.
    select case
        when p_value is null then 'other'::public.activity_type
        when private.map_activity_type('garmin', p_value) <> 'other'
            then private.map_activity_type('garmin', p_value)
        else private.map_activity_type(
            'garmin',
            nullif(btrim(regexp_replace(upper(p_value), '[^A-Z0-9]+', '_', 'g'), '_'), '')
        )
    end;
$$;

comment on function private.garmin_activity_type(text) is
    'The canonical activity_type of a Garmin activityType: as sent (case-insensitive), else by '
    'its canonical UPPER_SNAKE key (spaces, slashes and dashes become one underscore); other '
    'when unknown. Service role only.';

revoke all on function private.garmin_activity_type(text) from public, anon, authenticated;

grant execute on function private.garmin_activity_type(text) to service_role;

-- The normaliser ------------------------------------------------------------------------------

create function private.normalize_garmin(p_payload jsonb)
returns private.normalized_activity
language plpgsql
stable
set search_path = ''
as $$
declare
    r private.normalized_activity;
    s jsonb;
    v_type text;
    v_offset double precision;
    v_pace double precision;
    v_max_pace double precision;
    v_cadence_kind text;
    v_duration double precision;
    v_moving double precision;
begin
    if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
        r.error := 'garmin activity is not a JSON object';
        return r;
    end if;
    -- activityDetails items nest the metrics under "summary"; their own keys (ids) win.
    s := case
        when jsonb_typeof(p_payload -> 'summary') = 'object'
            then (p_payload -> 'summary') || (p_payload - 'summary' - 'samples' - 'laps')
        else p_payload
    end;

    -- Identity: activityId is the activity at Garmin Connect (the same in its summary, details
    -- and manual-update items); summaryId only when no activityId is given.
    r.external_id := coalesce(
        case
            when jsonb_typeof(s -> 'activityId') in ('number', 'string')
                and (s ->> 'activityId') ~ '^[0-9]{1,20}$'
                then s ->> 'activityId'
        end,
        case
            when jsonb_typeof(s -> 'summaryId') in ('number', 'string')
                then nullif(left(btrim(s ->> 'summaryId'), 200), '')
        end
    );
    if r.external_id is null then
        r.error := 'garmin activity without an activityId or summaryId';
        return r;
    end if;

    r.start_date := private.try_epoch_seconds(
        case
            when jsonb_typeof(s -> 'startTimeInSeconds') in ('number', 'string')
                then s ->> 'startTimeInSeconds'
        end
    );
    if r.start_date is null then
        r.error := 'garmin activity without a valid startTimeInSeconds';
        return r;
    end if;
    -- An offset in s, not a zone: the time zone stays unknown.
    v_offset := private.try_float(
        case
            when jsonb_typeof(s -> 'startTimeOffsetInSeconds') in ('number', 'string')
                then s ->> 'startTimeOffsetInSeconds'
        end
    );
    r.utc_offset := case
        when v_offset between -64800 and 64800 then round(v_offset)::integer else 0
    end;
    r.timezone := null;

    v_type := nullif(btrim(s ->> 'activityType'), '');
    r.provider_activity_type := left(v_type, 200);
    r.activity_type := private.garmin_activity_type(v_type);
    r.name := left(nullif(s ->> 'activityName', ''), 500);
    r.description := null;  -- Garmin activities have no description

    -- Durations: durationInSeconds is the whole activity; a moving duration is used when the
    -- payload has one, else the duration stands in for it (noted in activity_data).
    v_duration := private.garmin_number(s -> 'durationInSeconds');
    v_moving := private.garmin_number(s -> 'movingDurationInSeconds');
    r.elapsed_time := case when v_duration < 2147483647 then round(v_duration)::integer end;
    r.moving_time := case
        when coalesce(v_moving, v_duration) < 2147483647
            then round(coalesce(v_moving, v_duration))::integer
    end;

    r.distance := private.garmin_number(s -> 'distanceInMeters');
    -- Speeds in m/s; from the pace (decimal min/km) when the speed is missing.
    v_pace := private.garmin_number(s -> 'averagePaceInMinutesPerKilometer');
    v_max_pace := private.garmin_number(s -> 'maxPaceInMinutesPerKilometer');
    r.average_speed := coalesce(
        private.garmin_number(s -> 'averageSpeedInMetersPerSecond'),
        case when v_pace > 0 then 1000.0 / (v_pace * 60.0) end
    );
    r.max_speed := coalesce(
        private.garmin_number(s -> 'maxSpeedInMetersPerSecond'),
        case when v_max_pace > 0 then 1000.0 / (v_max_pace * 60.0) end
    );

    r.average_heartrate := private.garmin_number(s -> 'averageHeartRateInBeatsPerMinute');
    r.max_heartrate := private.garmin_number(s -> 'maxHeartRateInBeatsPerMinute');
    if r.average_heartrate > 300 then
        r.average_heartrate := null;
    end if;
    if r.max_heartrate > 300 then
        r.max_heartrate := null;
    end if;

    -- Power: not in the documented summary; taken when a payload carries it.
    r.average_watts := private.garmin_number(s -> 'averagePowerInWatts');
    r.max_watts := private.garmin_number(s -> 'maxPowerInWatts');
    r.weighted_average_watts := private.garmin_number(s -> 'normalizedPowerInWatts');

    -- Cadence per sport: running steps (both feet), cycling rpm, swim strokes, wheelchair
    -- pushes — whichever the payload has, in that order.
    v_cadence_kind := case
        when s ? 'averageRunCadenceInStepsPerMinute' then 'run_steps'
        when s ? 'averageBikeCadenceInRoundsPerMinute' then 'bike_rpm'
        when s ? 'averageSwimCadenceInStrokesPerMinute' then 'swim_strokes'
        when s ? 'averagePushCadenceInPushesPerMinute' then 'wheelchair_pushes'
    end;
    r.average_cadence := case v_cadence_kind
        when 'run_steps' then private.garmin_number(s -> 'averageRunCadenceInStepsPerMinute')
        when 'bike_rpm' then private.garmin_number(s -> 'averageBikeCadenceInRoundsPerMinute')
        when 'swim_strokes'
            then private.garmin_number(s -> 'averageSwimCadenceInStrokesPerMinute')
        when 'wheelchair_pushes'
            then private.garmin_number(s -> 'averagePushCadenceInPushesPerMinute')
    end;
    r.max_cadence := case v_cadence_kind
        when 'run_steps' then private.garmin_number(s -> 'maxRunCadenceInStepsPerMinute')
        when 'bike_rpm' then private.garmin_number(s -> 'maxBikeCadenceInRoundsPerMinute')
        when 'wheelchair_pushes'
            then private.garmin_number(s -> 'maxPushCadenceInPushesPerMinute')
    end;

    r.elevation_gain := private.garmin_number(s -> 'totalElevationGainInMeters');
    r.elevation_loss := private.garmin_number(s -> 'totalElevationLossInMeters');
    -- Active kilocalories only (Garmin reports no total for activities).
    r.calories := private.garmin_number(s -> 'activeKilocalories');

    r.is_manual := coalesce((s -> 'manual') = 'true'::jsonb, false)
        or coalesce((s -> 'isManual') = 'true'::jsonb, false);
    r.is_private := false;  -- the partner API has no privacy flag
    r.device_name := left(nullif(s ->> 'deviceName', ''), 200);
    r.provider_updated_at := null;  -- no modification time in the partner API

    r.activity_data := jsonb_strip_nulls(
        jsonb_build_object(
            'summaryId', s -> 'summaryId',
            'activityType', v_type,
            'cadence_kind', v_cadence_kind,
            'calories_basis', case when r.calories is not null then 'active' end,
            'moving_time_basis', case
                when v_moving is null and v_duration is not null then 'duration'
            end,
            'steps', s -> 'steps',
            'averagePaceInMinutesPerKilometer', s -> 'averagePaceInMinutesPerKilometer',
            'maxPaceInMinutesPerKilometer', s -> 'maxPaceInMinutesPerKilometer',
            'startingLatitudeInDegree', s -> 'startingLatitudeInDegree',
            'startingLongitudeInDegree', s -> 'startingLongitudeInDegree',
            'numberOfActiveLengths', s -> 'numberOfActiveLengths',
            'averageSwimCadenceInStrokesPerMinute', case
                when v_cadence_kind <> 'swim_strokes'
                    then s -> 'averageSwimCadenceInStrokesPerMinute'
            end,
            'isParent', s -> 'isParent',
            'parentSummaryId', s -> 'parentSummaryId',
            'has_details', case when p_payload ? 'samples' or p_payload ? 'laps' then true end
        )
    );
    return r;
exception when others then
    -- Never raise: report the item as malformed (the page goes on).
    r := null;
    r.error := 'garmin activity could not be normalised: ' || sqlerrm;
    return r;
end;
$$;

revoke all on function private.normalize_garmin(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_garmin(jsonb) to service_role;

comment on function private.normalize_garmin(jsonb) is
    'Normalises one raw Garmin activity (an activities / manuallyUpdatedActivities item, a pull '
    'or ping-callback item, or an activityDetails item with its summary nested) into '
    'private.normalized_activity: external_id = activityId (else summaryId), start_date from '
    'startTimeInSeconds, utc_offset = startTimeOffsetInSeconds (s; no IANA zone), SI units '
    '(speed from pace when missing), cadence from the run (steps of both feet), bike (rpm), '
    'swim or wheelchair field, calories = activeKilocalories, manual flag (never private); '
    'activityType mapped case-insensitively and by its canonical key ("BACKCOUNTRY '
    'SKIING/SNOWBOARDING"). A malformed item comes back with error set; never raises. Service '
    'role only.';

revoke all on function private.normalize_garmin(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_garmin(jsonb) to service_role;

-- Registration: the ingest calls private.normalize_garmin through the registry

select private.register_provider('garmin', 'private.normalize_garmin(jsonb)', false);

-- Its duplicate priority (public.provider_priorities: the lowest wins the primary role).
insert into public.provider_priorities (origin, priority, upload_origin_pattern) values
('garmin', 10, '^garmin');
