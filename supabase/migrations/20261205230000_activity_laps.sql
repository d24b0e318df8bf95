-- Laps of an activity (issue 18: the activity page shows "route map, splits per km, laps, ...").
--
-- Storage: one row per lap in public.activity_laps, as the device (FIT lap message, TCX <Lap>)
-- summarised it; every measure nullable (a device that does not record it leaves it null).
-- Writing: the streams entry points (public.ingest_activity_streams, public.ingest_file_streams)
-- accept a "laps" key beside the stream arrays: an array of objects with the keys
--   start_s           s from the activity's start to the lap's start (required)
--   elapsed_s         s of elapsed (wall clock) time in the lap
--   moving_s          s of moving (timer) time in the lap
--   distance_m        m covered in the lap
--   avg_hr, max_hr    bpm
--   avg_power_w       W
--   avg_cadence       per minute, in the unit of the streams' cadence (doubled to steps for
--                     foot sports unless the object's cadence_unit is "steps")
--   elevation_gain_m  m climbed in the lap
-- A write replaces the activity's laps (no "laps" key: no laps); an unknown key, a non-number,
-- a value outside its range or more than 1000 laps is refused with 22023 and nothing changes.
-- A write with laps and no stream arrays stores the laps and deletes the streams.
--
-- Reading (RLS): exactly as the activity's streams: the athlete; an admin or a coach with an
-- active grant who may read the activity; Strava-sourced laps the athlete's only; analysts
-- nothing.

create table public.activity_laps (
    activity_id bigint not null references public.activities (id) on delete cascade,
    lap_index smallint not null,
    user_id uuid not null references public.users (id) on delete cascade,
    source text not null,
    start_offset_s real not null,
    elapsed_s real,
    moving_s real,
    distance_m real,
    avg_heart_rate smallint,
    max_heart_rate smallint,
    avg_power_w smallint,
    avg_cadence real,
    elevation_gain_m real,
    primary key (activity_id, lap_index),
    constraint activity_laps_lap_index_range check (lap_index between 0 and 999),
    constraint activity_laps_source_known check (source ~ '^[a-z][a-z_]{0,31}$'),
    constraint activity_laps_start_offset_s_range check (
        start_offset_s > '-Infinity' and start_offset_s < 'Infinity'
        and start_offset_s between 0 and 2000000
    ),
    constraint activity_laps_elapsed_s_range check (
        elapsed_s > '-Infinity' and elapsed_s < 'Infinity' and elapsed_s between 0 and 2000000
    ),
    constraint activity_laps_moving_s_range check (
        moving_s > '-Infinity' and moving_s < 'Infinity' and moving_s between 0 and 2000000
    ),
    constraint activity_laps_distance_m_range check (
        distance_m > '-Infinity' and distance_m < 'Infinity' and distance_m between 0 and 10000000
    ),
    constraint activity_laps_avg_heart_rate_range check (avg_heart_rate between 0 and 300),
    constraint activity_laps_max_heart_rate_range check (max_heart_rate between 0 and 300),
    constraint activity_laps_avg_power_w_range check (avg_power_w between 0 and 5000),
    constraint activity_laps_avg_cadence_range check (
        avg_cadence > '-Infinity' and avg_cadence < 'Infinity' and avg_cadence between 0 and 500
    ),
    constraint activity_laps_elevation_gain_m_range check (
        elevation_gain_m > '-Infinity' and elevation_gain_m < 'Infinity'
        and elevation_gain_m between 0 and 100000
    )
);

create index activity_laps_user_id_idx on public.activity_laps (user_id);

comment on table public.activity_laps is
    'Laps of an activity as the device summarised them (FIT lap messages, TCX Lap elements), '
    'deleted with it; written only through the streams entry points (private.store_activity_laps; '
    'migration 20261205230000_activity_laps.sql documents the JSON). RLS: as the activity''s '
    'streams (athlete, admin, coach with an active grant who may read the activity), except '
    'Strava-sourced laps: the athlete only.';
comment on column public.activity_laps.lap_index is 'Position of the lap, 0 for the first.';
comment on column public.activity_laps.source is
    'Where the laps came from: file or the provider (provider_type value); strava: athlete only.';
comment on column public.activity_laps.start_offset_s is
    'Seconds from the activity''s start to the lap''s start.';
