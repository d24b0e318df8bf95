-- Derived time zones survive re-syncs and re-normalisation (integration of issues 14 and 15).
--
-- Issue 15 derives the IANA zone of rows whose source gives none (Garmin, Wahoo, Polar, COROS,
-- Fitbit: public.set_activity_timezones, activity_data.timezone_source = position |
-- preferences), but issue 14's private.ingest_page and public.renormalize_activities
-- (20261205110100) wrote the normaliser's timezone, utc_offset and activity_data over it. Each
-- look-back sync replaying an unchanged Garmin item then counted an "update" (the derived zone
-- and timezone_source differed from the normaliser's null), wrote the row twice (rollups and
-- records moved out of the local week and back) and made the worker derive the zone again;
-- public.renormalize_activities lost derived zones for good. Both functions are redefined
-- (their 20261205110100 bodies, changed only here) so that, where the source gives no zone:
-- - timezone keeps the stored one (coalesce(source zone, stored zone));
-- - when the stored zone was derived (activity_data ? 'timezone_source') and the source gives
--   no offset (0 or null), utc_offset keeps the stored one (the zone's offset at the start;
--   recomputed from the zone if the start itself moved);
-- - timezone_source is carried into the new activity_data;
-- and the changed-row comparison sees the same values, so a replay of an unchanged payload is
-- "unchanged" again. A source that gives a zone (Strava) still wins, as before.

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
            x.pos + p_first_index as idx,
            -- The item's position in p_items: the raw payload is read back from there.
            x.pos,
            x.payload,
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
        -- Normalised in a function of its own: this statement's plan no longer contains the
        -- inlined normalisers, whose planning was most of its planning time.
        from private.normalize_page(p_provider, p_items) as x
        cross join lateral (select (x.normalized).*) as n  -- noqa: AM04
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
            -- The athlete's own edits win over the provider's values.
            case when 'name' = any(a.user_edited_fields) then a.name else c.name end as name,
            case
                when 'description' = any(a.user_edited_fields) then a.description
                when c.description is null and c.keep_stored ? 'description' then a.description
                else c.description
            end as description,
            c.activity_type,
            c.provider_activity_type,
            c.start_date,
            z.timezone,
            z.utc_offset,
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
            case
                when 'is_private' = any(a.user_edited_fields) then a.is_private
                else c.is_private
            end as is_private,
            case
                when c.device_name is null and c.keep_stored ? 'device_name' then a.device_name
                else c.device_name
            end as device_name,
            z.activity_data,
            (
                case when 'name' = any(a.user_edited_fields) then a.name else c.name end,
                c.activity_type, c.provider_activity_type, c.start_date, z.timezone,
                z.utc_offset, c.elapsed_time, c.moving_time, c.distance, c.average_speed,
                c.max_speed, c.average_heartrate, c.max_heartrate, c.average_watts,
                c.max_watts, c.weighted_average_watts, c.average_cadence, c.max_cadence,
                c.elevation_gain, c.elevation_loss, c.is_manual,
                case
                    when 'is_private' = any(a.user_edited_fields) then a.is_private
                    else c.is_private
                end
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
        -- A zone derived for the stored row (public.set_activity_timezones) is kept while the
        -- source gives none, with its offset while the source gives none either, and so is
        -- its timezone_source: a replayed payload compares equal to the stored row.
        cross join lateral (
            select
                coalesce(c.timezone, a.timezone) as timezone,
                case
                    when k.derived and coalesce(c.utc_offset, 0) = 0 then
                        case
                            when c.start_date = a.start_date then a.utc_offset
                            else coalesce(
                                private.zone_utc_offset(a.timezone, c.start_date), a.utc_offset
                            )
                        end
                    else c.utc_offset
                end as utc_offset,
                case
                    when k.derived
                        then k.activity_data
                        || jsonb_build_object('timezone_source', a.activity_data -> 'timezone_source')
                    -- (a stored one merged into a partial payload's data is not the source's)
                    when k.activity_data ? 'timezone_source'
                        then k.activity_data - 'timezone_source'
                    else k.activity_data
                end as activity_data
            from (
                select
                    (
                        c.timezone is null
                        and a.timezone is not null
                        and coalesce(a.activity_data ? 'timezone_source', false)
                    ) as derived,
                    case
                        when c.keep_stored is not null and a.activity_data is not null
                            then a.activity_data || c.activity_data
                        else c.activity_data
                    end as activity_data
            ) as k
        ) as z
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
            -- Re-checked here: the athlete may have edited since the plan read the row.
            name = case when 'name' = any(a.user_edited_fields) then a.name else excluded.name end,
            description = case
                when 'description' = any(a.user_edited_fields) then a.description
                else excluded.description
            end,
            activity_type = excluded.activity_type,
            provider_activity_type = excluded.provider_activity_type,
            start_date = excluded.start_date,
            -- Re-checked too: a zone may have been derived since the plan read the row.
            timezone = coalesce(excluded.timezone, a.timezone),
            utc_offset = case
                when
                    excluded.timezone is null
                    and a.timezone is not null
                    and a.activity_data ? 'timezone_source'
                    and coalesce(excluded.utc_offset, 0) = 0
                    then case
                        when excluded.start_date = a.start_date then a.utc_offset
                        else coalesce(
                            private.zone_utc_offset(a.timezone, excluded.start_date), a.utc_offset
                        )
                    end
                else excluded.utc_offset
            end,
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
            is_private = case
                when 'is_private' = any(a.user_edited_fields) then a.is_private
                else excluded.is_private
            end,
            device_name = excluded.device_name,
            activity_data = case
                when
                    excluded.timezone is null
                    and a.timezone is not null
                    and a.activity_data ? 'timezone_source'
                    then excluded.activity_data
                    || jsonb_build_object('timezone_source', a.activity_data -> 'timezone_source')
                else excluded.activity_data
            end,
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

-- Re-normalisation keeps the athlete's fields too -------------------------------------------

create or replace function public.renormalize_activities(
    p_provider public.provider_type default null
)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    changed integer;
begin
    with renormalized as (
        select
            a.id,
            n.*,
            -- A derived zone (public.set_activity_timezones) is kept while the source gives
            -- none, with its offset while the source gives none either, and its
            -- timezone_source: the same rule as private.ingest_page.
            coalesce(n.timezone, a.timezone) as kept_timezone,
            case
                when k.derived and coalesce(n.utc_offset, 0) = 0 then
                    case
                        when n.start_date = a.start_date then a.utc_offset
                        else coalesce(
                            private.zone_utc_offset(a.timezone, n.start_date), a.utc_offset
                        )
                    end
                else n.utc_offset
            end as kept_utc_offset,
            case
                when k.derived
                    then (n.activity_data - '_keep_stored')
                    || jsonb_build_object('timezone_source', a.activity_data -> 'timezone_source')
                else n.activity_data - '_keep_stored'
            end as kept_activity_data
        from public.activities as a
        inner join public.activity_raw_payloads as r on a.id = r.activity_id
        cross join lateral private.normalize_activity(a.provider, r.payload) as n
        cross join lateral (
            select (
                n.timezone is null
                and a.timezone is not null
                and coalesce(a.activity_data ? 'timezone_source', false)
            ) as derived
        ) as k
        where
            a.connection_id is not null
            and (p_provider is null or a.provider = p_provider)
    )

    update public.activities as a set
        name = case when 'name' = any(a.user_edited_fields) then a.name else n.name end,
        description = case
            when 'description' = any(a.user_edited_fields) then a.description
            else n.description
        end,
        activity_type = n.activity_type,
        provider_activity_type = n.provider_activity_type,
        start_date = n.start_date,
        timezone = n.kept_timezone,
        utc_offset = n.kept_utc_offset,
        elapsed_time = n.elapsed_time,
        moving_time = n.moving_time,
        distance = n.distance,
        average_speed = n.average_speed,
        max_speed = n.max_speed,
        average_heartrate = n.average_heartrate,
        max_heartrate = n.max_heartrate,
        average_watts = n.average_watts,
        max_watts = n.max_watts,
        weighted_average_watts = n.weighted_average_watts,
        average_cadence = n.average_cadence,
        max_cadence = n.max_cadence,
        elevation_gain = n.elevation_gain,
        elevation_loss = n.elevation_loss,
        calories = n.calories,
        is_manual = n.is_manual,
        is_private = case
            when 'is_private' = any(a.user_edited_fields) then a.is_private
            else n.is_private
        end,
        device_name = n.device_name,
        activity_data = n.kept_activity_data
    from renormalized as n
    where
        a.id = n.id
        and n.error is null
        and (
            case when 'name' = any(a.user_edited_fields) then a.name else n.name end,
            case
                when 'description' = any(a.user_edited_fields) then a.description
                else n.description
            end,
            n.activity_type, n.provider_activity_type, n.start_date,
            n.kept_timezone, n.kept_utc_offset, n.elapsed_time, n.moving_time, n.distance,
            n.average_speed, n.max_speed, n.average_heartrate, n.max_heartrate,
            n.average_watts, n.max_watts, n.weighted_average_watts, n.average_cadence,
            n.max_cadence, n.elevation_gain, n.elevation_loss, n.calories, n.is_manual,
            case
                when 'is_private' = any(a.user_edited_fields) then a.is_private
                else n.is_private
            end,
            n.device_name, n.kept_activity_data
        ) is distinct from (
            a.name, a.description, a.activity_type, a.provider_activity_type, a.start_date,
            a.timezone, a.utc_offset, a.elapsed_time, a.moving_time, a.distance,
            a.average_speed, a.max_speed, a.average_heartrate, a.max_heartrate,
            a.average_watts, a.max_watts, a.weighted_average_watts, a.average_cadence,
            a.max_cadence, a.elevation_gain, a.elevation_loss, a.calories, a.is_manual,
            a.is_private, a.device_name, a.activity_data
        );
    get diagnostics changed = row_count;
    return changed;
end;
$$;

-- Comments that no longer matched the behaviour ---------------------------------------------

-- 20261205110600 changed what a source is (manual entries are one) and capped the links per
-- row at 8; the comment of 20261125130000 still said "different source" without either.
comment on function private.group_activity_duplicates(uuid[], timestamptz[]) is
    'Regroups cross-source duplicates around the given (user_id, start_date) anchors, '
    'set-based: merged ±14 h 2 min windows around the anchors, read with the (user_id, '
    'start_date) index; the rows found and the rest of their groups (never overridden rows) '
    'are matched again, pairs being found by hashing 5-minute buckets of UTC and local starts '
    '(deduplicated per row; the matching statement joins by hash, enable_nestloop off). Same '
    'athlete and different sources - a source is a provider connection; all of the athlete''s '
    'manual entries are one source (two manual entries are two workouts, never copies); each '
    'file row is a source of its own -, compatible sport family (public.sport_families), start '
    'within 120 s with duration within max(120 s, 10 %) and distance within max(200 m, 5 %) '
    '(max(300 s, 20 %) and max(500 m, 10 %) with an upload-origin or device hint, none with a '
    'certain upload-origin link), or a whole-hour time-zone shift (1 to 14 h, ±60 s, one '
    'row''s local start equal to the other''s local or UTC start) with duration within '
    'max(60 s, 2 %) and distance within max(50 m, 1 %). Each row keeps its best match per '
    'source, and of those its 8 best overall; only mutual best matches link (one row per '
    'source in a group; links and the component walk stay linear in the rows). The primary is '
    'chosen by public.provider_priorities, then the richer record, then the oldest. Only '
    'changed rows are written. Also promotes a new primary in an overridden group whose '
    'primary was deleted. Returns the number of rows changed. Serialised per athlete '
    '(advisory lock). Security definer: it runs from the activities triggers, fired by any '
    'writer (an athlete''s manual entry too), and must read and update rows the writer may '
    'not.';

-- Issue 15's one cadence rule (private.is_foot_activity; Strava's and the files' single-leg
-- counts doubled, Garmin's already of both feet) covers every foot sport, not running only.
comment on column public.activities.average_cadence is
    'Average cadence per minute, one rule whatever the source: steps of both feet for the foot '
    'sports run, trail_run, treadmill_run, track_run, virtual_run, walk and hike (the '
    'single-leg counts of Strava and of activity files are doubled, see '
    'activity_data.cadence_doubled); crank revolutions for cycling, strokes for swimming and '
    'rowing, pushes for wheelchair sports; other sports as the source counts them.';
comment on column public.activities.max_cadence is
    'Maximum cadence per minute (same rule as average_cadence).';
comment on column private.normalized_activity.average_cadence is
    'Average cadence per minute: steps of both feet for run, trail_run, treadmill_run, '
    'track_run, virtual_run, walk and hike; the source''s unit otherwise.';

-- The athlete's preferred zone for provider rows without an offset -----------------------------

-- In 20261205130000, offset_told was null (not false) for a row with offset 0 and no
-- utc_offset_source (Wahoo, Fitbit, COROS without an offset): `false or null` is null, so
-- such a row never took its athlete's preferences.timezone. Redefined with only that changed.
create or replace function public.set_activity_timezones(p_items jsonb)
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
