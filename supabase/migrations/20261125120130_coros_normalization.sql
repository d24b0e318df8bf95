-- COROS normalisation: COROS's sport codes mapped to the canonical activity_type, and
-- private.normalize_coros(), which turns one COROS workout (an item of GET
-- /v2/coros/sport/list's data, or of a push's sportDataList) into private.normalized_activity.
--
-- COROS's partner documentation is private; what follows is what public integrations agree on
-- (docs/providers.md §5 and §8), with the uncertain points named:
-- - the sport is the pair (mode, subMode); its code is mode * 10 + subMode (8/1 -> '81');
-- - startTime and endTime are epoch seconds (UTC); startTimezone is the offset in 15-MINUTE
--   units (4 = UTC+1, 32 = UTC+8, negative west of Greenwich): utc_offset = units * 900 s;
-- - duration is in s (the timer time: moving_time); elapsed_time is endTime - startTime;
-- - distance in m, elevGain in m, avgHeartRate in bpm, avgFrequency the cadence per minute
--   (steps of both feet when running, as COROS watches display it; crank rpm on a bike);
-- - calorie is in CALORIES (small calories), not kcal: calories = calorie / 1000. Evidence: a
--   public COROS push sample's triathlon has legs of 117738 + 391220 + 248338 = 757296 for a
--   1 h 28 min swim/bike/run (757 kcal is plausible, 757296 kcal is not), and its 2200-s total
--   has 220000 (220 kcal); no public sample shows kcal-sized values;
-- - avgSpeed's unit is not documented; COROS's own Training Hub names the same field "average
--   pace" in s/km, and the public samples' values (368) fit a pace in s/km, not m/s or km/h.
--   average_speed is therefore distance / duration when both are known and 1000 / avgSpeed only
--   as a fallback; the raw value stays in activity_data.avgSpeed;
-- - zero avgHeartRate / avgFrequency means "not measured" (null); zero distance stays 0;
-- - a triathlon or multisport workout carries its legs in triathlonItemList: the legs are kept
--   in activity_data.legs (each with its sport code, canonical type, distance, duration and kcal);
-- - no name, description, private or manual flag: the name is the canonical sport's label.

-- Vocabulary ------------------------------------------------------------------------------------
-- Codes mode * 10 + subMode with COROS's sport names (c2corg/c2c_tracking's table, which keys
-- Outdoor/Indoor Run and Bike as 801/802/901/902 but every other mode as mode * 10 + subMode;
-- docs/providers.md §5). Mapping written for Trainlytics' canonical types.

insert into public.activity_type_mappings (provider, provider_value, activity_type)
values
('coros', '81', 'run'),                   -- Outdoor Run
('coros', '82', 'treadmill_run'),         -- Indoor Run
('coros', '91', 'ride'),                  -- Outdoor Bike
('coros', '92', 'indoor_ride'),           -- Indoor Bike
('coros', '101', 'open_water_swim'),      -- Open Water
('coros', '102', 'swim'),                 -- Pool Swim
('coros', '131', 'triathlon'),            -- Triathlon
('coros', '132', 'multisport'),           -- Multisport
('coros', '133', 'backcountry_ski'),      -- Ski Touring (multisport flavour)
('coros', '141', 'mountaineering'),       -- Mountain Climb
('coros', '151', 'trail_run'),            -- Trail Run
('coros', '161', 'hike'),                 -- Hike
('coros', '181', 'cardio'),               -- GPS Cardio
('coros', '182', 'cardio'),               -- Gym Cardio
('coros', '191', 'nordic_ski'),           -- XC Ski
('coros', '201', 'track_run'),            -- Track Run
('coros', '211', 'alpine_ski'),           -- Ski
('coros', '212', 'snowboard'),            -- Snowboard
('coros', '221', 'other'),                -- Pilot
('coros', '232', 'weight_training'),      -- Strength
('coros', '241', 'rowing'),               -- Rowing
('coros', '242', 'virtual_row'),          -- Indoor Rower
('coros', '251', 'kayaking'),             -- Whitewater
('coros', '261', 'kayaking'),             -- Flatwater (kayak, canoe, SUP)
('coros', '271', 'windsurf'),             -- Windsurfing
('coros', '281', 'windsurf'),             -- Speedsurfing
('coros', '291', 'backcountry_ski'),      -- Ski Touring
('coros', '311', 'walk'),                 -- Walk
('coros', '332', 'rock_climbing'),        -- Single-Pitch (climbing)
('coros', '342', 'cardio')                -- Jump Rope
on conflict (provider, provider_value) do update
set activity_type = excluded.activity_type;

-- Helpers ---------------------------------------------------------------------------------------