comment on column public.activity_laps.elapsed_s is 'Elapsed (wall clock) seconds of the lap.';
comment on column public.activity_laps.moving_s is 'Moving (timer) seconds of the lap.';
comment on column public.activity_laps.distance_m is 'Distance of the lap in m.';
comment on column public.activity_laps.avg_heart_rate is 'Average heart rate in bpm.';
comment on column public.activity_laps.max_heart_rate is 'Maximum heart rate in bpm.';
comment on column public.activity_laps.avg_power_w is 'Average power in W.';
comment on column public.activity_laps.avg_cadence is
    'Average cadence per minute in the unit of activities.average_cadence (steps of both feet '
    'for foot sports).';
comment on column public.activity_laps.elevation_gain_m is 'Elevation gained in the lap in m.';

alter table public.activity_laps enable row level security;

revoke all on table public.activity_laps from anon, authenticated, service_role;
grant select on table public.activity_laps to authenticated;
grant select, delete on table public.activity_laps to service_role;

create policy activity_laps_select on public.activity_laps
for select to authenticated
using (
    user_id = any(array(select private.readable_user_ids()))
    and (
        user_id = (select auth.uid())
        or (
            source <> 'strava'
            -- under the caller's RLS on activities: true only when the caller may read it
            and exists (
                select from public.activities as a
                where a.id = activity_laps.activity_id
            )
        )
    )
);
comment on policy activity_laps_select on public.activity_laps is
    'As activity_streams_select: the athlete; an admin or a coach with an active grant who may '
    'read the activity, unless the laps came from Strava (the athlete only).';

-- --- the writer ---------------------------------------------------------------------------------

