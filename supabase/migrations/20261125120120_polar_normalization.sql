-- Polar normalisation: Polar AccessLink's sport vocabulary mapped to the canonical activity_type,
-- and private.normalize_polar(), which turns one exercise (GET /v3/exercises item or
-- GET /v3/exercises/{id}; also the deprecated transactional API's kebab-case exercise) into
-- private.normalized_activity.
--
-- Polar quirks handled here (docs/providers.md §4 and §8):
-- - two API flavours: the current API is snake_case (start_time, heart_rate, ...), the deprecated
--   transactional API kebab-case (start-time, heart-rate, ...); both are read, and the flavour is
--   recorded in activity_data.api_flavour;
-- - start_time is LOCAL wall-clock time without an offset ("2008-10-13T10:40:02");
--   start_time_utc_offset is the offset in MINUTES: start_date = start_time - offset (UTC),
--   utc_offset = offset * 60 s; Polar gives no IANA zone;
-- - duration is an ISO 8601 duration ("PT2H44M", "PT1.5S") read by
--   private.iso8601_duration_seconds();
-- - no name, description, private or manual flag and no average speed: the name is built from
--   the sport, average_speed = distance / duration;
-- - the sport is in two fields: sport (coarse, e.g. RUNNING, OTHER) and detailed_sport_info (the
--   Polar Flow sport, e.g. ROAD_RUNNING, WATERSPORTS_WATERSKI); the detailed value wins when the
--   mapping knows it, then the coarse one, then the fallback 'other'. provider_activity_type
--   keeps the detailed value (or the coarse one when there is no detailed value).

-- Vocabulary ------------------------------------------------------------------------------------
-- Polar Flow sport names as AccessLink sends them in detailed_sport_info (Polar's AccessLink
-- documentation appendix; the list agrees across several independent integrations), plus the
-- coarse sport values. Mapping written for Trainlytics' canonical types.

insert into public.activity_type_mappings (provider, provider_value, activity_type)
values
-- coarse "sport" values (the detailed names below cover RUNNING, CYCLING, SWIMMING, WALKING ...)
('polar', 'OTHER', 'other'),
-- running and walking
('polar', 'RUNNING', 'run'),
('polar', 'ROAD_RUNNING', 'run'),
('polar', 'JOGGING', 'run'),
('polar', 'TRAIL_RUNNING', 'trail_run'),
('polar', 'CROSS_COUNTRY_RUNNING', 'trail_run'),
('polar', 'ULTRARUNNING_RUNNING', 'run'),
('polar', 'TREADMILL_RUNNING', 'treadmill_run'),
('polar', 'TRACK_AND_FIELD_RUNNING', 'track_run'),
('polar', 'ORIENTEERING', 'trail_run'),
('polar', 'OBSTACLE_COURSE_RACING', 'run'),
('polar', 'WALKING', 'walk'),
('polar', 'NORDIC_WALKING', 'walk'),
('polar', 'RUCKING', 'walk'),
('polar', 'HIKING', 'hike'),
('polar', 'SNOWSHOE_TREKKING', 'snowshoe'),
-- cycling
('polar', 'CYCLING', 'ride'),
('polar', 'ROAD_BIKING', 'ride'),
('polar', 'MOUNTAIN_BIKING', 'mountain_bike_ride'),
('polar', 'GRAVEL', 'gravel_ride'),
('polar', 'INDOOR_CYCLING', 'indoor_ride'),
('polar', 'SPINNING', 'indoor_ride'),
('polar', 'E_BIKE', 'e_bike_ride'),
('polar', 'ORIENTEERING_MTB', 'mountain_bike_ride'),
('polar', 'PARASPORTS_HAND_CYCLING', 'handcycle'),
('polar', 'KICKBIKE', 'other'),
-- swimming and multisport
('polar', 'SWIMMING', 'swim'),
('polar', 'POOL_SWIMMING', 'swim'),
('polar', 'OPEN_WATER_SWIMMING', 'open_water_swim'),
('polar', 'TRIATHLON', 'triathlon'),
('polar', 'TRIATHLON_SWIMMING', 'open_water_swim'),
('polar', 'TRIATHLON_CYCLING', 'ride'),
('polar', 'TRIATHLON_RUNNING', 'run'),
('polar', 'OFFROADTRIATHLON', 'triathlon'),
('polar', 'OFFROADTRIATHLON_SWIMMING', 'open_water_swim'),
('polar', 'OFFROADTRIATHLON_CYCLING', 'mountain_bike_ride'),
('polar', 'OFFROADTRIATHLON_RUNNING', 'trail_run'),
('polar', 'DUATHLON', 'multisport'),
('polar', 'DUATHLON_CYCLING', 'ride'),
('polar', 'DUATHLON_RUNNING', 'run'),
('polar', 'OFFROADDUATHLON', 'multisport'),
('polar', 'OFFROADDUATHLON_CYCLING', 'mountain_bike_ride'),
('polar', 'OFFROADDUATHLON_RUNNING', 'trail_run'),
('polar', 'FREE_MULTISPORT', 'multisport'),
-- water
('polar', 'ROWING', 'rowing'),
('polar', 'INDOOR_ROWING', 'virtual_row'),
('polar', 'WATERSPORTS_CANOEING', 'canoeing'),
('polar', 'WATERSPORTS_KAYAKING', 'kayaking'),
('polar', 'SUP', 'stand_up_paddling'),
('polar', 'WATERSPORTS_SURFING', 'surfing'),
('polar', 'WATERSPORTS_KITESURFING', 'kitesurf'),
('polar', 'WATERSPORTS_WINDSURFING', 'windsurf'),
('polar', 'WATERSPORTS_SAILING', 'sail'),
('polar', 'WATERSPORTS_WAKEBOARDING', 'other'),
('polar', 'WATERSPORTS_WATERSKI', 'other'),
('polar', 'PARASPORTS_WATER_SKIING', 'other'),
('polar', 'AQUATICS', 'workout'),               -- aqua fitness
('polar', 'WATER_EXERCISE', 'workout'),
('polar', 'WATER_RUNNING', 'workout'),          -- aqua jogging
-- snow and ice
('polar', 'CROSS-COUNTRY_SKIING', 'nordic_ski'),
('polar', 'XC_SKIING_CLASSIC', 'nordic_ski'),
('polar', 'XC_SKIING_FREESTYLE', 'nordic_ski'),
('polar', 'BIATHLON', 'nordic_ski'),
('polar', 'ORIENTEERING_SKI', 'nordic_ski'),
('polar', 'BACKCOUNTRY_SKIING', 'backcountry_ski'),
('polar', 'DOWNHILL_SKIING', 'alpine_ski'),
('polar', 'TELEMARK_SKIING', 'alpine_ski'),
('polar', 'SNOWBOARDING', 'snowboard'),
('polar', 'ICE_SKATING', 'ice_skate'),
('polar', 'SKATING', 'ice_skate'),
('polar', 'CURLING', 'other'),
-- wheels
('polar', 'INLINE_SKATING', 'inline_skate'),
('polar', 'ROLLER_BLADING', 'inline_skate'),
('polar', 'ROLLER_SKIING_CLASSIC', 'roller_ski'),
('polar', 'ROLLER_SKIING_FREESTYLE', 'roller_ski'),
('polar', 'SKATEBOARDING', 'skateboard'),
('polar', 'PARASPORTS_WHEELCHAIR', 'wheelchair'),
-- gym and fitness
('polar', 'STRENGTH_TRAINING', 'weight_training'),
('polar', 'KETTLEBELL', 'weight_training'),
('polar', 'CALISTHENICS', 'weight_training'),
('polar', 'LES_MILLS_BODYPUMP', 'weight_training'),
('polar', 'HIIT', 'hiit'),
('polar', 'BOOTCAMP', 'hiit'),
('polar', 'LES_MILLS_GRIT_ATHLETIC', 'hiit'),
('polar', 'LES_MILLS_GRIT_CARDIO', 'hiit'),
('polar', 'LES_MILLS_GRIT_STRENGTH', 'hiit'),
('polar', 'CROSS_TRAINER', 'elliptical'),
('polar', 'STAIR_WORKOUT', 'stair_stepper'),
('polar', 'AEROBICS', 'cardio'),
('polar', 'FITNESS_STEP', 'cardio'),
('polar', 'GROUP_EXERCISE', 'cardio'),
('polar', 'JUMP_ROPE', 'cardio'),
('polar', 'SKIERG', 'cardio'),                  -- ski machine
('polar', 'LES_MILLS_BODYATTACK', 'cardio'),
('polar', 'LES_MILLS_BODYSTEP', 'cardio'),
('polar', 'LES_MILLS_RPM', 'indoor_ride'),
('polar', 'LES_MILLS_SPRINT', 'indoor_ride'),
('polar', 'LES_MILLS_TRIP', 'indoor_ride'),
('polar', 'YOGA', 'yoga'),
('polar', 'BODY_AND_MIND', 'yoga'),
('polar', 'LES_MILLS_BODYBALANCE', 'yoga'),
('polar', 'PILATES', 'pilates'),
('polar', 'DANCING', 'dance'),
('polar', 'BALLET_DANCING', 'dance'),
('polar', 'BALLROOM_DANCING', 'dance'),
('polar', 'FITNESS_DANCING', 'dance'),
('polar', 'JAZZ_DANCING', 'dance'),
('polar', 'LATIN_DANCING', 'dance'),
('polar', 'MODERN_DANCING', 'dance'),
('polar', 'SHOW_DANCING', 'dance'),
('polar', 'STREET_DANCING', 'dance'),
('polar', 'LES_MILLS_BODYJAM', 'dance'),
('polar', 'LES_MILLS_SHBAM', 'dance'),
('polar', 'CIRCUIT_TRAINING', 'workout'),
('polar', 'CORE', 'workout'),
('polar', 'FUNCTIONAL_TRAINING', 'workout'),
('polar', 'FITNESS_RACING', 'workout'),
('polar', 'GYMNASTICK', 'workout'),             -- Polar's spelling of gymnastics
('polar', 'MOBILITY_DYNAMIC', 'workout'),
('polar', 'MOBILITY_STATIC', 'workout'),
('polar', 'STRETCHING', 'workout'),
('polar', 'LES_MILLS_BARRE', 'workout'),
('polar', 'LES_MILLS_CXWORKS', 'workout'),
('polar', 'LES_MILLS_TONE', 'workout'),
('polar', 'OTHER_INDOOR', 'other'),
('polar', 'OTHER_OUTDOOR', 'other'),
-- climbing
('polar', 'CLIMBING', 'rock_climbing'),
('polar', 'VERTICALSPORTS_WALLCLIMBING', 'rock_climbing'),
('polar', 'VERTICALSPORTS_OUTCLIMBING', 'rock_climbing'),
-- racket and team sports
('polar', 'TENNIS', 'tennis'),
('polar', 'BEACH_TENNIS', 'tennis'),
('polar', 'PARASPORTS_WHEELCHAIR_TENNIS', 'tennis'),
('polar', 'SQUASH', 'squash'),
('polar', 'BADMINTON', 'badminton'),
('polar', 'TABLE_TENNIS', 'table_tennis'),
('polar', 'PADEL', 'padel'),
('polar', 'PICKLEBALL', 'pickleball'),
('polar', 'SOCCER', 'soccer'),
('polar', 'FUTSAL', 'soccer'),
('polar', 'BASKETBALL', 'basketball'),
('polar', 'PARASPORTS_WHEELCHAIR_BASKETBALL', 'basketball'),
('polar', 'VOLLEYBALL', 'volleyball'),
('polar', 'BEACH_VOLLEYBALL', 'volleyball'),
('polar', 'CRICKET', 'cricket'),
('polar', 'ICE_HOCKEY', 'hockey'),
('polar', 'FIELD_HOCKEY', 'hockey'),
('polar', 'FLOORBALL', 'hockey'),
('polar', 'RINGETTE', 'hockey'),
('polar', 'PARASPORTS_SLED_HOCKEY', 'hockey'),
('polar', 'RUGBY', 'rugby'),
('polar', 'AMERICAN_FOOTBALL', 'other'),
('polar', 'BASEBALL', 'other'),
('polar', 'FINNISH_BASEBALL', 'other'),
('polar', 'HANDBALL', 'other'),
('polar', 'ULTIMATE', 'other'),
-- other sports
('polar', 'GOLF', 'golf'),
('polar', 'FRISBEEGOLF', 'other'),              -- disc golf
('polar', 'BOXING', 'boxing'),
('polar', 'FITNESS_BOXING', 'boxing'),
('polar', 'FITNESS_MARTIAL_ARTS', 'martial_arts'),
('polar', 'JUDO_MARTIAL_ARTS', 'martial_arts'),
('polar', 'KICKBOXING_MARTIAL_ARTS', 'martial_arts'),
('polar', 'TAEKWONDO_MARTIAL_ARTS', 'martial_arts'),
('polar', 'LES_MILLS_BODYCOMBAT', 'martial_arts'),
('polar', 'RIDING', 'horseback_riding'),
('polar', 'TROTTING', 'horseback_riding'),
('polar', 'AGILITY', 'other'),                  -- dog agility
('polar', 'ESPORTS', 'other'),
('polar', 'SHOOTING_SPORT_INDOOR', 'other'),
('polar', 'SHOOTING_SPORT_OUTDOOR', 'other'),
('polar', 'MOTORSPORTS_CAR_RACING', 'other'),
('polar', 'MOTORSPORTS_ENDURO', 'other'),
('polar', 'MOTORSPORTS_HARD_ENDURO', 'other'),
('polar', 'MOTORSPORTS_MOTOCROSS', 'other'),
('polar', 'MOTORSPORTS_ROADRACING', 'other'),
('polar', 'MOTORSPORTS_SNOCROSS', 'other'),
-- "<SPORT>_<VARIANT>" spellings that appear only in one integration's table and as examples in
-- docs/providers.md (not in Polar's sport list): kept as aliases so such payloads still map.
('polar', 'RUNNING_ROAD', 'run'),
('polar', 'RUNNING_TRAIL', 'trail_run'),
('polar', 'RUNNING_TREADMILL', 'treadmill_run'),
('polar', 'CYCLING_ROAD', 'ride'),
('polar', 'CYCLING_MOUNTAIN', 'mountain_bike_ride'),
('polar', 'CYCLING_INDOOR', 'indoor_ride'),
('polar', 'SWIMMING_POOL', 'swim'),
('polar', 'SWIMMING_OPEN_WATER', 'open_water_swim')
on conflict (provider, provider_value) do update
set activity_type = excluded.activity_type;

-- Normaliser ------------------------------------------------------------------------------------

create function private.normalize_polar(p_payload jsonb)
returns private.normalized_activity
language plpgsql
stable
parallel safe
set search_path = ''
as $$
declare
    r private.normalized_activity;
    v_kebab boolean;
    v_id jsonb;
    v_start_text text;
    v_offset_min integer;
    v_offset_known boolean;
    v_sport text;
    v_detailed text;
    v_label text;
    v_duration double precision;
    v_distance double precision;
    v_hr jsonb;
    v_hr_avg double precision;
    v_hr_max double precision;
    v_calories double precision;
begin
    if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
        r.error := 'polar exercise is not a JSON object';
        return r;
    end if;
    -- The deprecated transactional API spells every key in kebab-case.
    v_kebab := not (
        p_payload ? 'start_time' or p_payload ? 'upload_time' or p_payload ? 'heart_rate'
        or p_payload ? 'detailed_sport_info' or p_payload ? 'start_time_utc_offset'
    ) and (
        p_payload ? 'start-time' or p_payload ? 'upload-time' or p_payload ? 'heart-rate'
        or p_payload ? 'detailed-sport-info' or p_payload ? 'start-time-utc-offset'
    );

    v_id := p_payload -> 'id';
    r.external_id := case jsonb_typeof(v_id)
        when 'string' then nullif(btrim(v_id #>> '{}'), '')
        when 'number' then v_id #>> '{}'
    end;
    if r.external_id is null then
        r.error := 'polar exercise without an id';
        return r;
    end if;

    -- Start: local wall-clock time plus the offset in minutes.
    v_start_text := btrim(coalesce(p_payload ->> 'start_time', p_payload ->> 'start-time'));
    v_offset_min := private.try_int(
        coalesce(p_payload ->> 'start_time_utc_offset', p_payload ->> 'start-time-utc-offset')
    );
    v_offset_known := v_offset_min is not null;
    if v_offset_min is not null and v_offset_min not between -1080 and 1080 then
        r.error := 'polar exercise ' || r.external_id
            || ' has an out-of-range start_time_utc_offset';
        return r;
    end if;
    v_offset_min := coalesce(v_offset_min, 0);
    if v_start_text ~* '(z|[+-][0-9]{2}(:?[0-9]{2})?)$' then
        -- Not Polar's documented shape, but an explicit zone is an instant: trust it.
        r.start_date := private.try_timestamptz(v_start_text);
    else
        -- Local wall-clock time: as if it were UTC, minus the offset.
        r.start_date := (private.try_timestamp(v_start_text) at time zone 'UTC')
            - make_interval(mins => v_offset_min);
    end if;
    if r.start_date is null then
        r.error := 'polar exercise ' || r.external_id || ' without a valid start_time';
        return r;
    end if;
    r.timezone := null;  -- Polar gives an offset, never a zone name
    r.utc_offset := v_offset_min * 60;

    -- Sport: the detailed Polar Flow sport when the mapping knows it, else the coarse sport.
    v_sport := nullif(btrim(p_payload ->> 'sport'), '');
    v_detailed := nullif(btrim(coalesce(
        p_payload ->> 'detailed_sport_info', p_payload ->> 'detailed-sport-info'
    )), '');
    r.provider_activity_type := left(coalesce(v_detailed, v_sport), 200);
    r.activity_type := coalesce(
        (
            select m.activity_type
            from public.activity_type_mappings as m
            where
                m.provider = 'polar'
                and lower(m.provider_value) in (lower(v_detailed), lower(v_sport))
            order by (lower(m.provider_value) = lower(v_detailed)) desc nulls last
            limit 1
        ),
        'other'
    );
    -- No name at Polar: "Road running" from ROAD_RUNNING, "Other" from OTHER.
    v_label := btrim(regexp_replace(coalesce(v_detailed, v_sport, ''), '[_-]+', ' ', 'g'));
    r.name := left(case
        when v_label = '' then 'Polar exercise'
        else upper(left(v_label, 1)) || lower(substr(v_label, 2))
    end, 500);
    r.description := null;

    v_duration := private.iso8601_duration_seconds(p_payload ->> 'duration');
    r.elapsed_time := case
        when v_duration >= 0 and v_duration < 2147483647 then round(v_duration)
    end;
    -- Polar reports one duration, the recorded training time; no separate moving time.
    r.moving_time := null;

    v_distance := private.try_float(p_payload ->> 'distance');
    r.distance := case when v_distance >= 0 and v_distance < 'Infinity'::float8 then v_distance end;
    -- No speed at Polar: derive it.
    r.average_speed := case when r.distance > 0 and v_duration > 0 then r.distance / v_duration end;
    r.max_speed := null;

    v_hr := coalesce(p_payload -> 'heart_rate', p_payload -> 'heart-rate');
    v_hr_avg := private.try_float(case when jsonb_typeof(v_hr) = 'object' then v_hr ->> 'average' end);
    v_hr_max := private.try_float(case when jsonb_typeof(v_hr) = 'object' then v_hr ->> 'maximum' end);
    r.average_heartrate := case when v_hr_avg > 0 and v_hr_avg <= 300 then v_hr_avg end;
    r.max_heartrate := case when v_hr_max > 0 and v_hr_max <= 300 then v_hr_max end;

    -- Power and cadence exist only in samples (and the FIT file), not in the summary.
    r.average_watts := null;
    r.max_watts := null;
    r.weighted_average_watts := null;
    r.average_cadence := null;
    r.max_cadence := null;
    r.elevation_gain := null;
    r.elevation_loss := null;

    v_calories := private.try_float(p_payload ->> 'calories');  -- kcal
    r.calories := case when v_calories >= 0 and v_calories < 'Infinity'::float8 then v_calories end;

    -- Polar has neither flag: exercises are device recordings, visible to whoever may see them.
    r.is_manual := false;
    r.is_private := false;
    r.device_name := left(nullif(btrim(p_payload ->> 'device'), ''), 200);

    r.activity_data := jsonb_strip_nulls(jsonb_build_object(
        'api_flavour', case when v_kebab then 'kebab-case' else 'snake_case' end,
        'sport', v_sport,
        'detailed_sport_info', v_detailed,
        'duration', p_payload -> 'duration',
        'start_time_local', v_start_text,
        'start_time_utc_offset_missing', case when not v_offset_known then true end,
        'device_id', coalesce(p_payload -> 'device_id', p_payload -> 'device-id'),
        'upload_time', coalesce(p_payload -> 'upload_time', p_payload -> 'upload-time'),
        'has_route', coalesce(p_payload -> 'has_route', p_payload -> 'has-route'),
        'training_load', coalesce(p_payload -> 'training_load', p_payload -> 'training-load'),
        'training_load_pro', p_payload -> 'training_load_pro',
        'running_index', coalesce(p_payload -> 'running-index', p_payload -> 'running_index'),
        'club_id', coalesce(p_payload -> 'club_id', p_payload -> 'club-id'),
        'club_name', coalesce(p_payload -> 'club_name', p_payload -> 'club-name'),
        'fat_percentage', coalesce(p_payload -> 'fat_percentage', p_payload -> 'fat-percentage'),
        'carbohydrate_percentage', coalesce(
            p_payload -> 'carbohydrate_percentage', p_payload -> 'carbohydrate-percentage'
        ),
        'protein_percentage', coalesce(
            p_payload -> 'protein_percentage', p_payload -> 'protein-percentage'
        ),
        'transaction_id', p_payload -> 'transaction-id'
    ));
    -- Polar exercises do not change after upload; the upload time orders re-deliveries.
    r.provider_updated_at := private.try_timestamptz(
        coalesce(p_payload ->> 'upload_time', p_payload ->> 'upload-time')
    );
    r.error := null;
    return r;
end;
$$;

revoke all on function private.normalize_polar(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_polar(jsonb) to service_role;

comment on function private.normalize_polar(jsonb) is
    'One Polar AccessLink exercise (current snake_case API or deprecated kebab-case API) as '
    'private.normalized_activity: local start_time minus start_time_utc_offset (minutes) as the '
    'UTC start, utc_offset in s, ISO 8601 duration in s, distance in m, speed derived from '
    'distance / duration, heart_rate average/maximum in bpm, calories in kcal, activity type '
    'from detailed_sport_info then sport, a name built from the sport (Polar has none), no '
    'manual or private flag; provider_updated_at is upload_time. Pure; returns error instead '
    'of raising.';

revoke all on function private.normalize_polar(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_polar(jsonb) to service_role;

-- Registration: the ingest calls private.normalize_polar through the registry

select private.register_provider('polar', 'private.normalize_polar(jsonb)', false);

-- Its duplicate priority (public.provider_priorities: the lowest wins the primary role).
insert into public.provider_priorities (origin, priority, upload_origin_pattern) values
('polar', 30, '^polar');