create function private.coros_number(p_value jsonb)
returns double precision
language sql
immutable
parallel safe
as $$
    -- COROS sends JSON numbers; tolerate numeric strings. Never raises.
    select v.x
    from (
        select case
            when jsonb_typeof(p_value) in ('number', 'string')
                then private.try_float(p_value #>> '{}')
        end as x
    ) as v
    where v.x not in ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8);
$$;

comment on function private.coros_number(jsonb) is
    'A COROS workout value (JSON number, or a numeric string) as double precision; null for '
    'null, absent, non-numeric or non-finite values. Never raises.';

revoke all on function private.coros_number(jsonb) from public, anon, authenticated;

grant execute on function private.coros_number(jsonb) to service_role;

create function private.coros_sport_code(p_item jsonb)
returns text
language sql
immutable
parallel safe
as $$
    -- mode * 10 + subMode, for integral non-negative mode and subMode only.
    select case
        when m.mode >= 0 and m.sub >= 0 and m.mode = trunc(m.mode) and m.sub = trunc(m.sub)
            and m.mode < 1e12 and m.sub < 1e12
            then (m.mode::numeric * 10 + m.sub::numeric)::text
    end
    from (
        select
            private.coros_number(p_item -> 'mode') as mode,
            private.coros_number(p_item -> 'subMode') as sub
    ) as m;
$$;

comment on function private.coros_sport_code(jsonb) is
    'The sport code of a COROS workout or triathlon leg: mode * 10 + subMode as text (mode 8, '
    'subMode 1 -> ''81''), the key of the coros rows of public.activity_type_mappings; null '
    'when mode or subMode is missing or not a non-negative integer. Never raises.';

revoke all on function private.coros_sport_code(jsonb) from public, anon, authenticated;

grant execute on function private.coros_sport_code(jsonb) to service_role;

-- Normaliser ------------------------------------------------------------------------------------

create function private.normalize_coros(p_payload jsonb)
returns private.normalized_activity
language plpgsql
stable
parallel safe
set search_path = ''
as $$
declare
    r private.normalized_activity;
    v_code text;
    v_start double precision;
    v_end double precision;
    v_tz double precision;
    v_tz_known boolean;
    v_duration double precision;
    v_distance double precision;
    v_avg_speed double precision;
    v_number double precision;
    v_legs jsonb;
    v_leg_modes double precision[];
