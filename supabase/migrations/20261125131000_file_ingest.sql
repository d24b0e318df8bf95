-- File ingest: activities read from FIT, GPX and TCX files and from account exports (Strava
-- bulk export, Garmin Connect data export) join the same activities table as provider rows.
--
-- Python parses the files (trainlytics.importers) into the project's own parsed-file payload
-- (documented in functions_py/trainlytics/importers/base.py and in the comment of
-- private.normalize_file_activity) and hands a batch of them to public.ingest_file_activities.
-- The rows are source 'file', without connection or provider, keyed by the SHA-256 of the
-- file's bytes: re-importing the same file adds nothing. Grouping with provider copies of the
-- same workout is left to the duplicate grouping trigger on public.activities, which fires
-- whatever path writes the rows. The parsed payloads are kept in activity_raw_payloads like
-- providers' payloads.

-- Sport vocabulary of files --------------------------------------------------------------------

create function private.fit_activity_type(p_sport text, p_sub_sport text)
returns public.activity_type
language sql
immutable
parallel safe
-- A SQL-standard body (names bound at creation, no SET clause), inlined by the planner.
begin atomic
    with
    words as (
        select
            nullif(btrim(regexp_replace(lower(p_sport), '[^a-z0-9]+', '_', 'g'), '_'), '')
                as sport,
            nullif(btrim(regexp_replace(lower(p_sub_sport), '[^a-z0-9]+', '_', 'g'), '_'), '')
                as sub_sport
    ),

    vocabulary (sport, sub_sport, activity_type) as (
        values
        -- FIT sport / sub_sport (Garmin FIT SDK profile), plus the GPX and TCX words.
        ('running', null, 'run'),
        ('running', 'trail', 'trail_run'),
        ('running', 'treadmill', 'treadmill_run'),
        ('running', 'indoor_running', 'treadmill_run'),
        ('running', 'track', 'track_run'),
        ('running', 'virtual_activity', 'virtual_run'),
        ('run', null, 'run'),
        ('trail_running', null, 'trail_run'),
        ('walking', null, 'walk'),
        ('walk', null, 'walk'),
        ('hiking', null, 'hike'),
        ('hike', null, 'hike'),
        ('cycling', null, 'ride'),
        ('cycling', 'mountain', 'mountain_bike_ride'),
        ('cycling', 'downhill', 'mountain_bike_ride'),
        ('cycling', 'gravel_cycling', 'gravel_ride'),
        ('cycling', 'cyclocross', 'gravel_ride'),
        ('cycling', 'indoor_cycling', 'indoor_ride'),
        ('cycling', 'spin', 'indoor_ride'),
        ('cycling', 'virtual_activity', 'virtual_ride'),
        ('cycling', 'e_bike_fitness', 'e_bike_ride'),
        ('cycling', 'e_bike_mountain', 'e_mountain_bike_ride'),
        ('cycling', 'hand_cycling', 'handcycle'),
        ('e_biking', null, 'e_bike_ride'),
        ('biking', null, 'ride'),
        ('ride', null, 'ride'),
        ('bike', null, 'ride'),
        ('swimming', null, 'swim'),
        ('swimming', 'open_water', 'open_water_swim'),
        ('swim', null, 'swim'),
        ('multisport', null, 'multisport'),
        ('transition', null, 'multisport'),
        ('rowing', null, 'rowing'),
        ('rowing', 'indoor_rowing', 'virtual_row'),
        ('fitness_equipment', null, 'cardio'),
        ('fitness_equipment', 'indoor_rowing', 'virtual_row'),
        ('fitness_equipment', 'elliptical', 'elliptical'),
        ('fitness_equipment', 'stair_climbing', 'stair_stepper'),
        ('fitness_equipment', 'treadmill', 'treadmill_run'),
        ('fitness_equipment', 'indoor_cycling', 'indoor_ride'),
        ('training', null, 'workout'),
        ('training', 'strength_training', 'weight_training'),
        ('training', 'cardio_training', 'cardio'),
        ('training', 'yoga', 'yoga'),
        ('training', 'pilates', 'pilates'),
        ('training', 'hiit', 'hiit'),
        ('training', 'elliptical', 'elliptical'),
        ('training', 'stair_climbing', 'stair_stepper'),
        ('hiit', null, 'hiit'),
        ('stand_up_paddleboarding', null, 'stand_up_paddling'),
        ('paddling', null, 'kayaking'),
        ('kayaking', null, 'kayaking'),
        ('surfing', null, 'surfing'),
        ('kitesurfing', null, 'kitesurf'),
        ('windsurfing', null, 'windsurf'),
        ('sailing', null, 'sail'),
        ('alpine_skiing', null, 'alpine_ski'),
        ('alpine_skiing', 'backcountry', 'backcountry_ski'),
        ('cross_country_skiing', null, 'nordic_ski'),
        ('snowboarding', null, 'snowboard'),
        ('snowshoeing', null, 'snowshoe'),
        ('ice_skating', null, 'ice_skate'),
        ('inline_skating', null, 'inline_skate'),
        ('rock_climbing', null, 'rock_climbing'),
        ('mountaineering', null, 'mountaineering'),
        ('soccer', null, 'soccer'),
        ('basketball', null, 'basketball'),
        ('tennis', null, 'tennis'),
        ('golf', null, 'golf'),
        ('boxing', null, 'boxing'),
        ('horseback_riding', null, 'horseback_riding'),
        ('wheelchair_push_run', null, 'wheelchair'),
        ('wheelchair_push_walk', null, 'wheelchair')
    )

    select coalesce(
        (
            select v.activity_type::public.activity_type
            from vocabulary as v, words as w
            where v.sport = w.sport and v.sub_sport = w.sub_sport
        ),
        (
            select v.activity_type::public.activity_type
            from vocabulary as v, words as w
            where v.sport = w.sport and v.sub_sport is null
        ),
        -- A canonical name as it is ("trail_run", "yoga").
        (
            select e.enumlabel::public.activity_type
            from pg_catalog.pg_enum as e, words as w
            where
                e.enumtypid = 'public.activity_type'::regtype
                and e.enumlabel = w.sport
        ),
        'other'::public.activity_type
    );
