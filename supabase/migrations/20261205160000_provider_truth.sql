-- Issue 13, provider truth: what the providers' real APIs say, in the database.
--
-- 1. sync_status gains 'skipped': a run the provider declined for a reason the athlete can fix
--    (Garmin refuses a history backfill without HISTORICAL_DATA_EXPORT). It is not a failure:
--    the connection keeps its status and failure count; the hint is its last_error.
-- 2. sync_history.activities_failed: the items a run received but could not store (malformed:
--    the ingest reports them as errors). fetched = created + updated + skipped + failed for
--    every finished run; public.sync_finish records the count the worker summed from the
--    pages' error lists.
-- 3. private.normalize_wahoo reads the workout summary's IANA time_zone: timezone, and
--    utc_offset at the workout's start (daylight saving included).
-- 4. A disconnected connection keeps no provider profile: provider_profile and
--    provider_username are scrubbed by a trigger, whichever path disconnects it.
-- 5. public.connection_update_permissions: a confirmed permission change (Garmin
--    userPermissionsChange) stores the granted scopes and marks the connection: error with an
--    athlete-facing reason while a required permission is missing, active again once it is
--    granted back. Tokens are kept: the athlete re-grants in the provider's app.
-- 6. public.connection_count_live: the athletes a provider application serves, for a
--    provider's athlete cap (Strava's Standard tier).

-- 1 ----------------------------------------------------------------------------------------------

alter type public.sync_status add value if not exists 'skipped';
comment on type public.sync_status is
    'Outcome of one synchronisation run: running (started, not finished), success (everything '
    'fetched and stored), failed (nothing durable stored), partial (some pages stored, then an '
    'error), skipped (the provider declined for a reason the athlete can fix, e.g. Garmin '
    'history without HISTORICAL_DATA_EXPORT; error_message says what to grant).';

-- 2 ----------------------------------------------------------------------------------------------

alter table public.sync_history
add column activities_failed integer not null default 0;
alter table public.sync_history
add constraint sync_history_failed_nonnegative check (activities_failed >= 0);
comment on column public.sync_history.activities_failed is
    'Activities received that could not be stored (malformed; their reasons are in '
    'error_details.skipped_items). For a finished run, activities_fetched = created + updated '
    '+ skipped + failed.';
comment on column public.sync_history.activities_skipped is
    'Valid activities received that changed nothing: unchanged, out of date, deleted or '
    'repeated in the page. Malformed ones are counted in activities_failed.';

drop function public.sync_finish(bigint, text, public.sync_status, text, jsonb);

create function public.sync_finish(
    p_sync_id bigint,
    p_holder text,
    p_status public.sync_status,
    p_error_message text default null,
    p_error_details jsonb default null,
    p_activities_failed integer default null
)
returns table (finished boolean, sync_status public.sync_status)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    run public.sync_history;
begin
    if p_status is null or p_status = 'running' then
        raise exception 'a sync finishes as success, partial, failed or skipped, not %', p_status
            using errcode = '22023';
    end if;
    if (p_status = 'success') <> (p_error_message is null) then
        raise exception 'an error message is required exactly when the sync did not succeed'
            using errcode = '22023';
    end if;
    if p_activities_failed < 0 then
        raise exception 'p_activities_failed must not be negative' using errcode = '22023';
    end if;
    delete from private.sync_leases as l
    where l.sync_history_id = p_sync_id and l.holder = p_holder;
    if not found then
        -- The run was closed as abandoned (or finished) meanwhile: leave it as it is.
        return query select false, h.sync_status from public.sync_history as h
        where h.id = p_sync_id;
        return;
    end if;
    update public.sync_history as h set
        sync_status = p_status,
        sync_completed_at = greatest(now(), h.sync_started_at),
        error_message = left(p_error_message, 1000),
        error_details = case
            when p_error_details is null then h.error_details
            else coalesce(h.error_details, '{}'::jsonb) || p_error_details
        end,
        -- The worker's sum of the pages' errors; without it, what the other counters leave.
        activities_failed = coalesce(
            p_activities_failed,
            greatest(
                h.activities_fetched - h.activities_created - h.activities_updated
                - h.activities_skipped,
                0
            )
        )
    where h.id = p_sync_id and h.sync_status = 'running'
    returning h.* into run;
    if run.id is null then
        return query select false, h.sync_status from public.sync_history as h
        where h.id = p_sync_id;
        return;
    end if;
    if p_status = 'success' then
        update public.provider_connections as pc set
            last_sync_at = now(),
            last_error = null,
            consecutive_failures = 0,
            status = case when pc.status = 'error' then 'active' else pc.status end
        where pc.id = run.connection_id;
    elsif p_status = 'skipped' then
        -- Declined, not failed: the athlete sees what to do; status and failures stay.
        update public.provider_connections as pc set
            last_error = left(p_error_message, 1000),
            last_error_at = now()
        where pc.id = run.connection_id;
    else
        update public.provider_connections as pc set
            last_error = left(p_error_message, 1000),
            last_error_at = now(),
            consecutive_failures = pc.consecutive_failures + 1,
            status = case when pc.status = 'active' then 'error' else pc.status end
        where pc.id = run.connection_id;
    end if;
    return query select true, run.sync_status;
