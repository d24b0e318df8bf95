-- Activity streams: the time series of an activity, beside it, not in the hot table (issue 18).
--
-- Storage: one row per activity in public.activity_streams, one array per channel, all arrays
-- of one row the same length (sample_count); sample i of every channel was taken at
-- time_s[i]. A channel the source does not record is null; a sample a channel missed is a
-- null element. Compact types: real (7 significant digits: 0.01 s at 24 h, 0.02 m at 200 km,
-- under 1.2 m of latitude or longitude anywhere, below GPS error) and smallint for heart rate
-- and power. A 4 h ride at 1 Hz with every channel is about 450 kB before TOAST compression,
-- read only by the pages that draw it.
--
-- Writing: private.store_activity_streams(activity_id, streams jsonb, source) is the only
-- writer; public.ingest_activity_streams is its service-role entry point for the gateway.
-- The JSON object holds equal-length arrays keyed by Strava's stream type names:
--   time             s from the start (required; non-decreasing numbers)
--   distance         m from the start (non-decreasing)
--   latlng           [lat, lon] pairs in degrees WGS84 (null pairs allowed)
--   altitude         m above sea level
--   heartrate        bpm
--   watts            W
--   cadence          per minute, as the source counts it: strides of one leg for foot sports
--                    (FIT, TCX, GPX, Strava), doubled to steps of both feet for run, trail_run,
--                    treadmill_run, track_run, virtual_run, walk and hike exactly as the summary
--                    (migration 20261205130000); crank rpm; strokes
--   velocity_smooth  m/s
--   temp             degrees Celsius
-- Optional scalar key "cadence_unit": "strides" (default, as above) or "steps" (already steps
-- of both feet: never doubled). Strava's "moving" and "grade_smooth" are accepted and ignored
-- (derived values). Any other key, a length mismatch, a non-number element, a value outside
-- its plausible range, more than 200 000 samples or more than 32 MiB of JSON is refused with
-- SQLSTATE 22023 and a message naming the key; nothing stored changes. An empty object (or
-- null) deletes the activity's streams. A new write replaces the previous streams.
--
-- Reading (RLS): the athlete; an admin; a coach with an active grant when the coach may read
-- the activity itself (not private, not Strava-sourced, primary not hidden: the activities
-- policy decides, through an EXISTS that runs under the caller's RLS). Streams whose source is
-- Strava are the athlete's only (Strava API agreement: not even admins). Analysts: nothing
-- (per-activity data; the security hardening's rule is aggregates only).

create table public.activity_streams (
    activity_id bigint primary key references public.activities (id) on delete cascade,
    user_id uuid not null references public.users (id) on delete cascade,
    source text not null,
    sample_count integer not null,
    time_s real[] not null,
    distance_m real[],
    lat real[],
    lon real[],
    altitude_m real[],
    heart_rate smallint[],
    power_w smallint[],
    cadence real[],
    speed_mps real[],
    temperature_c real[],
    stored_at timestamptz not null default now(),
    constraint activity_streams_source_known check (
        source ~ '^[a-z][a-z_]{0,31}$'
    ),
    constraint activity_streams_sample_count_range check (sample_count between 1 and 200000),
    constraint activity_streams_lengths check (
        cardinality(time_s) = sample_count
        and coalesce(cardinality(distance_m), sample_count) = sample_count
        and coalesce(cardinality(lat), sample_count) = sample_count
        and coalesce(cardinality(lon), sample_count) = sample_count
        and coalesce(cardinality(altitude_m), sample_count) = sample_count
        and coalesce(cardinality(heart_rate), sample_count) = sample_count
        and coalesce(cardinality(power_w), sample_count) = sample_count
        and coalesce(cardinality(cadence), sample_count) = sample_count
        and coalesce(cardinality(speed_mps), sample_count) = sample_count
        and coalesce(cardinality(temperature_c), sample_count) = sample_count
    ),
    constraint activity_streams_one_dimension check (
        array_ndims(time_s) = 1
        and coalesce(array_ndims(distance_m), 1) = 1
        and coalesce(array_ndims(lat), 1) = 1
        and coalesce(array_ndims(lon), 1) = 1
        and coalesce(array_ndims(altitude_m), 1) = 1
        and coalesce(array_ndims(heart_rate), 1) = 1
        and coalesce(array_ndims(power_w), 1) = 1
        and coalesce(array_ndims(cadence), 1) = 1
        and coalesce(array_ndims(speed_mps), 1) = 1
        and coalesce(array_ndims(temperature_c), 1) = 1
    ),
    constraint activity_streams_positions_paired check ((lat is null) = (lon is null))
);

create index activity_streams_user_id_idx on public.activity_streams (user_id);

comment on table public.activity_streams is
    'Time series of an activity (1:1 with activities, deleted with it): one array per channel, '
    'all of length sample_count, sample i taken at time_s[i]; a channel the source lacks is '
    'null, a missed sample a null element. Written only by private.store_activity_streams '
    '(migration 20261205210000_activity_streams.sql documents the JSON keys). RLS: as the '
    'activity (athlete, admin, coach with an active grant who may read the activity), except '
    'Strava-sourced streams: the athlete only.';
comment on column public.activity_streams.source is
    'Where the samples came from: file (an imported FIT, GPX or TCX file) or the provider '
    '(provider_type value, e.g. strava, garmin). Strava streams are shown to their athlete only.';
comment on column public.activity_streams.sample_count is
    'Number of samples: the length of every channel array (1 to 200 000).';
comment on column public.activity_streams.time_s is
    'Seconds from the start of the activity, non-decreasing (real).';
comment on column public.activity_streams.distance_m is
    'Cumulative distance from the start in m, non-decreasing; null when not recorded.';
comment on column public.activity_streams.lat is 'Latitude in degrees WGS84 (real).';
comment on column public.activity_streams.lon is 'Longitude in degrees WGS84 (real).';
comment on column public.activity_streams.altitude_m is 'Altitude above sea level in m.';
comment on column public.activity_streams.heart_rate is 'Heart rate in bpm.';
comment on column public.activity_streams.power_w is 'Power in W.';
comment on column public.activity_streams.cadence is
    'Cadence per minute in the unit of activities.average_cadence: steps of both feet for '
    'foot sports, crank revolutions for cycling, strokes for swimming and rowing.';
comment on column public.activity_streams.speed_mps is 'Speed in m/s (as the source smooths it).';
comment on column public.activity_streams.temperature_c is 'Temperature in degrees Celsius.';
comment on column public.activity_streams.stored_at is 'When these streams were written.';

alter table public.activity_streams enable row level security;

revoke all on table public.activity_streams from anon, authenticated, service_role;
grant select on table public.activity_streams to authenticated;
grant select, delete on table public.activity_streams to service_role;

create policy activity_streams_select on public.activity_streams
for select to authenticated
using (
    user_id = any(array(select private.readable_user_ids()))
    and (
        user_id = (select auth.uid())
        or (
            source <> 'strava'
            -- runs under the caller's RLS on activities: true only when the caller may read
            -- the activity (coach: not private, not Strava-sourced, primary not hidden)
            and exists (
                select from public.activities as a
                where a.id = activity_streams.activity_id
            )
        )
    )
);
comment on policy activity_streams_select on public.activity_streams is
    'The athlete reads their streams; an admin, or a coach with an active grant, reads the '
    'streams of an activity they may read (the activities policy decides) unless the streams '
    'came from Strava (Strava API agreement: the athlete only).';

-- --- the writer ---------------------------------------------------------------------------------

create function private.stream_array(p_streams jsonb, p_key text, p_count integer)
returns real[]
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
    v_value jsonb := p_streams -> p_key;
    v_result real[];
begin
    if v_value is null or jsonb_typeof(v_value) = 'null' then
        return null;
    end if;
    if jsonb_typeof(v_value) <> 'array' then
        raise exception 'stream % must be a JSON array, got %', p_key, jsonb_typeof(v_value)
            using errcode = '22023';
    end if;
    if jsonb_array_length(v_value) <> p_count then
        raise exception 'stream % has % samples, time has %',
            p_key, jsonb_array_length(v_value), p_count using errcode = '22023';
    end if;
    if jsonb_path_exists(v_value, 'strict $[*] ? (@.type() != "number" && @.type() != "null")')
    then
        raise exception 'stream % must hold numbers or nulls only', p_key using errcode = '22023';
    end if;
    -- A JSON array of numbers and nulls is an array literal once its brackets are braces.
    begin
        v_result := translate(v_value::text, '[]', '{}')::real[];
    exception when numeric_value_out_of_range then
        raise exception 'stream % holds a number out of range', p_key using errcode = '22023';
    end;
    return v_result;
end;
$$;
comment on function private.stream_array(jsonb, text, integer) is
    'The stream p_key of a streams object as a real[] of p_count elements (null when absent); '
    'raises 22023 naming the key for a non-array, a length other than p_count, an element that '
    'is neither a number nor null, or a number beyond real''s range. Service role only.';
revoke all on function private.stream_array(jsonb, text, integer) from public, anon, authenticated;

create function private.stream_check_range(
    p_key text, p_values real[], p_min real, p_max real
)
returns void
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
begin
    if p_values is not null and (p_min > any(p_values) or p_max < any(p_values)) then
        raise exception 'stream % holds a value outside [%, %]', p_key, p_min, p_max
            using errcode = '22023';
    end if;
end;
$$;
comment on function private.stream_check_range(text, real[], real, real) is
    'Raises 22023 naming the stream when an element of p_values lies outside [p_min, p_max] '
    '(null elements pass). Service role only.';
revoke all on function private.stream_check_range(text, real[], real, real)
from public, anon, authenticated;

create function private.stream_non_decreasing(p_values real[])
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select not exists (
        select
        from unnest(p_values[1:cardinality(p_values) - 1], p_values[2:]) as v (a, b)
        where v.b < v.a
    );
$$;
comment on function private.stream_non_decreasing(real[]) is
    'True when no element is smaller than the one before it (null elements are skipped only '
    'where compared with null, i.e. never fail). Service role only.';
revoke all on function private.stream_non_decreasing(real[]) from public, anon, authenticated;

create function private.store_activity_streams(
    p_activity_id bigint, p_streams jsonb, p_source text default null
)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_activity record;
    v_source text;
    v_count integer;
    v_key text;
    v_time real[];
    v_distance real[];
    v_lat real[];
    v_lon real[];
    v_altitude real[];
    v_heart_rate real[];
    v_power real[];
    v_cadence real[];
    v_speed real[];
    v_temperature real[];
    v_latlng jsonb;
begin
    select a.id, a.user_id, a.provider, a.source, a.activity_type
    into v_activity
    from public.activities as a
    where a.id = p_activity_id
    for update;
    if not found then
        raise exception 'unknown activity %', p_activity_id using errcode = '22023';
    end if;
    -- Strava's streams stay Strava's: an activity from Strava takes no other source, and no
    -- other activity is labelled strava (which would hide it from the coach for nothing).
    v_source := coalesce(p_source, v_activity.provider::text, v_activity.source::text);
    if v_source <> 'file' and not v_source = any(enum_range(null::public.provider_type)::text[])
    then
        raise exception 'unknown stream source %', v_source using errcode = '22023';
    end if;
    if (v_activity.provider is not distinct from 'strava') <> (v_source = 'strava') then
        raise exception 'streams of activity % must come from %', p_activity_id,
            coalesce(v_activity.provider::text, 'its own source') using errcode = '22023';
    end if;

    if p_streams is null or p_streams = '{}'::jsonb then
        delete from public.activity_streams as s where s.activity_id = p_activity_id;
        return 0;
    end if;
    if jsonb_typeof(p_streams) <> 'object' then
        raise exception 'streams must be a JSON object, got %', jsonb_typeof(p_streams)
            using errcode = '22023';
    end if;
    if pg_column_size(p_streams) > 32 * 1024 * 1024 then
        raise exception 'streams of activity % exceed 32 MiB of JSON', p_activity_id
            using errcode = '22023';
    end if;
    for v_key in select jsonb_object_keys(p_streams) loop
        if v_key <> all(array[
            'time', 'distance', 'latlng', 'altitude', 'heartrate', 'watts', 'cadence',
            'velocity_smooth', 'temp', 'cadence_unit', 'moving', 'grade_smooth'
        ]) then
            raise exception 'unknown stream %', left(v_key, 64) using errcode = '22023';
        end if;
    end loop;
    if jsonb_typeof(p_streams -> 'time') is distinct from 'array' then
        raise exception 'stream time (an array of seconds from the start) is required'
            using errcode = '22023';
    end if;
    v_count := jsonb_array_length(p_streams -> 'time');
    if v_count < 1 or v_count > 200000 then
        raise exception 'streams must hold 1 to 200000 samples, got %', v_count
            using errcode = '22023';
    end if;
    if coalesce(p_streams ->> 'cadence_unit', 'strides') not in ('strides', 'steps') then
        raise exception 'cadence_unit must be strides or steps' using errcode = '22023';
    end if;

    v_time := private.stream_array(p_streams, 'time', v_count);
    if array_position(v_time, null) is not null then
        raise exception 'stream time must not hold nulls' using errcode = '22023';
    end if;
    perform private.stream_check_range('time', v_time, 0, 2000000);
    if not private.stream_non_decreasing(v_time) then
        raise exception 'stream time must not decrease' using errcode = '22023';
    end if;
    v_distance := private.stream_array(p_streams, 'distance', v_count);
    perform private.stream_check_range('distance', v_distance, 0, 10000000);
    if not private.stream_non_decreasing(v_distance) then
        raise exception 'stream distance must not decrease' using errcode = '22023';
    end if;

    v_latlng := p_streams -> 'latlng';
    if v_latlng is not null and jsonb_typeof(v_latlng) <> 'null' then
        if jsonb_typeof(v_latlng) <> 'array' then
            raise exception 'stream latlng must be a JSON array' using errcode = '22023';
        end if;
        if jsonb_path_exists(
            v_latlng,
            'strict $[*] ? (@.type() != "null" && (@.type() != "array" || @.size() != 2))'
        ) then
            raise exception 'stream latlng must hold [lat, lon] pairs or nulls'
                using errcode = '22023';
        end if;
        if jsonb_array_length(v_latlng) <> v_count then
            raise exception 'stream latlng has % samples, time has %',
                jsonb_array_length(v_latlng), v_count using errcode = '22023';
        end if;
        if jsonb_path_exists(
            v_latlng, 'strict $[*] ? (@.type() == "array")[*] ? (@.type() != "number")'
        ) then
            raise exception 'stream latlng must hold [lat, lon] pairs of numbers'
                using errcode = '22023';
        end if;
        begin
            select
                array_agg((e.pair ->> 0)::real order by e.ord),
                array_agg((e.pair ->> 1)::real order by e.ord)
            into v_lat, v_lon
            from jsonb_array_elements(v_latlng) with ordinality as e (pair, ord);
        exception when numeric_value_out_of_range then
            raise exception 'stream latlng holds a number out of range' using errcode = '22023';
        end;
        perform private.stream_check_range('latlng', v_lat, -90, 90);
        perform private.stream_check_range('latlng', v_lon, -180, 180);
    end if;

    v_altitude := private.stream_array(p_streams, 'altitude', v_count);
    perform private.stream_check_range('altitude', v_altitude, -1000, 10000);
    v_heart_rate := private.stream_array(p_streams, 'heartrate', v_count);
    perform private.stream_check_range('heartrate', v_heart_rate, 0, 300);
    v_power := private.stream_array(p_streams, 'watts', v_count);
    perform private.stream_check_range('watts', v_power, 0, 5000);
    v_cadence := private.stream_array(p_streams, 'cadence', v_count);
    perform private.stream_check_range('cadence', v_cadence, 0, 500);
    if v_cadence is not null and private.is_foot_activity(v_activity.activity_type)
        and coalesce(p_streams ->> 'cadence_unit', 'strides') = 'strides' then
        v_cadence := array(
            select u.c * 2 from unnest(v_cadence) with ordinality as u (c, i) order by u.i
        );
    end if;
    v_speed := private.stream_array(p_streams, 'velocity_smooth', v_count);
    perform private.stream_check_range('velocity_smooth', v_speed, 0, 150);
    v_temperature := private.stream_array(p_streams, 'temp', v_count);
    perform private.stream_check_range('temp', v_temperature, -80, 80);

    insert into public.activity_streams as s (
        activity_id, user_id, source, sample_count, time_s, distance_m, lat, lon, altitude_m,
        heart_rate, power_w, cadence, speed_mps, temperature_c, stored_at
    ) values (
        p_activity_id, v_activity.user_id, v_source, v_count, v_time, v_distance, v_lat, v_lon,
        v_altitude, v_heart_rate::smallint[], v_power::smallint[],
        v_cadence, v_speed, v_temperature, now()
    )
    on conflict (activity_id) do update set
        user_id = excluded.user_id,
        source = excluded.source,
        sample_count = excluded.sample_count,
        time_s = excluded.time_s,
        distance_m = excluded.distance_m,
        lat = excluded.lat,
        lon = excluded.lon,
        altitude_m = excluded.altitude_m,
        heart_rate = excluded.heart_rate,
        power_w = excluded.power_w,
        cadence = excluded.cadence,
        speed_mps = excluded.speed_mps,
        temperature_c = excluded.temperature_c,
        stored_at = excluded.stored_at;
    return v_count;
end;
$$;
comment on function private.store_activity_streams(bigint, jsonb, text) is
    'Stores (replaces) the streams of an activity from a JSON object of equal-length arrays '
    'keyed by Strava stream names (time, distance, latlng, altitude, heartrate, watts, cadence, '
    'velocity_smooth, temp; migration 20261205210000_activity_streams.sql documents units, '
    'ranges and cadence_unit); an empty object or null deletes them. p_source defaults to the '
    'activity''s provider, else file; a Strava activity takes Strava streams only and vice '
    'versa. Returns the sample count (0 after a delete). Raises 22023 naming the bad key; '
    'nothing changes then. Security definer: the only writer of activity_streams, which no '
    'role may insert or update directly, so every row passes these checks.';
revoke all on function private.store_activity_streams(bigint, jsonb, text)
from public, anon, authenticated;
grant execute on function private.store_activity_streams(bigint, jsonb, text) to service_role;

create function public.ingest_activity_streams(
    p_activity_id bigint, p_streams jsonb, p_source text default null
)
returns table (activity_id bigint, sample_count integer)
language plpgsql
volatile
set search_path = ''
as $$
begin
    return query select
        p_activity_id,
        private.store_activity_streams(p_activity_id, p_streams, p_source);
end;
$$;
comment on function public.ingest_activity_streams(bigint, jsonb, text) is
    'Workers'' entry point (the gateway calls public functions) to private.store_activity_streams: '
    'stores or replaces (empty object: deletes) the streams of one activity; returns the '
    'activity id and the sample count. Service role only.';
revoke all on function public.ingest_activity_streams(bigint, jsonb, text)
from public, anon, authenticated;
grant execute on function public.ingest_activity_streams(bigint, jsonb, text) to service_role;