end;

comment on function private.fit_activity_type(text, text) is
    'The canonical activity_type of a file''s sport: FIT sport and sub_sport names (running/'
    'trail gives trail_run, cycling/indoor_cycling indoor_ride, training/strength_training '
    'weight_training, ...), the words GPX <type> and TCX Sport use (run, biking, hiking), or a '
    'canonical activity_type name; case, spaces and dashes do not matter. A sub-sport the table '
    'does not know falls back to its sport; other when nothing matches. Service role only.';

-- Privileges: worker functions run as service_role only ---------------------------------------

revoke all on function private.fit_activity_type(text, text) from public, anon, authenticated;

grant execute on function private.fit_activity_type(text, text) to service_role;

-- The normaliser ------------------------------------------------------------------------------

create function private.file_number(p_value jsonb, p_max double precision)
returns double precision
language sql
immutable
parallel safe
as $$
    select case
        when
            jsonb_typeof(p_value) = 'number'
            and private.try_float(p_value #>> '{}') >= 0
            and private.try_float(p_value #>> '{}') <= p_max
            then private.try_float(p_value #>> '{}')
    end;
$$;

comment on function private.file_number(jsonb, double precision) is
    'A JSON number between 0 and p_max (the plausible range of the metric); null for anything '
    'else, so an implausible value becomes unknown instead of costing the activity. Never '
    'raises. Service role only.';

revoke all on function private.file_number(jsonb, double precision)
from public, anon, authenticated;

grant execute on function private.file_number(jsonb, double precision) to service_role;

-- The file normaliser, with the sport fallback and the cadence rule ------------------------------

create function private.normalize_file_activity(p_payload jsonb)
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

revoke all on function private.normalize_file_activity(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_file_activity(jsonb) to service_role;

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

create function public.ingest_file_activities(p_user_id uuid, p_items jsonb)
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

revoke all on function public.ingest_file_activities(uuid, jsonb)
from public, anon, authenticated;

grant execute on function public.ingest_file_activities(uuid, jsonb) to service_role;

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
