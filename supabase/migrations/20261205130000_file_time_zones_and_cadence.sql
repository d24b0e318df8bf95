-- Files as athletes have them (issue 15): real local times, sport words, one cadence rule.
--
-- 1. Time zones. Python finds the IANA zone of a start position with an offline boundary
--    library (tzfpy); the database turns a zone into the offset at the start instant (DST
--    included). Files carry their zone in the payload (private.normalize_file_activity derives
--    the offset unless the file told it: FIT local_timestamp wins). Rows that still lack a zone
--    - provider rows with a start position but no zone (Garmin), file rows imported before
--    this change, files without a position - are found by
--    public.activity_timezone_candidates and set, set-based, by public.set_activity_timezones:
--    the zone of the position, else the athlete's preferences.timezone. The rollups follow:
--    start_date_local is generated from utc_offset, and the rollup update trigger moves every
--    row whose start_date_local changed.
-- 2. Sport words: a file's word that the FIT vocabulary does not know goes through the same
--    activity_type_mappings as the providers (Garmin Connect typeKeys such as road_biking,
--    lap_swimming, treadmill_running in GPX <type> and exports, then Strava's words).
-- 3. Cadence: one rule whatever the source or field name. Payload version 2 passes cadence as
--    the source counts it; for run, trail_run, treadmill_run, track_run, virtual_run, walk and
--    hike (strides of one leg in FIT, TCX, GPX and both exports) the normaliser doubles it to
--    steps of both feet. A multisport file carries no cadence (importer's rule).
-- 4. Re-importing a file whose stored row has no zone fills the zone in (nothing else changes).

-- Offsets of zones ------------------------------------------------------------------------------

create function private.zone_utc_offset(p_zone text, p_at timestamptz)
returns integer
language plpgsql
stable
parallel safe
set search_path = ''
as $$
begin
    if p_zone is null or p_at is null
        or p_zone !~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,3}$' then
        return null;
    end if;
    return extract(epoch from (p_at at time zone p_zone) - (p_at at time zone 'UTC'))::integer;
exception when others then
    return null;  -- a zone this server does not know
end;
$$;
comment on function private.zone_utc_offset(text, timestamptz) is
    'Offset in s (east positive) of the IANA zone p_zone at the instant p_at, daylight saving '
    'time included (the server''s time-zone database); null for a name that is not a zone. '
    'Never raises. Service role only.';

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

-- The file normaliser, with the sport fallback and the cadence rule ------------------------------

create or replace function private.normalize_file_activity(p_payload jsonb)
returns private.normalized_activity
language plpgsql
stable
parallel safe
set search_path = ''
as $$
declare
    r private.normalized_activity;
    v_vocabulary text;
    v_sport text;
    v_offset double precision;
    v_extras jsonb;
    v_version integer;
    v_doubled boolean := false;
    v_latlng jsonb;
begin
    if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
        r.error := 'file activity is not a JSON object';
        return r;
    end if;
    r.external_id := lower(p_payload ->> 'sha256');
    if r.external_id is null or r.external_id !~ '^[0-9a-f]{64}$' then
        r.external_id := left(p_payload ->> 'sha256', 200);
        r.error := 'file activity without a SHA-256 content hash (64 hex digits)';
        return r;
    end if;
    if coalesce(p_payload ->> 'format', '') not in (
        'fit', 'gpx', 'tcx', 'strava_export', 'garmin_export'
    ) then
        r.error := 'unknown file format ' || coalesce(quote_literal(p_payload ->> 'format'), 'null');
        return r;
    end if;
    r.start_date := private.try_timestamptz(p_payload ->> 'start_time');
    if r.start_date is null or r.start_date not between '1980-01-01' and now() + interval '2 days'
    then
        r.error := 'file activity without a plausible start_time';
        r.start_date := null;
        return r;
    end if;
    v_version := case
        when jsonb_typeof(p_payload -> 'version') = 'number'
            then private.try_float(p_payload ->> 'version')::integer
        else 1
    end;

    -- Sport, in the vocabulary the payload names; a file word the FIT vocabulary does not
    -- know goes through the providers' mappings (Garmin Connect typeKeys, then Strava's).
    v_vocabulary := coalesce(p_payload ->> 'sport_vocabulary', 'fit');
    v_sport := nullif(btrim(p_payload ->> 'sport'), '');
    r.provider_activity_type := left(
        concat_ws('/', v_sport, nullif(btrim(p_payload ->> 'sub_sport'), '')), 200
    );
    r.activity_type := case v_vocabulary
        when 'strava' then private.map_activity_type('strava', v_sport)
        when 'garmin' then private.garmin_activity_type(v_sport)
        else private.fit_activity_type(v_sport, p_payload ->> 'sub_sport')
    end;
    if r.activity_type = 'other' and v_sport is not null then
        r.activity_type := private.garmin_activity_type(v_sport);
        if r.activity_type = 'other' then
            r.activity_type := private.map_activity_type('strava', v_sport);
        end if;
    end if;

    r.name := left(nullif(btrim(p_payload ->> 'name'), ''), 500);
    r.description := left(nullif(p_payload ->> 'description', ''), 20000);

    -- Local time: the file's own offset (FIT local_timestamp, a Garmin export's
    -- startTimeLocal), else the offset of its IANA zone at the start (DST included).
    r.timezone := case
        when private.zone_utc_offset(p_payload ->> 'timezone', r.start_date) is not null
            then p_payload ->> 'timezone'
    end;
    v_offset := case
        when jsonb_typeof(p_payload -> 'utc_offset') = 'number'
            then private.try_float(p_payload ->> 'utc_offset')
    end;
    if abs(v_offset) > 64800 then
        v_offset := null;
    end if;
    if v_offset is null then
        v_offset := private.zone_utc_offset(r.timezone, r.start_date);
    end if;
    r.utc_offset := coalesce(round(v_offset)::integer, 0);

    -- Metrics, SI already (bounded to plausible values).
    r.elapsed_time := round(private.file_number(p_payload -> 'elapsed_time', 2147483647))::integer;
    r.moving_time := round(private.file_number(p_payload -> 'moving_time', 2147483647))::integer;
    r.distance := private.file_number(p_payload -> 'distance', 1e8);
    r.average_speed := private.file_number(p_payload -> 'average_speed', 1e3);
    r.max_speed := private.file_number(p_payload -> 'max_speed', 1e3);
    r.average_heartrate := private.file_number(p_payload -> 'average_heartrate', 300);
    r.max_heartrate := private.file_number(p_payload -> 'max_heartrate', 300);
    r.average_watts := private.file_number(p_payload -> 'average_watts', 1e5);
    r.max_watts := private.file_number(p_payload -> 'max_watts', 1e5);
    r.weighted_average_watts := private.file_number(p_payload -> 'normalized_watts', 1e5);
    r.average_cadence := private.file_number(p_payload -> 'average_cadence', 1e4);
    r.max_cadence := private.file_number(p_payload -> 'max_cadence', 1e4);
    -- One cadence rule: version 2 payloads give foot-sport cadence per leg, as every file
    -- format and export records it; steps of both feet are twice that.
    if v_version >= 2 and private.is_foot_activity(r.activity_type) then
        v_doubled := r.average_cadence is not null or r.max_cadence is not null;
        r.average_cadence := r.average_cadence * 2;
        r.max_cadence := r.max_cadence * 2;
    end if;
    r.elevation_gain := private.file_number(p_payload -> 'elevation_gain', 1e6);
    r.elevation_loss := private.file_number(p_payload -> 'elevation_loss', 1e6);
    r.calories := private.file_number(p_payload -> 'calories', 1e6);
    r.is_manual := coalesce((p_payload -> 'is_manual') = 'true'::jsonb, false);
    r.is_private := false;
    r.device_name := left(nullif(btrim(p_payload ->> 'device_name'), ''), 200);
    r.provider_updated_at := null;

    v_latlng := case
        when jsonb_typeof(p_payload -> 'start_latlng') = 'array'
            and jsonb_array_length(p_payload -> 'start_latlng') = 2
            and abs(private.try_float(p_payload -> 'start_latlng' ->> 0)) <= 90
            and abs(private.try_float(p_payload -> 'start_latlng' ->> 1)) <= 180
            then jsonb_build_array(
                private.try_float(p_payload -> 'start_latlng' ->> 0),
                private.try_float(p_payload -> 'start_latlng' ->> 1)
            )
    end;
    v_extras := case
        when jsonb_typeof(p_payload -> 'extras') = 'object' then p_payload -> 'extras'
        else '{}'::jsonb
    end;
    r.activity_data := v_extras || jsonb_strip_nulls(
        jsonb_build_object(
            'file_format', p_payload ->> 'format',
            'file_name', left(p_payload ->> 'file_name', 500),
            'sport_vocabulary', v_vocabulary,
            'samples', private.file_number(p_payload -> 'samples', 1e9),
            'payload_version', p_payload -> 'version',
            'start_latlng', v_latlng,
            'cadence_doubled', case when v_doubled then true end,
            'utc_offset_source', case
                when jsonb_typeof(p_payload -> 'utc_offset') = 'number'
                    and abs(private.try_float(p_payload ->> 'utc_offset')) <= 64800
                    then 'file'
                when r.timezone is not null then 'timezone'
            end
        )
    );
    return r;
