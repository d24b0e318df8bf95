-- Activity time zones (issue 15), and the foot-sport cadence rule.
--
-- Python finds the IANA zone of a start position with an offline boundary library (tzfpy);
-- the database turns a zone into the offset at the start instant (private.zone_utc_offset, DST
-- included). Rows that lack a zone - provider rows with a start position but no zone (Garmin),
-- files without a position - are found by public.activity_timezone_candidates and set,
-- set-based, by public.set_activity_timezones: the zone of the position, else the athlete's
-- preferences.timezone. The rollups follow: start_date_local is generated from utc_offset, and
-- the rollup update trigger moves every row whose start_date_local changed.
--
-- Cadence: for run, trail_run, treadmill_run, track_run, virtual_run, walk and hike
-- (private.is_foot_activity) the normalisers count steps of both feet.
--
-- A file of its own (version trainlytics.migrations.TIMEZONES_MIGRATION): applying it derives
-- the zone of every activity stored before it, once, by every migration path.

create function private.zone_utc_offset(p_zone text, p_at timestamptz)
returns integer
language plpgsql
stable
parallel safe
set search_path = ''
as $$
begin
    -- A zone name: a letter, then letters, digits, _ + - and up to three more /-parts.
    if p_zone is null or p_at is null
        or p_zone !~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,3}$' then
        return null;
    end if;
    return extract(epoch from (p_at at time zone p_zone) - (p_at at time zone 'UTC'))::integer;
exception when others then
    return null;  -- a well-formed name the server does not know
end;
$$;

-- Privileges: worker functions run as service_role only ---------------------------------------

revoke all on function private.zone_utc_offset(text, timestamptz) from public, anon, authenticated;

grant execute on function private.zone_utc_offset(text, timestamptz) to service_role;

comment on function private.zone_utc_offset(text, timestamptz) is
    'Offset in s (east positive) of the IANA zone p_zone at the instant p_at, daylight saving '
    'time included (the server''s time-zone database); null for a name that is not a zone. '
    'Never raises. Service role only.';

revoke all on function private.zone_utc_offset(text, timestamptz) from public, anon, authenticated;

grant execute on function private.zone_utc_offset(text, timestamptz) to service_role;

-- Foot sports count steps of both feet -----------------------------------------------------------

create function private.is_foot_activity(p_type public.activity_type)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select p_type in (
        'run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run', 'walk', 'hike'
    );
$$;

comment on function private.is_foot_activity(public.activity_type) is
    'True for the activity types whose cadence is given in steps of both feet per minute: run, '
    'trail_run, treadmill_run, track_run, virtual_run, walk, hike. Service role only.';

revoke all on function private.is_foot_activity(public.activity_type)
from public, anon, authenticated;

grant execute on function private.is_foot_activity(public.activity_type) to service_role;

create function public.activity_timezone_candidates(
    p_user_id uuid default null,
    p_connection_id bigint default null,
    p_after_id bigint default 0,
    p_limit integer default 1000
)
returns table (activity_id bigint, start_lat double precision, start_lon double precision)
language plpgsql
stable
set search_path = ''
as $$
declare
    v_user uuid := p_user_id;
    v_limit integer := least(greatest(coalesce(p_limit, 1000), 1), 10000);
begin
    if v_user is null and p_connection_id is not null then
        select c.user_id into v_user
        from public.provider_connections as c
        where c.id = p_connection_id;
        if v_user is null then
            return;  -- no such connection
        end if;
    end if;
    -- Start positions as the sources keep them in activity_data: files and Strava [lat, lon]
    -- start_latlng, Garmin startingLatitude/LongitudeInDegree. Two statements, so that each
    -- walks its partial index in id order (one athlete's rows by (user_id, id), everyone's by
    -- id) and the limit stops the scan early; the athlete's preference is a correlated
    -- look-up for the same reason.
    if v_user is not null then
        return query
        select p.id, p.lat, p.lon
        from (
            select
                a.id,
                a.user_id,
                coalesce(
                    private.try_float(a.activity_data -> 'start_latlng' ->> 0),
                    private.try_float(a.activity_data ->> 'startingLatitudeInDegree')
                ) as lat,
                coalesce(
                    private.try_float(a.activity_data -> 'start_latlng' ->> 1),
                    private.try_float(a.activity_data ->> 'startingLongitudeInDegree')
                ) as lon
            from public.activities as a
            where
                a.user_id = v_user
                and a.timezone is null
                and a.deleted_at is null
                and a.id > coalesce(p_after_id, 0)
                and (p_connection_id is null or a.connection_id = p_connection_id)
            order by a.id
        ) as p
        where
            (
                p.lat between -90 and 90 and p.lon between -180 and 180
                and (p.lat, p.lon) <> (0, 0)
            )
            or (
                select nullif(btrim(u.preferences ->> 'timezone'), '')
                from public.users as u
                where u.id = p.user_id
            ) is not null
        order by p.id
        limit v_limit;
    else
        return query
        select p.id, p.lat, p.lon
        from (
            select
                a.id,
                a.user_id,
                coalesce(
                    private.try_float(a.activity_data -> 'start_latlng' ->> 0),
                    private.try_float(a.activity_data ->> 'startingLatitudeInDegree')
                ) as lat,
                coalesce(
                    private.try_float(a.activity_data -> 'start_latlng' ->> 1),
                    private.try_float(a.activity_data ->> 'startingLongitudeInDegree')
                ) as lon
            from public.activities as a
            where
                a.timezone is null
                and a.deleted_at is null
                and a.id > coalesce(p_after_id, 0)
            order by a.id
        ) as p
        where
            (
                p.lat between -90 and 90 and p.lon between -180 and 180
                and (p.lat, p.lon) <> (0, 0)
            )
            or (
                select nullif(btrim(u.preferences ->> 'timezone'), '')
                from public.users as u
                where u.id = p.user_id
            ) is not null
        order by p.id
        limit v_limit;
    end if;
