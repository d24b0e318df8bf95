-- Ingest fast paths: what a page of provider activities costs beyond the rows themselves.
--
-- Measured with bench/ingest_throughput.py (see bench/README.md); per page of 200:
-- - INSERT .. ON CONFLICT fires the statement triggers of both INSERT and UPDATE, and the
--   deletion UPDATE of public.ingest_activities fired them again with no row at all: the
--   triggers now return at once on empty transition tables, and the deletion runs only when
--   the page names deleted activities;
-- - the UPDATE triggers compared old and new rows with a join the planner, blind to the
--   transition tables' contents, ran as a nested loop (200 x 200 row comparisons): they now
--   use EXCEPT ALL, a hashed set difference, and a re-ingest whose rows did not change what
--   the rollups or the grouping read costs almost nothing;
-- - private.ingest_page built a JSON object of the page's payloads to find each written row's
--   payload; it now maps external ids to positions in the page and reads the payload there.

-- Rollups ---------------------------------------------------------------------------------------

-- The activity versions that count in the rollups (primary, not deleted), with the columns the
-- rollups read; the id keeps two equal activities apart in the set differences below.
create function private.rollups_versions_sql(p_rows text)
returns text
language sql
immutable
parallel safe
begin atomic
    select format(
        'select t.id, t.user_id, t.start_date_local, t.activity_type, t.provider, '
        't.is_private, t.distance, t.moving_time, t.elapsed_time, t.elevation_gain, '
        't.calories, t.average_heartrate, t.weighted_average_watts, t.average_watts '
        'from %1$s as t '
        'where t.deleted_at is null and t.primary_activity_id is null',
        p_rows
    );
end;
comment on function private.rollups_versions_sql(text) is
    'Builds the query of the activity versions of the relation p_rows (a transition table) '
    'that count in the rollups (primary, not deleted), with the columns the rollups read.';

create or replace function private.rollups_apply_activity_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    changes text;
    touched uuid[];
begin
    if tg_op = 'INSERT' then
        perform from new_rows limit 1;
        if not found then
            return null;
        end if;
        changes := format(
            'select 1 as sign, v.* from (%s) as v', private.rollups_versions_sql('new_rows')
        );
    elsif tg_op = 'DELETE' then
        perform from old_rows limit 1;
        if not found then
            return null;
        end if;
        changes := format(
            'select -1 as sign, v.* from (%s) as v', private.rollups_versions_sql('old_rows')
        );
    else
        perform from new_rows limit 1;
        if not found then
            return null;
        end if;
        -- Only versions that changed: a new version equal to its old one (a re-ingested,
        -- renamed or touched activity) is in neither difference.
        changes := format(
            'select 1 as sign, v.* from (%1$s except all %2$s) as v '
            'union all select -1 as sign, v.* from (%2$s except all %1$s) as v',
            private.rollups_versions_sql('new_rows'),
            private.rollups_versions_sql('old_rows')
        );
    end if;
    execute private.rollups_delta_sql(changes) into touched;
    if cardinality(touched) > 0 then
        delete from public.weekly_rollups as r
        where r.user_id = any(touched) and r.activity_count = 0;
        delete from public.daily_loads as d
        where d.user_id = any(touched) and d.activity_count = 0;
    end if;
    return null;
end;
$$;

drop function private.rollups_changes_sql(integer, text, text);

revoke all on function private.rollups_versions_sql(text) from public, anon, authenticated;

-- Duplicate grouping -----------------------------------------------------------------------------

create or replace function private.activities_group_inserted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_users uuid[];
    v_starts timestamptz[];
begin
    select array_agg(n.user_id), array_agg(n.start_date)
    into v_users, v_starts
    from new_rows as n;
    if v_users is not null then
        perform private.group_activity_duplicates(v_users, v_starts);
    end if;
    return null;
end;
$$;

create or replace function private.activities_group_updated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_users uuid[];
    v_starts timestamptz[];