exception when others then
    r := null;
    r.external_id := case
        when jsonb_typeof(p_payload) = 'object' then left(p_payload ->> 'sha256', 200)
    end;
    r.error := left('file activity could not be normalised: ' || sqlerrm, 500);
    return r;
end;
$$;
comment on function private.normalize_file_activity(jsonb) is
    'Normalises one parsed-file payload (the JSON object trainlytics.importers writes: version '
    '1|2, format fit|gpx|tcx|strava_export|garmin_export, sha256 of the file bytes, start_time '
    'ISO 8601, sport + sub_sport + sport_vocabulary fit|strava|garmin, name, description, '
    'utc_offset s, timezone, start_latlng [lat, lon], elapsed_time and moving_time s, distance '
    'm, average_speed and max_speed m/s, average/max_heartrate bpm, average/max_watts and '
    'normalized_watts W, average/max_cadence per minute, elevation_gain/loss m, calories kcal, '
    'device_name, is_manual, samples, extras object) into private.normalized_activity. '
    'external_id is the sha256. Sport: through the named vocabulary (FIT names via '
    'private.fit_activity_type, Strava and Garmin words via their providers'' mappings); a word '
    'the FIT vocabulary does not know is looked up in the Garmin, then the Strava mappings of '
    'activity_type_mappings (Garmin Connect GPX/TCX types such as road_biking, lap_swimming). '
    'Local time: utc_offset from the payload (FIT local_timestamp wins), else the offset of its '
    'IANA timezone at the start, DST included (an unknown zone name is dropped). CADENCE RULE: '
    'one rule whatever the source or field name. Version 2 payloads give cadence as the source '
    'counts it; for foot sports (run, trail_run, treadmill_run, track_run, virtual_run, walk, '
    'hike) that is strides of one leg in FIT (avg_running_cadence or avg_cadence), TCX '
    '(Cadence or RunCadence), GPX (cad) and the Strava and Garmin exports, so it is doubled to '
    'steps of both feet (activity_data.cadence_doubled); other sports keep rpm or strokes. A '
    'multisport file carries no cadence (legs of different sports are not blended). Version 1 '
    'payloads were doubled by the importer and are kept as given. Implausible metrics become '
    'null; format, file name, start_latlng, utc_offset_source (file|timezone) and extras (e.g. '
    'recovered for a damaged FIT file read leniently) go to activity_data. A malformed item '
    'comes back with error set; never raises. Service role only.';