end;
$$;

comment on function public.activity_timezone_candidates(uuid, bigint, bigint, integer) is
    'Activities (of one athlete, of one connection, or everyone''s when both are null) that '
    'have no IANA zone yet and can get one: with their start position in activity_data (files '
    'and Strava start_latlng, Garmin startingLatitude/LongitudeInDegree; null when absent), or '
    'whose athlete has a preferences.timezone. Keyset-paged by activity id (p_after_id, at most '
    'p_limit rows, capped at 10,000). The worker resolves positions to zones offline and hands '
    'them to public.set_activity_timezones. Service role only.';

revoke all on function public.activity_timezone_candidates(uuid, bigint, bigint, integer)
from public, anon, authenticated;

grant execute on function public.activity_timezone_candidates(uuid, bigint, bigint, integer)
to service_role;

-- The athlete's preferred zone for provider rows without an offset -----------------------------

-- offset_told is false (not null) for a row with offset 0 and no utc_offset_source (Wahoo,
-- Fitbit, COROS without an offset), so such a row takes its athlete's preferences.timezone.
create function public.set_activity_timezones(p_items jsonb)
returns table (updated integer, unknown_zones jsonb)
language plpgsql
volatile
set search_path = ''
as $$
declare
    n_updated integer;
    v_unknown jsonb;
begin
    if p_items is not null and jsonb_typeof(p_items) <> 'array' then
        raise exception 'p_items must be a JSON array of {id, timezone} objects, got %',
            jsonb_typeof(p_items) using errcode = '22023';
    end if;

    with
    items as (
        select distinct on (i.id)
            i.id,
            nullif(btrim(i.timezone), '') as zone
        from jsonb_to_recordset(coalesce(p_items, '[]')) as i (id bigint, timezone text)
        where i.id is not null
        order by i.id
    ),

    chosen as (
        select
            a.id,
            a.utc_offset,
            z.zone,
            z.source,
            private.zone_utc_offset(z.zone, a.start_date) as zone_offset,
            -- A non-zero offset is the source's own (Garmin, Polar, COROS, FIT
            -- local_timestamp), and so is a file's explicit one, zero included; zero is
            -- otherwise what sources without time-zone information store.
            coalesce(
                a.utc_offset <> 0 or a.activity_data ->> 'utc_offset_source' = 'file', false
            ) as offset_told
        from items as i
        inner join public.activities as a on i.id = a.id
        inner join public.users as u on a.user_id = u.id
        cross join lateral (
            select
                coalesce(i.zone, nullif(btrim(u.preferences ->> 'timezone'), '')) as zone,
                case when i.zone is not null then 'position' else 'preferences' end as source
        ) as z
        where a.timezone is null and a.deleted_at is null
    ),

    changed as (
        update public.activities as a
        set
            timezone = c.zone,
            -- An offset the source told is kept; else the zone's offset at the start.
            utc_offset = case when c.offset_told then a.utc_offset else c.zone_offset end,
            activity_data = a.activity_data || jsonb_build_object('timezone_source', c.source)
        from chosen as c
        where
            a.id = c.id
            and c.zone_offset is not null
            -- The athlete's preferred zone is only a guess: never against the source's offset.
            and (c.source = 'position' or not c.offset_told or a.utc_offset = c.zone_offset)
        returning a.id
    )

    select
        (select count(*) from changed)::integer,
        (
            select coalesce(jsonb_agg(distinct c.zone), '[]'::jsonb)
            from chosen as c
            where c.zone is not null and c.zone_offset is null
        )
    into n_updated, v_unknown;

    return query select n_updated, v_unknown;
end;
$$;

comment on function public.set_activity_timezones(jsonb) is
    'Sets the IANA zone of activities that have none, in one statement: p_items is a JSON '
    'array of {id, timezone} (the zone of the start position, found by the worker; null for '
    'none, meaning the athlete''s preferences.timezone). utc_offset becomes the zone''s offset '
    'at the start (DST included) where the row''s offset is 0 (sources without time-zone '
    'information); a non-zero offset told by the source, or a file''s explicit offset '
    '(activity_data.utc_offset_source = file), is kept. A preferred zone is applied '
    'only where it agrees with the row''s offset or the row has none. Rows that already have a '
    'zone, deleted rows and unknown zone names are left alone; activity_data.timezone_source '
    'says position or preferences. start_date_local follows (generated), and the rollup '
    'triggers move the activity to its local week and day. Returns the rows updated and the '
    'zone names the server does not know. Service role only.';

revoke all on function public.set_activity_timezones(jsonb) from public, anon, authenticated;

grant execute on function public.set_activity_timezones(jsonb) to service_role;
