-- Strava normalisation: Strava's sport vocabulary in public.activity_type_mappings, and
-- private.normalize_strava(), which turns one Strava activity (SummaryActivity from
-- GET /athlete/activities or DetailedActivity from GET /activities/{id}) into the unified
-- activities columns (private.normalized_activity). Called through private.normalize_activity.
--
-- Strava facts relied on (shared/docs/providers.md §2 and §8):
-- - distance m, moving_time / elapsed_time s, average_speed / max_speed m/s,
--   total_elevation_gain m: already SI.
-- - start_date is UTC ("...Z"). start_date_local is the local wall-clock time but ALSO ends in
--   a misleading "Z"; it is read as a wall clock, never as an instant. timezone looks like
--   "(GMT-08:00) America/Los_Angeles": the IANA name follows the ")". utc_offset is in s.
-- - average_cadence of runs is single-leg (strides/min): doubled to steps of both feet.
-- - device_watts = false means the power figures are estimated by Strava, not measured.
-- - calories and description exist only in the detailed object.
-- - manual, private and visibility ("everyone", "followers_only", "only_me") flags.
-- - sport_type is the current vocabulary; old payloads carry only the legacy type (a strict
--   subset of the same strings).

-- Vocabulary ---------------------------------------------------------------------------------

-- Every SportType of the Strava API (56 values, stravalib 2.5.0 strava_model.py). The legacy
-- ActivityType values (37) are the same strings, so these rows cover both fields.
insert into public.activity_type_mappings (provider, provider_value, activity_type)
values
('strava', 'AlpineSki', 'alpine_ski'),
('strava', 'BackcountrySki', 'backcountry_ski'),
('strava', 'Badminton', 'badminton'),
('strava', 'Basketball', 'basketball'),
('strava', 'Canoeing', 'canoeing'),
('strava', 'Cricket', 'cricket'),
('strava', 'Crossfit', 'crossfit'),
('strava', 'Dance', 'dance'),
('strava', 'EBikeRide', 'e_bike_ride'),
('strava', 'Elliptical', 'elliptical'),
('strava', 'EMountainBikeRide', 'e_mountain_bike_ride'),
('strava', 'Golf', 'golf'),
('strava', 'GravelRide', 'gravel_ride'),
('strava', 'Handcycle', 'handcycle'),
('strava', 'HighIntensityIntervalTraining', 'hiit'),
('strava', 'Hike', 'hike'),
('strava', 'IceSkate', 'ice_skate'),
('strava', 'InlineSkate', 'inline_skate'),
('strava', 'Kayaking', 'kayaking'),
('strava', 'Kitesurf', 'kitesurf'),
('strava', 'MountainBikeRide', 'mountain_bike_ride'),
('strava', 'NordicSki', 'nordic_ski'),
('strava', 'Padel', 'padel'),
('strava', 'PhysicalTherapy', 'physical_therapy'),
('strava', 'Pickleball', 'pickleball'),
('strava', 'Pilates', 'pilates'),
('strava', 'Racquetball', 'racquetball'),
('strava', 'Ride', 'ride'),
('strava', 'RockClimbing', 'rock_climbing'),
('strava', 'RollerSki', 'roller_ski'),
('strava', 'Rowing', 'rowing'),
('strava', 'Run', 'run'),
('strava', 'Sail', 'sail'),
('strava', 'Skateboard', 'skateboard'),
('strava', 'Snowboard', 'snowboard'),
('strava', 'Snowshoe', 'snowshoe'),
('strava', 'Soccer', 'soccer'),
('strava', 'Squash', 'squash'),
('strava', 'StairStepper', 'stair_stepper'),
('strava', 'StandUpPaddling', 'stand_up_paddling'),
('strava', 'Surfing', 'surfing'),
('strava', 'Swim', 'swim'),
('strava', 'TableTennis', 'table_tennis'),
('strava', 'Tennis', 'tennis'),
('strava', 'TrailRun', 'trail_run'),
('strava', 'Velomobile', 'velomobile'),
('strava', 'VirtualRide', 'virtual_ride'),
('strava', 'VirtualRow', 'virtual_row'),
('strava', 'VirtualRun', 'virtual_run'),
('strava', 'Volleyball', 'volleyball'),
('strava', 'Walk', 'walk'),
('strava', 'WeightTraining', 'weight_training'),
('strava', 'Wheelchair', 'wheelchair'),
('strava', 'Windsurf', 'windsurf'),
('strava', 'Workout', 'workout'),
('strava', 'Yoga', 'yoga')
on conflict (provider, provider_value) do update
    set activity_type = excluded.activity_type;

-- Helpers ------------------------------------------------------------------------------------