begin
    -- Only changes that can change a grouping; the grouping's own writes (primary_activity_id,
    -- duplicate_override) and edits of names, descriptions or privacy stop here. Both versions
    -- of a changed row count: the old start's group may lose it, the new start's gain it.
    with
    new_versions as (
        select
            n.id, n.user_id, n.start_date, n.utc_offset, n.elapsed_time, n.moving_time,
            n.distance, n.activity_type, n.deleted_at, n.device_name, n.connection_id
        from new_rows as n
    ),

    old_versions as (
        select
            o.id, o.user_id, o.start_date, o.utc_offset, o.elapsed_time, o.moving_time,
            o.distance, o.activity_type, o.deleted_at, o.device_name, o.connection_id
        from old_rows as o
    ),

    changed as (
        (select * from new_versions except all select * from old_versions)
        union all
        (select * from old_versions except all select * from new_versions)
    )

    select array_agg(c.user_id), array_agg(c.start_date)
    into v_users, v_starts
    from changed as c;
    if v_users is not null then
        perform private.group_activity_duplicates(v_users, v_starts);
    end if;
    return null;
end;
$$;

create or replace function private.activities_group_deleted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_users uuid[];
    v_starts timestamptz[];
begin
    select array_agg(o.user_id), array_agg(o.start_date)
    into v_users, v_starts
    from old_rows as o;
    if v_users is not null then
        perform private.group_activity_duplicates(v_users, v_starts);
    end if;
    return null;
end;
$$;

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

create or replace function private.normalize_strava(p_payload jsonb)
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
                    p_payload as p,
                    coalesce(jsonb_typeof(p_payload) = 'object', false) as is_object,
                    -- Strava ids are 64-bit integers (numbers in JSON; digit strings too).
                    case
                        when jsonb_typeof(p_payload -> 'id') in ('number', 'string')
                            and char_length(p_payload ->> 'id') between 1 and 20
                            and translate(p_payload ->> 'id', '0123456789', '') = ''
                            then p_payload ->> 'id'
                    end as external_id,
                    p_payload ->> 'start_date' as utc_text,
                    p_payload ->> 'start_date_local' as local_text,
                    -- The zone's text once: validating it reads it several times.
                    private.strava_zone_text(p_payload ->> 'timezone') as zone,
                    case jsonb_typeof(p_payload -> 'utc_offset')
                        when 'number' then case
                            when (p_payload -> 'utc_offset')::numeric between -64800 and 64800
                                then (p_payload -> 'utc_offset')::numeric::double precision
                        end
                        when 'string' then case
                            when private.try_float(p_payload ->> 'utc_offset')
                                between -64800 and 64800
                                then private.try_float(p_payload ->> 'utc_offset')
                        end
                    end as utc_offset,
                    nullif(btrim(p_payload ->> 'sport_type'), '') as sport,
                    nullif(btrim(p_payload ->> 'type'), '') as legacy,
                    coalesce(p_payload -> 'trainer' = 'true'::jsonb, false) as trainer,
                    -- Durations (s), distance (m), speeds (m/s): SI already.
                    private.strava_number(p_payload -> 'elapsed_time') as elapsed_time,
                    private.strava_number(p_payload -> 'moving_time') as moving_time,
                    private.strava_number(p_payload -> 'distance') as distance,
                    private.strava_number(p_payload -> 'average_speed') as average_speed,
                    private.strava_number(p_payload -> 'max_speed') as max_speed,
                    private.strava_number(p_payload -> 'average_heartrate') as average_heartrate,
                    private.strava_number(p_payload -> 'max_heartrate') as max_heartrate,
                    -- Power (W); device_watts = false marks Strava's estimate (activity_data).
                    private.strava_number(p_payload -> 'average_watts') as average_watts,
                    private.strava_number(p_payload -> 'max_watts') as max_watts,
                    private.strava_number(p_payload -> 'weighted_average_watts')
                        as weighted_average_watts,
                    case
                        when jsonb_typeof(p_payload -> 'device_watts') = 'boolean'
                            then p_payload -> 'device_watts'
                    end as device_watts,
                    private.strava_number(p_payload -> 'average_cadence') as cadence,
                    private.strava_number(p_payload -> 'total_elevation_gain') as elevation_gain,
                    private.strava_number(p_payload -> 'calories') as calories
                from (values (1)) as one (x)
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

drop function private.strava_iana_timezone(text);

comment on function private.strava_zone_text(text) is
    'The part of a Strava timezone string after its "(GMT+01:00)" prefix, trimmed (the whole '
    'text when there is no prefix); private.strava_zone_name validates it. Never raises. '
    'Service role only.';

revoke all on function private.strava_zone_name(text) from public, anon, authenticated;
revoke all on function private.strava_local_start(text) from public, anon, authenticated;
grant execute on function private.strava_zone_name(text) to service_role;
grant execute on function private.strava_local_start(text) to service_role;

-- Ingest -----------------------------------------------------------------------------------------

