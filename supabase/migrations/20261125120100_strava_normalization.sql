-- Strava normalisation: Strava's sport vocabulary in public.activity_type_mappings, and
-- private.normalize_strava(), which turns one Strava activity (SummaryActivity from
-- GET /athlete/activities or DetailedActivity from GET /activities/{id}) into the unified
-- activities columns (private.normalized_activity). Registered in private.providers (end of file).
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

-- Every function here has a SQL body (schema-qualified names) and no SET clause: the planner
-- inlines the whole normaliser into the ingest query, so a page costs no function call per item
-- or per field.

create function private.strava_zone_text(p_value text)
returns text
language sql
immutable
parallel safe
as $$
    -- What follows the "(GMT-08:00)" prefix, or the whole text, trimmed.
    select btrim(
        case
            when btrim(p_value) like '(%' then substr(p_value, strpos(p_value, ')') + 1)
            else p_value
        end
    );
$$;

revoke all on function private.strava_zone_text(text) from public, anon, authenticated;

grant execute on function private.strava_zone_text(text) to service_role;

comment on function private.strava_zone_text(text) is
    'The part of a Strava timezone string after its "(GMT+01:00)" prefix, trimmed (the whole '
    'text when there is no prefix); private.strava_zone_name validates it. Never raises. '
    'Service role only.';