-- Ingest: the athlete's zone for files without one; re-imports fill a missing zone ----------------

create or replace function public.ingest_file_activities(p_user_id uuid, p_items jsonb)
returns table (created integer, skipped integer, errors jsonb)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    n_created integer;
    n_valid integer;
    v_errors jsonb;
    v_preferred text;
begin
    if p_user_id is null or not exists (select from public.users as u where u.id = p_user_id) then
        raise exception 'unknown user %', p_user_id using errcode = '22023';
    end if;
    if p_items is not null and jsonb_typeof(p_items) <> 'array' then
        raise exception 'p_items must be a JSON array of parsed-file payloads, got %',
            jsonb_typeof(p_items) using errcode = '22023';
    end if;
    select nullif(btrim(u.preferences ->> 'timezone'), '') into v_preferred
    from public.users as u
    where u.id = p_user_id;

    with normalized as materialized (
        select
            (i.ord - 1)::integer as idx,
            i.payload,
            n.*
        from jsonb_array_elements(coalesce(p_items, '[]')) with ordinality as i (payload, ord)
        cross join lateral private.normalize_file_activity(i.payload) as n
    ),

    -- One item per content hash: the first of a batch wins (same bytes, same activity).
    -- Without a zone of its own and without an offset from the file, an activity is in the
    -- athlete's preferred zone (preferences.timezone), offset at its start.
    candidates as (
        select distinct on (n.external_id)
            n.*,
            case
                when n.timezone is null
                    and coalesce(n.activity_data ->> 'utc_offset_source', '') <> 'file'
                    and private.zone_utc_offset(v_preferred, n.start_date) is not null
                    then v_preferred
            end as preferred_zone
        from normalized as n
        where n.error is null
        order by n.external_id asc, n.idx asc
    ),

    written as (
        insert into public.activities as a (
            user_id, connection_id, provider, source, external_id, name, description,
            activity_type, provider_activity_type, start_date, timezone, utc_offset,
            elapsed_time, moving_time, distance, average_speed, max_speed, average_heartrate,
            max_heartrate, average_watts, max_watts, weighted_average_watts, average_cadence,
            max_cadence, elevation_gain, elevation_loss, calories, is_manual, is_private,
            device_name, activity_data
        )
        select
            p_user_id, null, null, 'file', c.external_id, c.name, c.description,
            c.activity_type, c.provider_activity_type, c.start_date,
            coalesce(c.timezone, c.preferred_zone),
            case
                when c.preferred_zone is not null
                    then private.zone_utc_offset(c.preferred_zone, c.start_date)
                else c.utc_offset
            end,
            c.elapsed_time, c.moving_time, c.distance, c.average_speed, c.max_speed,
            c.average_heartrate, c.max_heartrate, c.average_watts, c.max_watts,
            c.weighted_average_watts, c.average_cadence, c.max_cadence, c.elevation_gain,
            c.elevation_loss, c.calories, c.is_manual, c.is_private, c.device_name,
            c.activity_data || case
                when c.preferred_zone is not null
                    then '{"utc_offset_source": "preferences"}'::jsonb
                else '{}'::jsonb
            end
        from candidates as c
        order by c.idx
        -- The same bytes were imported before: nothing to add, except a zone the stored row
        -- lacks (rows imported before zones were derived) - re-importing fills it in.
        on conflict (user_id, external_id) where connection_id is null do update
            set
                timezone = excluded.timezone,
                utc_offset = case
                    when a.activity_data ->> 'utc_offset_source' = 'file' then a.utc_offset
                    else excluded.utc_offset
                end,
                activity_data = a.activity_data || jsonb_strip_nulls(
                    jsonb_build_object(
                        'start_latlng', excluded.activity_data -> 'start_latlng',
                        'utc_offset_source', excluded.activity_data -> 'utc_offset_source'
                    )
                )
            where a.timezone is null and excluded.timezone is not null and a.source = 'file'
        returning a.id, a.external_id, (xmax = 0) as inserted
    ),

    raw_kept as (
        insert into public.activity_raw_payloads (activity_id, user_id, payload)
        select w.id, p_user_id, c.payload
        from written as w
        inner join candidates as c on w.external_id = c.external_id
        where w.inserted
        returning activity_id
    )

    select
        (select count(*) from raw_kept)::integer,
        (select count(*) from normalized as n where n.error is null)::integer,
        (
            select coalesce(
                jsonb_agg(
                    jsonb_build_object(
                        'index', n.idx, 'external_id', n.external_id, 'reason', n.error
                    )
                    order by n.idx
                ),
                '[]'::jsonb
            )
            from normalized as n
            where n.error is not null
        )
    into n_created, n_valid, v_errors;

    return query select n_created, n_valid - n_created, v_errors;