end;
$$;
comment on function public.sync_finish(
    bigint, text, public.sync_status, text, jsonb, integer
) is
    'Ends the run p_holder holds: success (no p_error_message; the connection''s last_sync_at is '
    'set, its failures reset and an error status cleared), partial (some pages stored, then an '
    'error), failed (nothing stored) — on partial or failed the connection records '
    'p_error_message (one line, no secrets) and counts the failure — or skipped (the provider '
    'declined for a reason the athlete can fix: p_error_message becomes the connection''s '
    'last_error, its status and failure count stay). p_activities_failed is the number of items '
    'the run could not store (the sum of the pages'' errors; when null, fetched minus created, '
    'updated and skipped). p_error_details is merged into the run''s error_details. Releases '
    'the lease. finished is false when the run had already been closed (abandoned). Service '
    'role only.';
revoke all on function public.sync_finish(
    bigint, text, public.sync_status, text, jsonb, integer
) from public, anon, authenticated;
grant execute on function public.sync_finish(
    bigint, text, public.sync_status, text, jsonb, integer
) to service_role;

-- 3 ----------------------------------------------------------------------------------------------

-- The same definition as issue 15's (20261205130000_file_time_zones_and_cadence.sql, merged in
-- parallel): created here when that migration is absent, replaced by an equal one otherwise.
create or replace function private.zone_utc_offset(p_zone text, p_at timestamptz)
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
comment on function private.zone_utc_offset(text, timestamptz) is
    'Offset in s (east positive) of the IANA zone p_zone at the instant p_at, daylight saving '
    'time included (the server''s time-zone database); null for a name that is not a zone. '
    'Never raises. Service role only.';
revoke all on function private.zone_utc_offset(text, timestamptz) from public, anon, authenticated;
grant execute on function private.zone_utc_offset(text, timestamptz) to service_role;

create or replace function private.normalize_wahoo(p_payload jsonb)
returns private.normalized_activity
language plpgsql
stable
set search_path = ''
as $$
declare
    -- The webhook nests the workout inside its summary; the list nests the summary inside the
    -- workout. Both shapes are accepted: the workout is the item, its summary the metrics.
    w jsonb := case
        when jsonb_typeof(p_payload -> 'workout') = 'object' then p_payload -> 'workout'
        else p_payload
    end;
    s jsonb;
    r private.normalized_activity;
    v_type text;
    v_total double precision;
    v_active double precision;
    v_distance double precision;
    v_speed double precision;
    v_token text;
    v_zone text;
    v_offset integer;