create function private.strava_iana_timezone(p_value text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    -- "(GMT-08:00) America/Los_Angeles" -> "America/Los_Angeles"; a bare IANA name stays as
    -- it is; anything that does not look like a zone name gives null.
    select case
        when z.name ~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$'
            and char_length(z.name) <= 64
            then z.name
    end
    from (
        select btrim(
            case
                when btrim(p_value) like '(%' then substring(p_value from '\)\s*(.*)$')
                else p_value
            end
        ) as name
    ) as z
$$;
comment on function private.strava_iana_timezone(text) is
    'The IANA time-zone name in a Strava timezone string ("(GMT-08:00) America/Los_Angeles" '
    'gives America/Los_Angeles; a bare name is kept); null when nothing zone-like is there. '
    'Never raises. Service role only.';

create function private.strava_number(p_value jsonb)
returns double precision
language sql
immutable
parallel safe
set search_path = ''
as $$
    -- A JSON number (or numeric string) that is finite and >= 0; otherwise null.
    select case when v >= 0 and v < 1e38 then v end
    from (
        select private.try_float(
            case when jsonb_typeof(p_value) in ('number', 'string') then p_value #>> '{}' end
        ) as v
    ) as x
$$;
comment on function private.strava_number(jsonb) is
    'A non-negative number below 1e38 (fits real) from a JSON number or numeric string; null '
    'for anything else (negative, huge, text, object). Never raises. Service role only.';

-- The normaliser ------------------------------------------------------------------------------

create function private.normalize_strava(p_payload jsonb)
returns private.normalized_activity
language plpgsql
stable
set search_path = ''
as $$
declare
    r private.normalized_activity;
    v_sport text;
    v_legacy text;
    v_mapped public.activity_type;
    v_local timestamp;
    v_offset double precision;
    v_cadence double precision;
    v_foot boolean;
    v_visibility text;
    v_device_watts jsonb;
begin
    if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
        r.error := 'strava activity is not a JSON object';
        return r;
    end if;

    -- Identity: Strava ids are 64-bit integers (numbers in JSON; accept digit strings too).
    r.external_id := case
        when jsonb_typeof(p_payload -> 'id') in ('number', 'string')
            and (p_payload ->> 'id') ~ '^[0-9]{1,20}$'
            then p_payload ->> 'id'
    end;
    if r.external_id is null then
        r.error := 'strava activity without a numeric id';
        return r;
    end if;

    -- Start: start_date is the UTC instant. start_date_local's trailing Z is false: read it
    -- as a wall clock (the Z parsed as UTC and converted back at UTC gives the wall clock).
    r.start_date := private.try_timestamptz(p_payload ->> 'start_date');
    v_local := private.try_timestamp(
        substring(
            p_payload ->> 'start_date_local'
            from '^\s*(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)'
        )
    );
    v_offset := private.try_float(
        case
            when jsonb_typeof(p_payload -> 'utc_offset') in ('number', 'string')
                then p_payload ->> 'utc_offset'
        end
    );
    if v_offset is null or v_offset not between -64800 and 64800 then
        v_offset := null;
    end if;
    if r.start_date is null and v_local is not null and v_offset is not null then
        -- Old or partial payloads: the instant is the wall clock minus the offset.
        r.start_date := (v_local - make_interval(secs => v_offset)) at time zone 'UTC';
    end if;
    if r.start_date is null then
        r.error := 'strava activity without a valid start_date';
        return r;
    end if;
    if v_offset is null and v_local is not null then
        -- No utc_offset: the wall clock minus the UTC clock is the offset.
        v_offset := extract(epoch from v_local - (r.start_date at time zone 'UTC'));
        if v_offset not between -64800 and 64800 then
            v_offset := null;
        end if;
    end if;
    r.utc_offset := coalesce(round(v_offset)::integer, 0);
    r.timezone := private.strava_iana_timezone(p_payload ->> 'timezone');

    -- Type: sport_type (current) first, the legacy type as fallback (old payloads, or a
    -- sport_type newer than our vocabulary whose legacy type we know).
    v_sport := nullif(btrim(p_payload ->> 'sport_type'), '');
    v_legacy := nullif(btrim(p_payload ->> 'type'), '');
    r.provider_activity_type := left(coalesce(v_sport, v_legacy), 200);
    v_mapped := private.map_activity_type('strava', v_sport);
    if v_mapped = 'other' and v_legacy is not null then
        v_mapped := private.map_activity_type('strava', v_legacy);
    end if;
    -- Indoor sessions on a trainer or treadmill (trainer = true) of plain runs and rides.
    if (p_payload -> 'trainer') = 'true'::jsonb then
        v_mapped := case v_mapped
            when 'run' then 'treadmill_run'::public.activity_type
            when 'ride' then 'indoor_ride'::public.activity_type
            else v_mapped
        end;
    end if;
    r.activity_type := v_mapped;

    r.name := left(nullif(p_payload ->> 'name', ''), 500);
    r.description := left(nullif(p_payload ->> 'description', ''), 20000);

    -- Durations (s), distance (m), speeds (m/s): SI already.
    r.elapsed_time := round(nullif(
        least(private.strava_number(p_payload -> 'elapsed_time'), 2147483647), 2147483647
    ))::integer;
    r.moving_time := round(nullif(
        least(private.strava_number(p_payload -> 'moving_time'), 2147483647), 2147483647
    ))::integer;
    r.distance := private.strava_number(p_payload -> 'distance');
    r.average_speed := private.strava_number(p_payload -> 'average_speed');
    r.max_speed := private.strava_number(p_payload -> 'max_speed');

    -- Heart rate (bpm), only plausible values.
    r.average_heartrate := private.strava_number(p_payload -> 'average_heartrate');
    r.max_heartrate := private.strava_number(p_payload -> 'max_heartrate');
    if r.average_heartrate > 300 then
        r.average_heartrate := null;
    end if;
    if r.max_heartrate > 300 then
        r.max_heartrate := null;
    end if;

    -- Power (W); device_watts = false marks it as Strava's estimate (kept in activity_data).
    r.average_watts := private.strava_number(p_payload -> 'average_watts');
    r.max_watts := private.strava_number(p_payload -> 'max_watts');
    r.weighted_average_watts := private.strava_number(
        p_payload -> 'weighted_average_watts'
    );
    v_device_watts := case
        when jsonb_typeof(p_payload -> 'device_watts') = 'boolean' then p_payload -> 'device_watts'
    end;

    -- Cadence: rpm for rides; Strava's foot-sport cadence counts one leg, so it is doubled to
    -- steps of both feet per minute.
    v_foot := r.activity_type in (
        'run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run', 'walk', 'hike'
    );
    v_cadence := private.strava_number(p_payload -> 'average_cadence');
    r.average_cadence := case when v_foot then v_cadence * 2 else v_cadence end;
    r.max_cadence := null;  -- not in Strava's activity objects

    r.elevation_gain := private.strava_number(p_payload -> 'total_elevation_gain');
    r.elevation_loss := null;  -- Strava reports no total descent
    r.calories := private.strava_number(p_payload -> 'calories');  -- detail only (kcal)

    -- Flags.
    v_visibility := p_payload ->> 'visibility';
    r.is_manual := coalesce((p_payload -> 'manual') = 'true'::jsonb, false);
    r.is_private := coalesce((p_payload -> 'private') = 'true'::jsonb, false)
        or coalesce(v_visibility = 'only_me', false);

    r.device_name := left(nullif(p_payload ->> 'device_name', ''), 200);
    r.provider_updated_at := null;  -- Strava activities carry no modification time

    r.activity_data := jsonb_strip_nulls(
        jsonb_build_object(
            'sport_type', v_sport,
            'type', v_legacy,
            'resource_state', p_payload -> 'resource_state',
            'visibility', v_visibility,
            'trainer', p_payload -> 'trainer',
            'commute', p_payload -> 'commute',
            'flagged', p_payload -> 'flagged',
            'workout_type', p_payload -> 'workout_type',
            'device_watts', v_device_watts,
            'power_estimated', case
                when v_device_watts = 'false'::jsonb and r.average_watts is not null then true
            end,
            'kilojoules', p_payload -> 'kilojoules',
            'average_cadence_raw', case when v_foot then to_jsonb(v_cadence) end,
            'cadence_doubled', case when v_foot and v_cadence is not null then true end,
            'elev_high', p_payload -> 'elev_high',
            'elev_low', p_payload -> 'elev_low',
            'average_temp', p_payload -> 'average_temp',
            'has_heartrate', p_payload -> 'has_heartrate',
            'start_latlng', case
                when jsonb_typeof(p_payload -> 'start_latlng') = 'array'
                    and jsonb_array_length(p_payload -> 'start_latlng') = 2
                    then p_payload -> 'start_latlng'
            end,
            'gear_id', p_payload -> 'gear_id',
            -- The upload's origin (e.g. "garmin_ping_123"): links copies across providers.
            'external_id', p_payload -> 'external_id',
            'upload_id', p_payload -> 'upload_id_str',
            'timezone_raw', p_payload -> 'timezone'
        )
    );
    return r;
exception when others then
    -- Never raise: report the item as malformed (the page goes on).
    r := null;
    r.external_id := case
        when jsonb_typeof(p_payload) = 'object' then left(p_payload ->> 'id', 200)
    end;
    r.error := 'strava activity could not be normalised: ' || sqlerrm;
    return r;
end;
$$;
comment on function private.normalize_strava(jsonb) is
    'Normalises one raw Strava activity (SummaryActivity or DetailedActivity) into '
    'private.normalized_activity: SI units, start_date from the UTC start_date, utc_offset (s) '
    'from utc_offset or derived from start_date_local (whose trailing Z is ignored), IANA '
    'timezone from "(GMT-08:00) Area/City", sport_type mapped (legacy type as fallback; '
    'trainer runs/rides become treadmill_run/indoor_ride), foot-sport cadence doubled to steps '
    'of both feet, manual and private (private or visibility only_me) flags; estimated power '
    '(device_watts false), trainer, commute, workout_type and the upload origin go to '
    'activity_data. A malformed item comes back with error set; never raises. Service role '
    'only.';

revoke all on function private.strava_iana_timezone(text) from public, anon, authenticated;
revoke all on function private.strava_number(jsonb) from public, anon, authenticated;
revoke all on function private.normalize_strava(jsonb) from public, anon, authenticated;
grant execute on function private.strava_iana_timezone(text) to service_role;
grant execute on function private.strava_number(jsonb) to service_role;
grant execute on function private.normalize_strava(jsonb) to service_role;