create or replace function private.ingest_page(
    p_connection_id bigint,
    p_user_id uuid,
    p_provider public.provider_type,
    p_items jsonb,
    p_received_at timestamptz,
    p_first_index integer
)
returns table (created integer, updated integer, skipped integer, errors jsonb)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    n_created integer;
    n_updated integer;
    n_skipped integer;
    v_errors jsonb;
begin
    with normalized as materialized (
        select  -- noqa: ST06
            (i.ord - 1)::integer + p_first_index as idx,
            -- The item's position in p_items: the raw payload is read back from there.
            (i.ord - 1)::integer as pos,
            i.payload,
            n.external_id,
            n.name,
            n.description,
            n.activity_type,
            n.provider_activity_type,
            n.start_date,
            n.timezone,
            n.utc_offset,
            n.elapsed_time,
            n.moving_time,
            n.distance,
            n.average_speed,
            n.max_speed,
            n.average_heartrate,
            n.max_heartrate,
            n.average_watts,
            n.max_watts,
            n.weighted_average_watts,
            n.average_cadence,
            n.max_cadence,
            n.elevation_gain,
            n.elevation_loss,
            n.calories,
            n.is_manual,
            n.is_private,
            n.device_name,
            n.activity_data - '_keep_stored' as activity_data,
            n.activity_data -> '_keep_stored' as keep_stored,
            coalesce(n.provider_updated_at, p_received_at) as effective_updated_at,
            -- No row at all (a normaliser returning nothing) is an error too.
            case
                when n.external_id is null then coalesce(n.error, 'normaliser returned nothing')
                else n.error
            end as error
        from jsonb_array_elements(coalesce(p_items, '[]')) with ordinality as i (payload, ord)
        left join lateral private.normalize_activity(p_provider, i.payload) as n on true
    ),

    -- One item per external id: the newest (then the last) of a page wins.
    candidates as (
        select v.*
        from (
            select
                n.*,
                row_number() over (
                    partition by n.external_id
                    order by n.effective_updated_at desc, n.idx desc
                ) as rank_in_page
            from normalized as n
            where n.error is null
        ) as v
        where v.rank_in_page = 1
    ),

    -- The stored row, and the candidate with the stored values of the columns its payload's
    -- shape does not carry (a Strava list item has no description, calories or device).
    merged as (
        select
            c.idx,
            c.pos,
            c.payload,
            c.keep_stored,
            c.effective_updated_at,
            a.id as stored_id,
            a.provider_updated_at as stored_updated_at,
            a.deleted_at as stored_deleted_at,
            c.external_id,
            c.name,
            case
                when c.description is null and c.keep_stored ? 'description' then a.description
                else c.description
            end as description,
            c.activity_type,
            c.provider_activity_type,
            c.start_date,
            c.timezone,
            c.utc_offset,
            c.elapsed_time,
            c.moving_time,
            c.distance,
            c.average_speed,
            c.max_speed,
            c.average_heartrate,
            c.max_heartrate,
            c.average_watts,
            c.max_watts,
            c.weighted_average_watts,
            c.average_cadence,
            c.max_cadence,
            c.elevation_gain,
            c.elevation_loss,
            case
                when c.calories is null and c.keep_stored ? 'calories' then a.calories
                else c.calories
            end as calories,
            c.is_manual,
            c.is_private,
            case
                when c.device_name is null and c.keep_stored ? 'device_name' then a.device_name
                else c.device_name
            end as device_name,
            case
                when c.keep_stored is not null and a.activity_data is not null
                    then a.activity_data || c.activity_data
                else c.activity_data
            end as activity_data,
            (
                c.name, c.activity_type, c.provider_activity_type, c.start_date, c.timezone,
                c.utc_offset, c.elapsed_time, c.moving_time, c.distance, c.average_speed,
                c.max_speed, c.average_heartrate, c.max_heartrate, c.average_watts,
                c.max_watts, c.weighted_average_watts, c.average_cadence, c.max_cadence,
                c.elevation_gain, c.elevation_loss, c.is_manual, c.is_private
            ) is distinct from (
                a.name, a.activity_type, a.provider_activity_type, a.start_date, a.timezone,
                a.utc_offset, a.elapsed_time, a.moving_time, a.distance, a.average_speed,
                a.max_speed, a.average_heartrate, a.max_heartrate, a.average_watts,
                a.max_watts, a.weighted_average_watts, a.average_cadence, a.max_cadence,
                a.elevation_gain, a.elevation_loss, a.is_manual, a.is_private
            ) as plain_columns_differ,
            a.description as stored_description,
            a.calories as stored_calories,
            a.device_name as stored_device_name,
            a.activity_data as stored_activity_data
        from candidates as c
        left join public.activities as a
            on a.connection_id = p_connection_id and a.external_id = c.external_id
    ),

    -- What each candidate will do, against the stored row (the upsert re-checks the guard).
    planned as (
        select
            m.*,
            case
                when m.stored_id is null then 'create'
                when m.effective_updated_at < m.stored_updated_at then 'older'
                when m.stored_deleted_at is not null
                    and (
                        m.effective_updated_at <= m.stored_deleted_at
                        or m.effective_updated_at <= m.stored_updated_at
                    ) then 'deleted'
                when m.stored_deleted_at is not null
                    or m.plain_columns_differ
                    or (m.description, m.calories, m.device_name, m.activity_data)
                    is distinct from (
                        m.stored_description, m.stored_calories, m.stored_device_name,
                        m.stored_activity_data
                    ) then 'update'
                -- Same content, newer time: record the time (so an older update stays
                -- older) and the payload, but count it as skipped.
                when m.effective_updated_at > m.stored_updated_at then 'touch'
                else 'unchanged'
            end as action
        from merged as m
    ),

    written as (
        insert into public.activities as a (
            user_id, connection_id, provider, source, external_id, name, description,
            activity_type, provider_activity_type, start_date, timezone, utc_offset,
            elapsed_time, moving_time, distance, average_speed, max_speed, average_heartrate,
            max_heartrate, average_watts, max_watts, weighted_average_watts, average_cadence,
            max_cadence, elevation_gain, elevation_loss, calories, is_manual, is_private,
            device_name, activity_data, provider_updated_at
        )
        select
            p_user_id, p_connection_id, p_provider, 'provider', p.external_id, p.name,
            p.description, p.activity_type, p.provider_activity_type, p.start_date, p.timezone,
            p.utc_offset, p.elapsed_time, p.moving_time, p.distance, p.average_speed,
            p.max_speed, p.average_heartrate, p.max_heartrate, p.average_watts, p.max_watts,
            p.weighted_average_watts, p.average_cadence, p.max_cadence, p.elevation_gain,
            p.elevation_loss, p.calories, p.is_manual, p.is_private, p.device_name,
            p.activity_data, p.effective_updated_at
        from planned as p
        where p.action in ('create', 'update', 'touch')
        on conflict (connection_id, external_id) do update set
            name = excluded.name,
            description = excluded.description,
            activity_type = excluded.activity_type,
            provider_activity_type = excluded.provider_activity_type,
            start_date = excluded.start_date,
            timezone = excluded.timezone,
            utc_offset = excluded.utc_offset,
            elapsed_time = excluded.elapsed_time,
            moving_time = excluded.moving_time,
            distance = excluded.distance,
            average_speed = excluded.average_speed,
            max_speed = excluded.max_speed,
            average_heartrate = excluded.average_heartrate,
            max_heartrate = excluded.max_heartrate,
            average_watts = excluded.average_watts,
            max_watts = excluded.max_watts,
            weighted_average_watts = excluded.weighted_average_watts,
            average_cadence = excluded.average_cadence,
            max_cadence = excluded.max_cadence,
            elevation_gain = excluded.elevation_gain,
            elevation_loss = excluded.elevation_loss,
            calories = excluded.calories,
            is_manual = excluded.is_manual,
            is_private = excluded.is_private,
            device_name = excluded.device_name,
            activity_data = excluded.activity_data,
            provider_updated_at = excluded.provider_updated_at,
            deleted_at = null
        -- Newer wins, and a deleted activity comes back only with a strictly newer version.
        where
            excluded.provider_updated_at >= coalesce(a.provider_updated_at, '-infinity')
            and (
                a.deleted_at is null
                or (
                    excluded.provider_updated_at > a.deleted_at
                    and excluded.provider_updated_at > coalesce(a.provider_updated_at, '-infinity')
                )
            )
        returning a.id, a.external_id, (a.xmax = 0) as inserted
    ),

    -- Each written item's position in p_items (and what the count needs) by external id: one
    -- lookup per written row instead of a join between two CTEs the planner cannot estimate.
    -- Positions, not payloads: an object of 200 small numbers is built in a fraction of the
    -- time an object of 200 payloads takes, and p_items -> position reads the payload back.
    by_id as materialized (
        select
            jsonb_object_agg(p.external_id, p.pos) as positions,
            coalesce(
                jsonb_object_agg(p.external_id, true) filter (where p.keep_stored is not null),
                '{}'
            ) as partial,
            coalesce(
                jsonb_object_agg(p.external_id, true) filter (where p.action = 'touch'),
                '{}'
            ) as touched
        from planned as p
        where p.action in ('create', 'update', 'touch')
    ),

    raw_kept as (
        insert into public.activity_raw_payloads as r (activity_id, user_id, payload, received_at)
        select
            w.id,
            p_user_id,
            -- A payload of a partial shape adds to the stored one (a list item over the
            -- detailed object keeps the detail's description, calories and laps).
            case
                when not w.inserted and b.partial ? w.external_id
                    then coalesce(
                        (
                            select s.payload from public.activity_raw_payloads as s
                            where s.activity_id = w.id
                        ),
                        '{}'
                    ) || (p_items -> (b.positions ->> w.external_id)::integer)
                else p_items -> (b.positions ->> w.external_id)::integer
            end,
            p_received_at
        from written as w
        cross join by_id as b
        on conflict (activity_id) do update set
            payload = excluded.payload,
            received_at = excluded.received_at
        returning r.activity_id
    )

    select
        (select count(*) from written as w where w.inserted)::integer,
        (
            select count(*)
            from written as w
            cross join by_id as b
            where not w.inserted and not b.touched ? w.external_id
        )::integer,
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
    into n_created, n_updated, n_skipped, v_errors;

    return query select n_created, n_updated, n_skipped - n_created - n_updated, v_errors;
end;
$$;
create or replace function public.ingest_activities(
    p_connection_id bigint,
    p_items jsonb,
    p_deleted_external_ids text[] default '{}',
    p_received_at timestamptz default now()
)
returns table (created integer, updated integer, skipped integer, deleted integer, errors jsonb)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    conn public.provider_connections;
    received timestamptz := coalesce(p_received_at, now());
    n_created integer := 0;
    n_updated integer := 0;
    n_skipped integer := 0;
    n_deleted integer;
    v_errors jsonb := '[]';
    v_item jsonb;
    v_index integer;
    r record;
begin
    select pc.* into conn
    from public.provider_connections as pc
    where pc.id = p_connection_id;
    if not found then
        raise exception 'unknown connection %', p_connection_id using errcode = '22023';
    end if;
    if p_items is not null and jsonb_typeof(p_items) <> 'array' then
        raise exception 'p_items must be a JSON array of activity payloads, got %',
            jsonb_typeof(p_items) using errcode = '22023';
    end if;

    -- The fast path: the whole page in one statement.
    begin
        select * into r
        from private.ingest_page(
            p_connection_id, conn.user_id, conn.provider, p_items, received, 0
        );
        n_created := r.created;
        n_updated := r.updated;
        n_skipped := r.skipped;
        v_errors := r.errors;
    exception when others then
        -- Something in the page made the statement raise (normalisers never should): redo
        -- the page item by item, each in its own subtransaction, and report the items that
        -- still raise, so the rest of the page is stored.
        for v_item, v_index in
            select i.payload, (i.ord - 1)::integer
            from jsonb_array_elements(p_items) with ordinality as i (payload, ord)
        loop
            begin
                select * into r
                from private.ingest_page(
                    p_connection_id, conn.user_id, conn.provider, jsonb_build_array(v_item),
                    received, v_index
                );
                n_created := n_created + r.created;
                n_updated := n_updated + r.updated;
                n_skipped := n_skipped + r.skipped;
                v_errors := v_errors || r.errors;
            exception when others then
                v_errors := v_errors || jsonb_build_array(
                    jsonb_build_object(
                        'index', v_index,
                        'external_id', null,
                        'reason', left('item could not be ingested: ' || sqlerrm, 500)
                    )
                );
            end;
        end loop;
    end;

    -- Deletions last, so a page that both updates and deletes an activity leaves it deleted.
    -- Only when there are any: an UPDATE of no rows still fires the statement triggers on
    -- activities (duplicate grouping, rollups).
    n_deleted := 0;
    if cardinality(p_deleted_external_ids) > 0 then
        update public.activities as a set
            deleted_at = received
        where
            a.connection_id = p_connection_id
            and a.external_id = any(p_deleted_external_ids)
            and a.deleted_at is null;
        get diagnostics n_deleted = row_count;
    end if;

    return query select n_created, n_updated, n_skipped, n_deleted, v_errors;
end;
$$;