create function private.strava_number(p_value jsonb)
returns double precision
language sql
immutable
parallel safe
as $$
    -- A JSON number (or numeric string) that is finite and >= 0; otherwise null. JSON numbers
    -- (the usual case) skip the text round trip; tiny magnitudes become 0 (float8 would
    -- underflow).
    select case jsonb_typeof(p_value)
        when 'number' then case
            when p_value::numeric >= 1e-300 and p_value::numeric < 1e38
                then p_value::numeric::double precision
            when p_value::numeric >= 0 and p_value::numeric < 1e-300 then 0.0::double precision
        end
        when 'string' then case
            when private.try_float(p_value #>> '{}') >= 0
                and private.try_float(p_value #>> '{}') < 1e38
                then private.try_float(p_value #>> '{}')
        end
    end;
$$;

comment on function private.strava_number(jsonb) is
    'A non-negative number below 1e38 (fits real) from a JSON number or numeric string; null '
    'for anything else (negative, huge, text, object). Never raises. Service role only.';

revoke all on function private.strava_number(jsonb) from public, anon, authenticated;

grant execute on function private.strava_number(jsonb) to service_role;

-- Strava's normaliser: each field computed once ---------------------------------------------------
-- An inlined SQL function repeats its argument's expression at every reference: the zone text
-- was extracted six times per item, and the local start time parsed though only payloads
-- without a UTC start or an offset need it.

create function private.strava_zone_name(p_zone text)
returns text
language sql
immutable
parallel safe
as $$
    -- A zone-like name (a letter first, then letters, digits, _ + - and single slashes, at most
    -- 64 characters) or null. Plain string functions: a regular expression costs more.
    select case
        when strpos(
            'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', left(p_zone, 1)
        ) > 0
            and char_length(p_zone) <= 64
            and translate(
                p_zone, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/', ''
            ) = ''
            and strpos(p_zone, '//') = 0
            and right(p_zone, 1) <> '/'
            then p_zone
    end;
$$;

comment on function private.strava_zone_name(text) is
    'The IANA time-zone name of a Strava timezone string once private.strava_zone_text has '
    'removed its "(GMT+01:00)" prefix: the text when it looks like a zone name, else null. '
    'Never raises. Service role only.';

revoke all on function private.strava_zone_name(text) from public, anon, authenticated;

grant execute on function private.strava_zone_name(text) to service_role;

create function private.strava_local_start(p_text text)
returns timestamp
language sql
immutable
parallel safe
as $$
    -- Strava's start_date_local: a wall clock with a misleading trailing Z.
    select case
        when translate(left(p_text, 20), '0123456789', '9999999999')
            in ('9999-99-99T99:99:99Z', '9999-99-99T99:99:99')
            then private.timestamp_of_fixed(p_text)
        else private.try_timestamp(
            substring(
                p_text from '^\s*(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)'
            )
        )
    end;
$$;

comment on function private.strava_local_start(text) is
    'The wall-clock time of a Strava start_date_local ("2026-11-14T09:02:11Z": the Z is '
    'ignored, the text is local time); null when it is not a time. Never raises. Service role '
    'only.';

revoke all on function private.strava_local_start(text) from public, anon, authenticated;

grant execute on function private.strava_local_start(text) to service_role;

-- Strava's normaliser: each key of the payload looked up once -------------------------------------
-- private.strava_number, inlined, repeats its argument at each of its five references: every
-- numeric field was looked up in the payload five times (jsonb key lookups were 15 % of a
-- page's normalisation, perf). An innermost subquery now reads each key once.

create function private.normalize_strava(p_payload jsonb)
returns setof private.normalized_activity
language sql
stable
parallel safe
-- Set-returning (always exactly one row) so that the planner inlines it into the ingest query;
-- the "offset 0" subqueries compute each field once per item (an inlined expression would be
-- evaluated again at every reference). Pure expressions over the payload: never raises.
as $$
    -- The columns of private.normalized_activity, in order.
    select  -- noqa: ST06
        v.external_id,
        left(nullif(v.p ->> 'name', ''), 500) as name,
        left(nullif(v.p ->> 'description', ''), 20000) as description,
        v.activity_type,
        left(coalesce(v.sport, v.legacy), 200) as provider_activity_type,
        v.start_date,
        private.strava_zone_name(v.zone) as timezone,
        coalesce(
            round(v.utc_offset)::integer,
            -- No utc_offset: the wall clock minus the UTC clock is the offset.
            case
                when extract(
                    epoch from private.strava_local_start(v.local_text)
                    - (v.start_date at time zone 'UTC')
                ) between -64800 and 64800
                    then round(
                        extract(
                            epoch from private.strava_local_start(v.local_text)
                            - (v.start_date at time zone 'UTC')
                        )
                    )::integer
            end,
            0
        ) as utc_offset,
        case when v.elapsed_time < 2147483647 then round(v.elapsed_time)::integer end
            as elapsed_time,
        case when v.moving_time < 2147483647 then round(v.moving_time)::integer end
            as moving_time,
        v.distance,
        v.average_speed,
        v.max_speed,
        -- Heart rate (bpm), only plausible values.
        case when v.average_heartrate <= 300 then v.average_heartrate end as average_heartrate,
        case when v.max_heartrate <= 300 then v.max_heartrate end as max_heartrate,
        v.average_watts,
        v.max_watts,
        v.weighted_average_watts,
        -- Strava's foot-sport cadence counts one leg: doubled to steps of both feet per minute.
        case when v.foot then v.cadence * 2 else v.cadence end as average_cadence,
        null::real as max_cadence,  -- not in Strava's activity objects
        v.elevation_gain,
        null::real as elevation_loss,  -- Strava reports no total descent
        v.calories,  -- detail only (kcal)
        coalesce(v.p -> 'manual' = 'true'::jsonb, false) as is_manual,
        coalesce(v.p -> 'private' = 'true'::jsonb, false)
        or coalesce(v.p ->> 'visibility' = 'only_me', false) as is_private,
        left(nullif(v.p ->> 'device_name', ''), 200) as device_name,
        jsonb_strip_nulls(
            jsonb_build_object(
                'sport_type', v.sport,
                'type', v.legacy,
                'resource_state', v.p -> 'resource_state',
                'visibility', v.p ->> 'visibility',
                'trainer', v.p -> 'trainer',
                'commute', v.p -> 'commute',
                'flagged', v.p -> 'flagged',
                'workout_type', v.p -> 'workout_type',
                'device_watts', v.device_watts,
                'power_estimated', case
                    when v.device_watts = 'false'::jsonb and v.average_watts is not null
                        then true
                end,
                'kilojoules', v.p -> 'kilojoules',
                'average_cadence_raw', case when v.foot then to_jsonb(v.cadence) end,
                'cadence_doubled', case when v.foot and v.cadence is not null then true end,
                'elev_high', v.p -> 'elev_high',
                'elev_low', v.p -> 'elev_low',
                'average_temp', v.p -> 'average_temp',
                'has_heartrate', v.p -> 'has_heartrate',
                'start_latlng', case
                    when jsonb_typeof(v.p -> 'start_latlng') = 'array'
                        and jsonb_array_length(v.p -> 'start_latlng') = 2
                        then v.p -> 'start_latlng'
                end,
                'gear_id', v.p -> 'gear_id',
                -- The upload's origin (e.g. "garmin_ping_123"): links copies across providers.
                'external_id', v.p -> 'external_id',
                'upload_id', v.p -> 'upload_id_str',
                'timezone_raw', v.p -> 'timezone',
                -- Only the detailed object (resource_state 3) carries description, calories
                -- and device: a list item keeps the stored ones (see public.ingest_activities).
                '_keep_stored', case
                    when v.p -> 'resource_state' is distinct from '3'::jsonb
                        then '["description", "calories", "device_name"]'::jsonb
                end
            )
        ) as activity_data,
        null::timestamptz as provider_updated_at,  -- Strava activities carry no modification time
        case
            when not v.is_object then 'strava activity is not a JSON object'
            when v.external_id is null then 'strava activity without a numeric id'
            when v.start_date is null then 'strava activity without a valid start_date'
        end as error
    from (
        select
            f.*,
            -- start_date is the UTC instant; old or partial payloads: the wall clock minus the
            -- offset (parsed only then).
            coalesce(
                f.utc_start,
                (
                    private.strava_local_start(f.local_text)
                    - make_interval(secs => f.utc_offset)
                ) at time zone 'UTC'
            ) as start_date,
            -- Indoor sessions on a trainer or treadmill (trainer = true) of plain runs/rides.
            case
                when f.trainer and f.mapped = 'run' then 'treadmill_run'::public.activity_type
                when f.trainer and f.mapped = 'ride' then 'indoor_ride'::public.activity_type
                else f.mapped
            end as activity_type,
            f.mapped in (
                'run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run', 'walk', 'hike'
            ) as foot
        from (
            select
                e.*,
                -- Strava's own shape ("2026-11-14T08:02:11Z") is cut at fixed positions;
                -- anything else goes through the general ISO 8601 parser.
                case
                    when translate(e.utc_text, '0123456789', '9999999999')
                        = '9999-99-99T99:99:99Z'
                        then private.timestamp_of_fixed(e.utc_text) at time zone 'UTC'
                    else private.try_timestamptz(e.utc_text)
                end as utc_start,
                -- sport_type (current) first; the legacy type as fallback (old payloads, or a
                -- sport_type newer than our vocabulary whose legacy type we know).
                case
                    when m_sport.activity_type <> 'other' then m_sport.activity_type
                    else coalesce(m_legacy.activity_type, 'other')
                end as mapped
            from (
                select
                    j.p,
                    coalesce(jsonb_typeof(j.p) = 'object', false) as is_object,
                    -- Strava ids are 64-bit integers (numbers in JSON; digit strings too).
                    case
                        when jsonb_typeof(j.id) in ('number', 'string')
                            and char_length(j.id_text) between 1 and 20
                            and translate(j.id_text, '0123456789', '') = ''
                            then j.id_text
                    end as external_id,
                    j.p ->> 'start_date' as utc_text,
                    j.p ->> 'start_date_local' as local_text,
                    -- The zone's text once: validating it reads it several times.
                    private.strava_zone_text(j.p ->> 'timezone') as zone,
                    case jsonb_typeof(j.utc_offset)
                        when 'number' then case
                            when (j.utc_offset)::numeric between -64800 and 64800
                                then (j.utc_offset)::numeric::double precision
                        end
                        when 'string' then case
                            when private.try_float((j.utc_offset #>> '{}'))
                                between -64800 and 64800
                                then private.try_float((j.utc_offset #>> '{}'))
                        end
                    end as utc_offset,
                    nullif(btrim(j.p ->> 'sport_type'), '') as sport,
                    nullif(btrim(j.p ->> 'type'), '') as legacy,
                    coalesce(j.p -> 'trainer' = 'true'::jsonb, false) as trainer,
                    -- Durations (s), distance (m), speeds (m/s): SI already.
                    private.strava_number(j.elapsed_time) as elapsed_time,
                    private.strava_number(j.moving_time) as moving_time,
                    private.strava_number(j.distance) as distance,
                    private.strava_number(j.average_speed) as average_speed,
                    private.strava_number(j.max_speed) as max_speed,
                    private.strava_number(j.average_heartrate) as average_heartrate,
                    private.strava_number(j.max_heartrate) as max_heartrate,
                    -- Power (W); device_watts = false marks Strava's estimate (activity_data).
                    private.strava_number(j.average_watts) as average_watts,
                    private.strava_number(j.max_watts) as max_watts,
                    private.strava_number(j.weighted_average_watts)
                        as weighted_average_watts,
                    case
                        when jsonb_typeof(j.device_watts) = 'boolean'
                            then j.device_watts
                    end as device_watts,
                    private.strava_number(j.average_cadence) as cadence,
                    private.strava_number(j.total_elevation_gain) as elevation_gain,
                    private.strava_number(j.calories) as calories
                -- Each key looked up once: an inlined function (private.strava_number) repeats
                -- its argument's expression at every reference.
                from (
                    select
                        p_payload as p,
                        p_payload -> 'id' as id,
                        p_payload ->> 'id' as id_text,
                        p_payload -> 'utc_offset' as utc_offset,
                        p_payload -> 'device_watts' as device_watts,
                        p_payload -> 'elapsed_time' as elapsed_time,
                        p_payload -> 'moving_time' as moving_time,
                        p_payload -> 'distance' as distance,
                        p_payload -> 'average_speed' as average_speed,
                        p_payload -> 'max_speed' as max_speed,
                        p_payload -> 'average_heartrate' as average_heartrate,
                        p_payload -> 'max_heartrate' as max_heartrate,
                        p_payload -> 'average_watts' as average_watts,
                        p_payload -> 'max_watts' as max_watts,
                        p_payload -> 'weighted_average_watts' as weighted_average_watts,
                        p_payload -> 'average_cadence' as average_cadence,
                        p_payload -> 'total_elevation_gain' as total_elevation_gain,
                        p_payload -> 'calories' as calories
                    from (values (1)) as one (x)
                    offset 0  -- noqa: AM09
                ) as j
                -- One row; "offset 0" keeps the subquery a barrier so each field is
                -- computed once.
                offset 0  -- noqa: AM09
            ) as e
            left join public.activity_type_mappings as m_sport
                on
                    m_sport.provider = 'strava'
                    and lower(m_sport.provider_value) = lower(e.sport)
            left join public.activity_type_mappings as m_legacy
                on
                    m_legacy.provider = 'strava'
                    and lower(m_legacy.provider_value) = lower(e.legacy)
            offset 0  -- noqa: AM09
        ) as f
    ) as v;
$$;

revoke all on function private.normalize_strava(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_strava(jsonb) to service_role;

comment on function private.normalize_strava(jsonb) is
    'Normalises one raw Strava activity (SummaryActivity or DetailedActivity) into one row of '
    'private.normalized_activity: SI units, start_date from the UTC start_date, utc_offset (s) '
    'from utc_offset or derived from start_date_local (whose trailing Z is ignored), IANA '
    'timezone from "(GMT-08:00) Area/City", sport_type mapped (legacy type as fallback; '
    'trainer runs/rides become treadmill_run/indoor_ride), foot-sport cadence doubled to steps '
    'of both feet, manual and private (private or visibility only_me) flags; estimated power '
    '(device_watts false), trainer, commute, workout_type and the upload origin go to '
    'activity_data, and a list item (not resource_state 3) lists in _keep_stored the columns '
    'only the detailed object carries. A malformed item comes back with error set; never '
    'raises. A set-returning SQL function so that the planner inlines it. Service role only.';

revoke all on function private.normalize_strava(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_strava(jsonb) to service_role;

-- Registration: the ingest calls private.normalize_strava through the registry

select private.register_provider('strava', 'private.normalize_strava(jsonb)', true);

-- Its duplicate priority (public.provider_priorities: the lowest wins the primary role).
insert into public.provider_priorities (origin, priority, upload_origin_pattern) values
('strava', 70, null);