create function private.store_activity_laps(
    p_activity_id bigint, p_laps jsonb, p_source text default null,
    p_cadence_unit text default 'strides'
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
    v_bad text;
begin
    select a.id, a.user_id, a.provider, a.source, a.activity_type
    into v_activity
    from public.activities as a
    where a.id = p_activity_id
    for update;
    if not found then
        raise exception 'unknown activity %', p_activity_id using errcode = '22023';
    end if;
    v_source := coalesce(p_source, v_activity.provider::text, v_activity.source::text);
    if v_source <> 'file' and not v_source = any(enum_range(null::public.provider_type)::text[])
    then
        raise exception 'unknown laps source %', v_source using errcode = '22023';
    end if;
    if (v_activity.provider is not distinct from 'strava') <> (v_source = 'strava') then
        raise exception 'laps of activity % must come from %', p_activity_id,
            coalesce(v_activity.provider::text, 'its own source') using errcode = '22023';
    end if;

    delete from public.activity_laps as l where l.activity_id = p_activity_id;
    if p_laps is null or jsonb_typeof(p_laps) = 'null' then
        return 0;
    end if;
    if jsonb_typeof(p_laps) <> 'array' then
        raise exception 'laps must be a JSON array, got %', jsonb_typeof(p_laps)
            using errcode = '22023';
    end if;
    v_count := jsonb_array_length(p_laps);
    if v_count > 1000 then
        raise exception 'at most 1000 laps, got %', v_count using errcode = '22023';
    end if;
    if jsonb_path_exists(p_laps, 'strict $[*] ? (@.type() != "object")') then
        raise exception 'laps must hold objects' using errcode = '22023';
    end if;
    select k.key into v_bad
    from jsonb_array_elements(p_laps) as e (lap)
    cross join lateral jsonb_object_keys(e.lap) as k (key)
    where k.key <> all(array[
        'start_s', 'elapsed_s', 'moving_s', 'distance_m', 'avg_hr', 'max_hr', 'avg_power_w',
        'avg_cadence', 'elevation_gain_m'
    ])
    limit 1;
    if v_bad is not null then
        raise exception 'unknown lap key %', left(v_bad, 64) using errcode = '22023';
    end if;
    if jsonb_path_exists(p_laps, 'strict $[*].* ? (@.type() != "number" && @.type() != "null")')
    then
        raise exception 'lap values must be numbers or nulls' using errcode = '22023';
    end if;
    if exists (
        select from jsonb_array_elements(p_laps) as e (lap)
        where coalesce(jsonb_typeof(e.lap -> 'start_s'), 'null') = 'null'
    ) then
        raise exception 'lap start_s is required' using errcode = '22023';
    end if;
    begin
        insert into public.activity_laps (
            activity_id, lap_index, user_id, source, start_offset_s, elapsed_s, moving_s,
            distance_m, avg_heart_rate, max_heart_rate, avg_power_w, avg_cadence,
            elevation_gain_m
        )
        select
            p_activity_id,
            (e.ord - 1)::smallint,
            v_activity.user_id,
            v_source,
            (e.lap ->> 'start_s')::real,
            (e.lap ->> 'elapsed_s')::real,
            (e.lap ->> 'moving_s')::real,
            (e.lap ->> 'distance_m')::real,
            round((e.lap ->> 'avg_hr')::numeric)::smallint,
            round((e.lap ->> 'max_hr')::numeric)::smallint,
            round((e.lap ->> 'avg_power_w')::numeric)::smallint,
            (e.lap ->> 'avg_cadence')::real
            * case
                when private.is_foot_activity(v_activity.activity_type)
                    and coalesce(p_cadence_unit, 'strides') = 'strides' then 2::real
                else 1::real
            end,
            (e.lap ->> 'elevation_gain_m')::real
        from jsonb_array_elements(p_laps) with ordinality as e (lap, ord);
    exception when check_violation or numeric_value_out_of_range then
        raise exception 'a lap holds a value out of range: %', sqlerrm using errcode = '22023';
    end;
    return v_count;
end;
$$;
comment on function private.store_activity_laps(bigint, jsonb, text, text) is
    'Replaces the laps of an activity with a JSON array of lap objects (keys documented in '
    'migration 20261205230000_activity_laps.sql); null deletes them. Source rules as '
    'private.store_activity_streams. Returns the lap count; raises 22023 naming the problem, '
    'nothing changes then. Security definer: the only writer of activity_laps, which no role '
    'may insert or update directly, so every row passes these checks.';
revoke all on function private.store_activity_laps(bigint, jsonb, text, text)
from public, anon, authenticated;
grant execute on function private.store_activity_laps(bigint, jsonb, text, text) to service_role;

create function private.store_activity_recording(
    p_activity_id bigint, p_recording jsonb, p_source text default null
)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_streams jsonb := coalesce(p_recording, '{}'::jsonb);
    v_count integer;
begin
    if jsonb_typeof(v_streams) = 'object' then
        v_streams := v_streams - 'laps';
        if (v_streams - 'cadence_unit') = '{}'::jsonb then
            v_streams := '{}'::jsonb;
        end if;
    end if;
    v_count := private.store_activity_streams(p_activity_id, v_streams, p_source);
    perform private.store_activity_laps(
        p_activity_id, p_recording -> 'laps', p_source, p_recording ->> 'cadence_unit'
    );
    return v_count;
end;
$$;
comment on function private.store_activity_recording(bigint, jsonb, text) is
    'Stores the streams (private.store_activity_streams) and the laps (its "laps" key, '
    'private.store_activity_laps) of an activity from one JSON object; both are replaced. '
    'Returns the sample count. Service role only.';
revoke all on function private.store_activity_recording(bigint, jsonb, text)
from public, anon, authenticated;
grant execute on function private.store_activity_recording(bigint, jsonb, text) to service_role;

-- The entry points now take laps too (same signatures).
create or replace function public.ingest_activity_streams(
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
        private.store_activity_recording(p_activity_id, p_streams, p_source);
end;
$$;
comment on function public.ingest_activity_streams(bigint, jsonb, text) is
    'Workers'' entry point to private.store_activity_recording: stores or replaces (empty '
    'object: deletes) the streams and laps ("laps" key) of one activity; returns the activity '
    'id and the sample count. Service role only.';

create or replace function public.ingest_file_streams(
    p_user_id uuid, p_sha256 text, p_streams jsonb
)
returns table (activity_id bigint, sample_count integer)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_id bigint;
begin
    select a.id into v_id
    from public.activities as a
    where
        a.user_id = p_user_id
        and a.connection_id is null
        and a.source = 'file'
        and a.external_id in (lower(p_sha256), left(p_sha256, 200));
    if v_id is null then
        return;  -- the file gave no activity (refused by the normaliser)
    end if;
    return query select v_id, private.store_activity_recording(v_id, p_streams, 'file');
end;
$$;
comment on function public.ingest_file_streams(uuid, text, jsonb) is
    'Stores (replaces) the streams and laps ("laps" key) of the athlete''s activity imported '
    'from the file with this SHA-256 (private.store_activity_recording, source file); no row '
    'when there is no such activity. Service role only.';
