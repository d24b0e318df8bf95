-- An athlete's own edits win over provider data (issue 14, finding 4).
--
-- The ingest upsert overwrote name, description and is_private whenever a payload differed, so
-- a re-sync (or a replayed payload) undid the athlete's edits: a private activity reappeared to
-- the coach. Now:
-- - activities.user_edited_fields lists the fields the athlete edited through the Data API
--   (the only fields they may update: name, description, is_private); a BEFORE UPDATE trigger
--   adds a field when an API role (authenticated) changes it, and never removes one;
-- - the ingest (private.ingest_page) and public.renormalize_activities keep the stored value of
--   every field listed there, whatever the provider sends; the upsert re-checks the list under
--   the row lock, so an edit made while a page was being planned still wins;
-- - privacy is one of those fields: once the athlete made a row private it stays private until
--   the athlete makes it public again (and a row the athlete made public stays public until
--   they hide it: the athlete's last word wins, in both directions). Fields the athlete never
--   touched keep following the provider, is_private included (hiding it at the provider hides
--   it here).

alter table public.activities
add column user_edited_fields text[] not null default '{}',
add constraint activities_user_edited_fields_known check (
    user_edited_fields <@ array['name', 'description', 'is_private']::text[]
);

comment on column public.activities.user_edited_fields is
    'The fields the athlete edited in Trainlytics (name, description, is_private), recorded by '
    'a trigger on their updates: a later sync or re-normalisation keeps the athlete''s value of '
    'each of them instead of the provider''s.';

create function private.record_user_edits()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    -- Only the Data API's roles are the athlete; workers (service_role) write provider data.
    if current_user not in ('authenticated', 'anon') then
        return new;
    end if;
    new.user_edited_fields := array(
        select distinct f.field
        from unnest(
            old.user_edited_fields
            || case when new.name is distinct from old.name then array['name'] end
            || case
                when new.description is distinct from old.description then array['description']
            end
            || case
                when new.is_private is distinct from old.is_private then array['is_private']
            end
        ) as f (field)
        where f.field is not null
        order by f.field
    );
    return new;
end;
$$;
comment on function private.record_user_edits() is
    'Trigger on activities: when an API role (the athlete) changes name, description or '
    'is_private, adds the field to user_edited_fields, so that later provider data does not '
    'overwrite it. Security invoker: it judges the caller.';
revoke all on function private.record_user_edits() from public, anon, authenticated;

create trigger activities_record_user_edits
before update of name, description, is_private on public.activities
for each row
when (
    -- the Data API's roles only (workers write provider data): no call per row of an ingest
    current_user in ('authenticated', 'anon')
    and (new.name, new.description, new.is_private)
    is distinct from (old.name, old.description, old.is_private)
)
execute function private.record_user_edits();

-- The ingest: the athlete's fields win (only the merge and the upsert's SET change) ----------

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
            case
                when 'is_private' = any(a.user_edited_fields) then a.is_private
                else c.is_private
            end as is_private,
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
                case when 'name' = any(a.user_edited_fields) then a.name else c.name end,
                c.activity_type, c.provider_activity_type, c.start_date, c.timezone,
                c.utc_offset, c.elapsed_time, c.moving_time, c.distance, c.average_speed,
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
            is_private = case
                when 'is_private' = any(a.user_edited_fields) then a.is_private
                else excluded.is_private
            end,
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
        select a.id, n.*
        from public.activities as a
        inner join public.activity_raw_payloads as r on a.id = r.activity_id
        cross join lateral private.normalize_activity(a.provider, r.payload) as n
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
        timezone = n.timezone,
        utc_offset = n.utc_offset,
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
        activity_data = n.activity_data - '_keep_stored'
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
            n.timezone, n.utc_offset, n.elapsed_time, n.moving_time, n.distance,
            n.average_speed, n.max_speed, n.average_heartrate, n.max_heartrate,
            n.average_watts, n.max_watts, n.weighted_average_watts, n.average_cadence,
            n.max_cadence, n.elevation_gain, n.elevation_loss, n.calories, n.is_manual,
            case
                when 'is_private' = any(a.user_edited_fields) then a.is_private
                else n.is_private
            end,
            n.device_name, n.activity_data - '_keep_stored'
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