begin
    if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
        r.error := 'wahoo workout is not a JSON object';
        return r;
    end if;
    s := case
        when jsonb_typeof(w -> 'workout_summary') = 'object' then w -> 'workout_summary'
        when jsonb_typeof(p_payload -> 'workout') = 'object' then p_payload - 'workout'
        else '{}'::jsonb
    end;

    r.external_id := case jsonb_typeof(w -> 'id')
        when 'number' then w ->> 'id'
        when 'string' then nullif(btrim(w ->> 'id'), '')
    end;
    if r.external_id is null then
        r.error := 'wahoo workout without an id';
        return r;
    end if;
    r.start_date := private.try_timestamptz(w ->> 'starts');
    if r.start_date is null then
        r.error := 'wahoo workout ' || r.external_id || ' without a valid "starts"';
        return r;
    end if;
    -- "starts" is UTC; the summary's time_zone (an IANA name, e.g. "America/Toronto") gives
    -- the local clock. Without a known zone the start stays UTC (offset 0, no zone).
    v_zone := case when jsonb_typeof(s -> 'time_zone') = 'string' then btrim(s ->> 'time_zone') end;
    v_offset := private.zone_utc_offset(v_zone, r.start_date);
    r.timezone := case when v_offset is not null then v_zone end;
    r.utc_offset := coalesce(v_offset, 0);

    r.name := left(nullif(btrim(w ->> 'name'), ''), 500);
    r.description := null;
    v_type := case jsonb_typeof(w -> 'workout_type_id')
        when 'number' then w ->> 'workout_type_id'
        when 'string' then nullif(btrim(w ->> 'workout_type_id'), '')
    end;
    r.provider_activity_type := v_type;
    r.activity_type := private.map_activity_type('wahoo', v_type);

    v_total := private.wahoo_number(s -> 'duration_total_accum');
    v_active := private.wahoo_number(s -> 'duration_active_accum');
    if v_total is null and private.wahoo_number(w -> 'minutes') > 0 then
        v_total := private.wahoo_number(w -> 'minutes') * 60;
    end if;
    r.elapsed_time := case when v_total >= 0 and v_total < 2147483647 then round(v_total) end;
    r.moving_time := case
        when v_active >= 0 and v_active < 2147483647 then round(v_active)
    end;

    v_distance := private.wahoo_number(s -> 'distance_accum');
    r.distance := case when v_distance >= 0 then v_distance end;
    v_speed := private.wahoo_number(s -> 'speed_avg');
    r.average_speed := case
        when v_speed >= 0 then v_speed
        when r.distance > 0 and r.moving_time > 0 then r.distance / r.moving_time
    end;
    r.max_speed := null;  -- not in the workout summary

    r.average_heartrate := (
        select x from (select private.wahoo_number(s -> 'heart_rate_avg') as x) as v
        where x > 0 and x <= 300
    );
    r.max_heartrate := null;
    r.average_watts := nullif(greatest(private.wahoo_number(s -> 'power_avg'), 0), 0);
    r.max_watts := null;
    r.weighted_average_watts := nullif(
        greatest(private.wahoo_number(s -> 'power_bike_np_last'), 0), 0
    );
    r.average_cadence := nullif(greatest(private.wahoo_number(s -> 'cadence_avg'), 0), 0);
    r.max_cadence := null;
    r.elevation_gain := (
        select x from (select private.wahoo_number(s -> 'ascent_accum') as x) as v where x >= 0
    );
    r.elevation_loss := null;
    r.calories := (
        select x from (select private.wahoo_number(s -> 'calories_accum') as x) as v where x >= 0
    );

    r.is_manual := case
        when jsonb_typeof(s -> 'manual') = 'boolean' then (s ->> 'manual')::boolean
        else false
    end;
    r.is_private := false;
    -- workout_token is "<device name>:<workout counter>" for ELEMNT/KICKR recordings.
    v_token := w ->> 'workout_token';
    r.device_name := case
        when v_token ~ '^.+:[0-9]+$' then left(btrim(substring(v_token from '^(.+):[0-9]+$')), 200)
    end;

    r.activity_data := jsonb_strip_nulls(jsonb_build_object(
        'workout_summary_id', s -> 'id',
        'plan_id', w -> 'plan_id',
        'workout_token', w -> 'workout_token',
        'tss', private.wahoo_number(s -> 'power_bike_tss_last'),
        'work_joules', private.wahoo_number(s -> 'work_accum'),
        'duration_paused', private.wahoo_number(s -> 'duration_paused_accum'),
        'time_zone', s -> 'time_zone',
        'fit_url', s #> '{file,url}'
    ));
    r.provider_updated_at := (
        select max(t) from unnest(array[
            private.try_timestamptz(w ->> 'updated_at'),
            private.try_timestamptz(s ->> 'updated_at')
        ]) as t
    );
    r.error := null;
    return r;
end;
$$;
comment on function private.normalize_wahoo(jsonb) is
    'One Wahoo workout (GET /v1/workouts item: the workout with its workout_summary; or the '
    'webhook''s workout_summary with its nested workout) as private.normalized_activity: '
    'decimal strings to numbers, UTC start with the summary''s IANA time_zone as timezone and '
    'its offset at the start as utc_offset (no or unknown zone: offset 0, no timezone), '
    'durations in s, distance in m, speed in m/s, power_bike_np_last as weighted average power, '
    'zero heart rate/power/cadence as not measured, provider_updated_at the later of the '
    'workout''s and summary''s updated_at. Pure; returns error instead of raising.';

-- 4 ----------------------------------------------------------------------------------------------

create function private.scrub_disconnected_profile()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.status = 'disconnected' and old.status is distinct from 'disconnected' then
        new.provider_profile := '{}'::jsonb;
        new.provider_username := null;
    end if;
    return new;