end;
$$;
comment on function public.ingest_file_activities(uuid, jsonb) is
    'Ingests a batch (JSON array) of parsed-file payloads for one athlete in one set-based '
    'statement: normalises each (private.normalize_file_activity) and inserts it as a source '
    '''file'' activity without connection or provider, external_id the SHA-256 of the file, '
    'keeping the payload in activity_raw_payloads. An activity with neither a zone nor an '
    'offset from its file gets the athlete''s preferences.timezone (and its offset at the '
    'start). Idempotent by content hash: an item whose hash the athlete already has, or that '
    'repeats one of the batch, is skipped - except that a stored file row without a zone takes '
    'the zone the new reading found (re-importing fixes rows imported before zones were '
    'derived; the rollups follow). Returns created, skipped and errors: [{index, external_id, '
    'reason}] for each malformed item (the batch goes on). Every item is counted once. '
    'Duplicate grouping with provider copies is done by the trigger on activities. Service '
    'role only.';

-- Rows that still lack a zone ------------------------------------------------------------------

-- Small once derived: rows without a zone are few (Strava rows carry one, files get one).
-- Per athlete (after an import or a sync page), and in id order over everyone (the one-time
-- derivation pages through all rows by id without sorting them each time).
create index activities_timezone_missing_idx on public.activities (user_id, id)
where timezone is null and deleted_at is null;
create index activities_timezone_missing_id_idx on public.activities (id)
where timezone is null and deleted_at is null;

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
            (a.utc_offset <> 0 or a.activity_data ->> 'utc_offset_source' = 'file') as offset_told
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

-- Privileges: worker functions run as service_role only ---------------------------------------

revoke all on function private.zone_utc_offset(text, timestamptz) from public, anon, authenticated;
revoke all on function private.is_foot_activity(public.activity_type)
from public, anon, authenticated;
revoke all on function public.activity_timezone_candidates(uuid, bigint, bigint, integer)
from public, anon, authenticated;
revoke all on function public.set_activity_timezones(jsonb) from public, anon, authenticated;

grant execute on function private.zone_utc_offset(text, timestamptz) to service_role;
grant execute on function private.is_foot_activity(public.activity_type) to service_role;
grant execute on function public.activity_timezone_candidates(uuid, bigint, bigint, integer)
to service_role;
grant execute on function public.set_activity_timezones(jsonb) to service_role;