begin
    if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
        r.error := 'coros workout is not a JSON object';
        return r;
    end if;

    r.external_id := case jsonb_typeof(p_payload -> 'labelId')
        when 'string' then nullif(btrim(p_payload ->> 'labelId'), '')
        when 'number' then p_payload ->> 'labelId'
    end;
    if r.external_id is null then
        r.error := 'coros workout without a labelId';
        return r;
    end if;

    -- Start: epoch seconds; offset in 15-minute units.
    v_start := private.coros_number(p_payload -> 'startTime');
    if v_start is null or v_start <= 0 or v_start >= 253402300800 then
        r.error := 'coros workout ' || r.external_id || ' without a valid startTime';
        return r;
    end if;
    r.start_date := to_timestamp(v_start);
    v_tz := private.coros_number(p_payload -> 'startTimezone');
    v_tz_known := v_tz is not null and v_tz between -72 and 72;
    r.timezone := null;  -- COROS gives an offset, never a zone name
    r.utc_offset := case when v_tz_known then round(v_tz * 900) else 0 end;

    -- Sport: mode * 10 + subMode.
    v_code := private.coros_sport_code(p_payload);
    r.provider_activity_type := v_code;
    r.activity_type := private.map_activity_type('coros', v_code);

    -- Legs of a triathlon / multisport workout.
    if jsonb_typeof(p_payload -> 'triathlonItemList') = 'array' then
        select
            jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                'sport_code', private.coros_sport_code(l.item),
                'activity_type', private.map_activity_type(
                    'coros', private.coros_sport_code(l.item)
                ),
                'mode', l.item -> 'mode',
                'sub_mode', l.item -> 'subMode',
                'distance', (
                    select x from (select private.coros_number(l.item -> 'distance') as x) as d
                    where x >= 0
                ),
                'duration', (
                    select x from (select private.coros_number(l.item -> 'duration') as x) as d
                    where x >= 0
                ),
                'calories', (
                    select x / 1000 from (select private.coros_number(l.item -> 'calorie') as x)
                        as d
                    where x >= 0
                ),
                'fit_url', l.item -> 'fitUrl'
            )) order by l.ord),
            array_agg(private.coros_number(l.item -> 'mode'))
        into v_legs, v_leg_modes
        from jsonb_array_elements(p_payload -> 'triathlonItemList') with ordinality as l (item, ord)
        where jsonb_typeof(l.item) = 'object';
    end if;
    -- An unknown code with swim, bike and run legs is a triathlon; with other legs, multisport.
    if r.activity_type = 'other' and not exists (
        select 1 from public.activity_type_mappings as m
        where m.provider = 'coros' and m.provider_value = v_code
    ) and v_legs is not null then
        r.activity_type := case
            when v_leg_modes @> array[8, 9, 10]::double precision[] then 'triathlon'
            else 'multisport'
        end::public.activity_type;
    end if;

    r.name := initcap(replace(r.activity_type::text, '_', ' '));
    r.description := null;

    v_duration := private.coros_number(p_payload -> 'duration');
    r.moving_time := case when v_duration >= 0 and v_duration < 2147483647 then round(v_duration) end;
    v_end := private.coros_number(p_payload -> 'endTime');
    r.elapsed_time := case
        -- The wall-clock span, when it is consistent with the timer time (and under 30 days).
        when v_end - v_start >= coalesce(v_duration, 0) and v_end - v_start <= 2592000
            then round(v_end - v_start)
        else r.moving_time
    end;

    v_distance := private.coros_number(p_payload -> 'distance');
    r.distance := case when v_distance >= 0 then v_distance end;
    v_avg_speed := private.coros_number(p_payload -> 'avgSpeed');
    r.average_speed := case
        when r.distance > 0 and v_duration > 0 then r.distance / v_duration
        when r.distance = 0 then 0
        when v_avg_speed > 0 then 1000 / v_avg_speed  -- avgSpeed read as a pace in s/km
    end;
    r.max_speed := null;

    v_number := private.coros_number(p_payload -> 'avgHeartRate');
    r.average_heartrate := case when v_number > 0 and v_number <= 300 then v_number end;
    v_number := private.coros_number(p_payload -> 'maxHeartRate');
    r.max_heartrate := case when v_number > 0 and v_number <= 300 then v_number end;
    r.average_watts := null;  -- power only in the FIT file
    r.max_watts := null;
    r.weighted_average_watts := null;
    v_number := private.coros_number(p_payload -> 'avgFrequency');
    r.average_cadence := case when v_number > 0 then v_number end;
    r.max_cadence := null;
    v_number := private.coros_number(p_payload -> 'elevGain');
    r.elevation_gain := case when v_number >= 0 then v_number end;
    r.elevation_loss := null;
    v_number := private.coros_number(p_payload -> 'calorie');
    r.calories := case when v_number >= 0 then v_number / 1000 end;  -- cal -> kcal

    -- COROS has neither flag: workouts are watch recordings.
    r.is_manual := false;
    r.is_private := false;
    r.device_name := left(nullif(btrim(p_payload ->> 'deviceName'), ''), 200);

    r.activity_data := jsonb_strip_nulls(jsonb_build_object(
        'sport_code', v_code,
        'mode', p_payload -> 'mode',
        'sub_mode', p_payload -> 'subMode',
        'start_timezone', p_payload -> 'startTimezone',
        'end_timezone', p_payload -> 'endTimezone',
        'utc_offset_unknown', case when not v_tz_known then true end,
        'avgSpeed', p_payload -> 'avgSpeed',
        'steps', p_payload -> 'step',
        'fit_url', p_payload -> 'fitUrl',
        'legs', v_legs
    ));
    r.provider_updated_at := null;  -- COROS sends no modification time
    r.error := null;
    return r;
end;
$$;

revoke all on function private.normalize_coros(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_coros(jsonb) to service_role;

comment on function private.normalize_coros(jsonb) is
    'One COROS workout (sport/list data item or push sportDataList item) as '
    'private.normalized_activity: startTime (epoch s) as the UTC start, startTimezone (15-minute '
    'units) as utc_offset in s, duration as moving_time and endTime - startTime as elapsed_time '
    '(s), distance and elevGain in m, speed as distance / duration (1000 / avgSpeed, read as a '
    'pace in s/km, as fallback), avgHeartRate in bpm, avgFrequency as cadence per minute, '
    'calorie in cal divided by 1000 to kcal, activity type from mode * 10 + subMode, '
    'triathlonItemList legs kept in activity_data.legs, name from the canonical sport. Pure; '
    'returns error instead of raising.';

revoke all on function private.normalize_coros(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_coros(jsonb) to service_role;

-- Registration: the ingest calls private.normalize_coros through the registry

select private.register_provider('coros', 'private.normalize_coros(jsonb)', false);

-- Its duplicate priority (public.provider_priorities: the lowest wins the primary role).
insert into public.provider_priorities (origin, priority, upload_origin_pattern) values
('coros', 20, '^coros');