end;
$$;
comment on function private.scrub_disconnected_profile() is
    'Trigger on provider_connections: a connection that becomes disconnected (through '
    'connection_disconnect or the athlete''s own update of status) keeps no provider profile '
    '(provider_profile emptied, provider_username cleared; Strava''s API agreement allows '
    'keeping an athlete''s Strava data only while they are connected). provider_user_id stays: '
    'it routes a later deauthorisation webhook and a reconnect to this row.';
revoke all on function private.scrub_disconnected_profile() from public, anon, authenticated;

create trigger provider_connections_scrub_disconnected_profile
before update of status on public.provider_connections
for each row
execute function private.scrub_disconnected_profile();

-- Connections disconnected before this migration.
update public.provider_connections as pc set
    provider_profile = '{}'::jsonb,
    provider_username = null
where
    pc.status = 'disconnected'
    and (pc.provider_profile <> '{}'::jsonb or pc.provider_username is not null);

-- 6 ----------------------------------------------------------------------------------------------

create function public.connection_count_live(
    p_provider public.provider_type,
    p_except_user_id uuid
)
returns integer
language sql
stable
set search_path = ''
as $$
    select count(*)::integer
    from public.provider_connections as pc
    where pc.provider = p_provider
        and pc.is_active
        and pc.user_id is distinct from p_except_user_id;
$$;
comment on function public.connection_count_live(public.provider_type, uuid) is
    'How many athletes other than p_except_user_id hold a live (active or error) connection '
    'to p_provider: the athletes the provider application serves, checked against a '
    'provider''s athlete cap (Strava''s Standard tier: 10) before a new athlete is sent to '
    'the provider. Service role only.';
revoke all on function public.connection_count_live(public.provider_type, uuid)
from public, anon, authenticated;
grant execute on function public.connection_count_live(public.provider_type, uuid)
to service_role;

-- 5 ----------------------------------------------------------------------------------------------

create function public.connection_update_permissions(
    p_connection_id bigint,
    p_scopes text[],
    p_missing text[],
    p_reason text default null
)
returns table (changed boolean, status public.connection_status)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    conn public.provider_connections;
    v_status public.connection_status;
begin
    if p_scopes is null or p_missing is null then
        raise exception 'p_scopes and p_missing are required' using errcode = '22023';
    end if;
    if cardinality(p_missing) > 0 and p_reason is null then
        raise exception 'a reason is required when a permission is missing' using errcode = '22023';
    end if;
    select pc.* into conn
    from public.provider_connections as pc
    where pc.id = p_connection_id
    for update;
    if conn.id is null or conn.status not in ('active', 'error') then
        -- Unknown, revoked or disconnected: a permission change has nothing to update.
        return query select false, conn.status;
        return;
    end if;
    v_status := case
        when cardinality(p_missing) > 0 then 'error'::public.connection_status
        else 'active'::public.connection_status
    end;
    update public.provider_connections as pc set
        scopes = p_scopes,
        status = v_status,
        -- Granted back: the error goes (a sync error that remains comes back at the next run).
        last_error = case
            when cardinality(p_missing) > 0 then left(p_reason, 1000)
            when conn.status = 'error' then null
            else pc.last_error
        end,
        last_error_at = case when cardinality(p_missing) > 0 then now() else pc.last_error_at end
    where pc.id = p_connection_id;
    if conn.scopes is distinct from p_scopes or conn.status <> v_status then
        insert into public.connection_events (connection_id, user_id, event, detail)
        values (
            p_connection_id, conn.user_id, 'scopes_changed',
            jsonb_build_object(
                'scopes', to_jsonb(p_scopes),
                'missing', to_jsonb(p_missing),
                'previous_status', conn.status,
                'status', v_status
            )
        );
    end if;
    return query select conn.scopes is distinct from p_scopes or conn.status <> v_status, v_status;
end;
$$;
comment on function public.connection_update_permissions(bigint, text[], text[], text) is
    'Records a permission change the provider itself confirmed (Garmin /user/permissions after '
    'a userPermissionsChange webhook): stores p_scopes as the connection''s scopes; with '
    'required permissions missing (p_missing), status error and p_reason (what to grant, in '
    'words the athlete can act on) as last_error; with none missing, status active again (a '
    'permission error cleared). Tokens stay: the athlete re-grants in the provider''s app, no '
    'reconnect needed. Records a scopes_changed event when something changed. Only active or '
    'error connections change. Service role only.';
revoke all on function public.connection_update_permissions(bigint, text[], text[], text)
from public, anon, authenticated;
grant execute on function public.connection_update_permissions(bigint, text[], text[], text)
to service_role;
