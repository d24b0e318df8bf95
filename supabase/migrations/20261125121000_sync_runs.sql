-- Sync runs: the lifecycle of one synchronisation in sync_history, one run at a time per
-- connection, durable progress, and the provider rate limits shared by every worker.
--
-- A run is started by public.sync_start, which takes a lease on the connection
-- (private.sync_leases): a second run of the same connection is refused while the lease is
-- live, whatever machine asks. Each page of activities is stored by public.sync_ingest_page in
-- ONE transaction: public.ingest_activities, the run's counters, the connection's sync_cursor
-- and the lease's heartbeat. The cursor therefore never gets ahead of the stored data, and a
-- run killed at any point resumes from the last page that was stored. public.sync_finish closes
-- the run truthfully (success, partial or failed); a run whose worker died (its lease lapsed)
-- is closed by public.sync_close_stale_runs, called at every worker start, or taken over by the
-- next sync_start.
--
-- Rate limits: providers count requests per application (Strava 200 per quarter hour and 2,000
-- per day, ...), however many workers send them. private.rate_limit_windows holds one counter
-- per bucket and window; public.rate_limit_acquire reserves a request in every bucket it names,
-- atomically (rows locked in bucket order, so concurrent workers neither over-spend nor
-- deadlock), or says when to try again. public.rate_limit_observe records what the provider's
-- response headers reported, which also counts requests made outside the limiter.
--
-- Every function is security invoker, executable by service_role only (the workers).

-- Tables -------------------------------------------------------------------------------------

create table private.sync_leases (
    sync_history_id bigint primary key references public.sync_history (id) on delete cascade,
    connection_id bigint not null
    references public.provider_connections (id) on delete cascade,
    exclusive boolean not null default true,
    holder text not null,
    heartbeat_at timestamptz not null default now(),
    lease_until timestamptz not null,
    constraint sync_leases_holder_length check (char_length(holder) between 1 and 200),
    constraint sync_leases_until_after_heartbeat check (lease_until >= heartbeat_at)
);

-- One synchronisation of a connection at a time; webhook runs (not exclusive) run beside it.
create unique index sync_leases_connection_exclusive_key on private.sync_leases (connection_id)
where exclusive;

create index sync_leases_connection_id_idx on private.sync_leases (connection_id);

comment on table private.sync_leases is
    'The runs in progress: at most one exclusive run (a synchronisation) per connection, '
    'and any number of webhook runs beside it. A lease that is not renewed (its worker died) '
    'lapses at lease_until; the next sync_start or sync_close_stale_runs then closes that run.';

comment on column private.sync_leases.sync_history_id is 'The running sync_history row.';

comment on column private.sync_leases.connection_id is 'The connection being synchronised.';

comment on column private.sync_leases.exclusive is
    'True for a synchronisation (one at a time per connection; it owns the sync cursor), '
    'false for a webhook run, which only applies what one event said.';

comment on column private.sync_leases.holder is
    'Who runs it: host, process id and a random run token; only the holder may record '
    'progress or finish the run.';

comment on column private.sync_leases.heartbeat_at is
    'Last time the holder renewed the lease (at every stored page).';

comment on column private.sync_leases.lease_until is
    'The lease lapses at this instant unless renewed.';

alter table private.sync_leases enable row level security;

revoke all on table private.sync_leases from public, anon, authenticated;

grant select, insert, update, delete on table private.sync_leases to service_role;

create table private.rate_limit_windows (
    bucket text not null,
    window_start timestamptz not null,
    window_seconds integer not null,
    request_limit integer not null,
    used integer not null default 0,
    updated_at timestamptz not null default now(),
    primary key (bucket, window_start),
    constraint rate_limit_windows_bucket_length check (char_length(bucket) between 1 and 200),
    constraint rate_limit_windows_seconds_positive check (window_seconds > 0),
    constraint rate_limit_windows_limit_nonnegative check (request_limit >= 0),
    constraint rate_limit_windows_used_nonnegative check (used >= 0)
);

comment on table private.rate_limit_windows is
    'Provider API requests counted per rate-limit bucket and window, shared by every worker '
    '(e.g. bucket strava:overall:15min, window starting at a quarter hour). Rows of windows '
    'that ended over a day ago are deleted as new ones are used.';

comment on column private.rate_limit_windows.bucket is
    'The provider''s bucket name (providers.base.Provider.rate_limit_buckets), with the '
    'provider user id in it for per-user limits.';

comment on column private.rate_limit_windows.window_start is
    'Start of the window: the epoch time floored to a multiple of window_seconds (Strava''s '
    'quarter hours and UTC midnight).';

comment on column private.rate_limit_windows.window_seconds is 'Length of the window in s.';

comment on column private.rate_limit_windows.request_limit is
    'Requests allowed in the window: the configured limit, or what the provider''s headers '
    'last reported.';

comment on column private.rate_limit_windows.used is
    'Requests counted in the window: reserved by workers, or reported by the provider''s '
    'headers when higher.';

comment on column private.rate_limit_windows.updated_at is 'Last reservation or observation.';

alter table private.rate_limit_windows enable row level security;

revoke all on table private.rate_limit_windows from public, anon, authenticated;

grant select, insert, update, delete on table private.rate_limit_windows to service_role;

-- Closing a run whose worker is gone (shared by sync_start and sync_close_stale_runs) --------

create function private.close_abandoned_sync(p_sync_id bigint, p_reason text)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    run public.sync_history;
begin
    update public.sync_history as h set
        sync_status = case
            when h.activities_fetched > 0 or h.activities_deleted > 0
                then 'partial'::public.sync_status
            else 'failed'::public.sync_status
        end,
        sync_completed_at = greatest(now(), h.sync_started_at),
        error_message = p_reason,
        error_details = coalesce(h.error_details, '{}'::jsonb)
        || jsonb_build_object('abandoned', true)
    where h.id = p_sync_id and h.sync_status = 'running'
    returning h.* into run;
    delete from private.sync_leases as l where l.sync_history_id = p_sync_id;
    if run.id is null then
        return false;
    end if;
    update public.provider_connections as pc set
        last_error = p_reason,
        last_error_at = now(),
        consecutive_failures = pc.consecutive_failures + 1,
        status = case when pc.status = 'active' then 'error' else pc.status end
    where pc.id = run.connection_id;
    return true;
end;
$$;

comment on function private.close_abandoned_sync(bigint, text) is
    'Closes a running sync_history row whose worker stopped (its lease lapsed): partial when it '
    'had stored something, failed otherwise, with p_reason as error_message; drops its lease '
    'and records the failure on the connection. False when the run was not running.';

-- Grants: service_role only ---------------------------------------------------------------------

revoke all on function private.close_abandoned_sync(bigint, text)
from public, anon, authenticated;

grant execute on function private.close_abandoned_sync(bigint, text) to service_role;

-- Lifecycle -----------------------------------------------------------------------------------

create function public.sync_start(
    p_connection_id bigint,
    p_trigger public.sync_trigger,
    p_holder text,
    p_lease_seconds integer default 300,
    p_exclusive boolean default true
)
returns table (
    status text,
    sync_id bigint,
    provider public.provider_type,
    provider_user_id text,
    sync_cursor jsonb,
    last_sync_at timestamptz,
    lease_until timestamptz
)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    conn public.provider_connections;
    lease private.sync_leases;
    new_id bigint;
    v_until timestamptz;
begin
    if p_lease_seconds is null or p_lease_seconds not between 5 and 86400 then
        raise exception 'lease must be between 5 and 86400 seconds, got %', p_lease_seconds
            using errcode = '22023';
    end if;
    -- The connection row lock serialises concurrent starts of the same connection.
    select pc.* into conn
    from public.provider_connections as pc
    where pc.id = p_connection_id
    for update;
    if conn.id is null then
        return query select
            'unknown'::text, null::bigint, null::public.provider_type, null::text, null::jsonb,
            null::timestamptz, null::timestamptz;
        return;
    end if;
    if not conn.is_active then
        return query select
            'inactive'::text, null::bigint, conn.provider, conn.provider_user_id,
            conn.sync_cursor, conn.last_sync_at, null::timestamptz;
        return;
    end if;
    select l.* into lease
    from private.sync_leases as l
    where l.connection_id = p_connection_id and l.exclusive and coalesce(p_exclusive, true)
    for update;
    if lease.connection_id is not null then
        if lease.lease_until > now() then
            return query select
                'busy'::text, lease.sync_history_id, conn.provider, conn.provider_user_id,
                conn.sync_cursor, conn.last_sync_at, lease.lease_until;
            return;
        end if;
        perform private.close_abandoned_sync(
            lease.sync_history_id,
            format(
                'the worker running this sync stopped responding (last heartbeat %s); '
                'the next run resumed from the last stored page',
                to_char(lease.heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            )
        );
    end if;
    v_until := now() + make_interval(secs => p_lease_seconds);
    insert into public.sync_history as h (connection_id, user_id, sync_trigger)
    values (conn.id, conn.user_id, p_trigger)
    returning h.id into new_id;
    insert into private.sync_leases as l (
        sync_history_id, connection_id, exclusive, holder, heartbeat_at, lease_until
    ) values (new_id, conn.id, coalesce(p_exclusive, true), p_holder, now(), v_until);
    return query select
        'started'::text, new_id, conn.provider, conn.provider_user_id, conn.sync_cursor,
        conn.last_sync_at, v_until;
end;
$$;

comment on function public.sync_start(bigint, public.sync_trigger, text, integer, boolean) is
    'Starts a synchronisation run of a connection: a sync_history row (running) and a lease '
    'held by p_holder for p_lease_seconds. status: started (sync_id, the connection''s provider, '
    'provider_user_id, sync_cursor and last_sync_at are returned), busy (another run holds a live '
    'lease: sync_id and lease_until are its), inactive (the connection holds no tokens), unknown '
    '(no such connection). A lapsed lease (dead worker) is taken over: its run is closed first. '
    'p_exclusive false starts a webhook run, which may run beside a synchronisation and must '
    'not move the cursor. Service role only.';

revoke all on function public.sync_start(bigint, public.sync_trigger, text, integer, boolean)
from public, anon, authenticated;

grant execute on function public.sync_start(bigint, public.sync_trigger, text, integer, boolean)
to service_role;

create function public.sync_progress(
    p_sync_id bigint,
    p_holder text,
    p_api_calls integer default 0,
    p_window_start timestamptz default null,
    p_window_end timestamptz default null,
    p_lease_seconds integer default 300
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
    update private.sync_leases as l set
        heartbeat_at = now(),
        lease_until = now() + make_interval(secs => greatest(5, coalesce(p_lease_seconds, 300)))
    where l.sync_history_id = p_sync_id and l.holder = p_holder;
    if not found then
        return false;
    end if;
    update public.sync_history as h set
        api_calls = h.api_calls + greatest(coalesce(p_api_calls, 0), 0),
        window_start = coalesce(
            least(h.window_start, p_window_start), h.window_start, p_window_start
        ),
        window_end = coalesce(greatest(h.window_end, p_window_end), h.window_end, p_window_end)
    where h.id = p_sync_id and h.sync_status = 'running';
    return found;
end;
$$;

comment on function public.sync_progress(
    bigint, text, integer, timestamptz, timestamptz, integer
) is
    'Heartbeat of a running sync: renews p_holder''s lease, adds p_api_calls to the run and '
    'widens its window to cover [p_window_start, p_window_end). False when p_holder no longer '
    'holds the run (it was closed as abandoned): the caller must stop. Service role only.';

revoke all on function public.sync_progress(
    bigint, text, integer, timestamptz, timestamptz, integer
) from public, anon, authenticated;

grant execute on function public.sync_progress(
    bigint, text, integer, timestamptz, timestamptz, integer
) to service_role;

create function public.sync_advance_cursor(
    p_sync_id bigint,
    p_holder text,
    p_cursor jsonb
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_connection_id bigint;
begin
    if p_cursor is null or jsonb_typeof(p_cursor) <> 'object' then
        raise exception 'the sync cursor must be a JSON object' using errcode = '22023';
    end if;
    select l.connection_id into v_connection_id
    from private.sync_leases as l
    where l.sync_history_id = p_sync_id and l.holder = p_holder and l.exclusive
    for update;
    if v_connection_id is null then
        return false;
    end if;
    update public.provider_connections as pc set sync_cursor = p_cursor
    where pc.id = v_connection_id;
    return true;
end;
$$;

comment on function public.sync_advance_cursor(bigint, text, jsonb) is
    'Stores the connection''s durable sync position (a JSON object) for the synchronisation '
    'p_holder holds (not a webhook run). '
    'Call it only once everything before that position is stored (sync_ingest_page does both '
    'in one transaction). False when p_holder no longer holds the run. Service role only.';

revoke all on function public.sync_advance_cursor(bigint, text, jsonb)
from public, anon, authenticated;

grant execute on function public.sync_advance_cursor(bigint, text, jsonb) to service_role;

-- Deletions a provider expresses only by omission ---------------------------------------------

create function public.delete_missing_activities(
    p_connection_id bigint,
    p_window_start timestamptz,
    p_window_end timestamptz,
    p_external_ids text[],
    p_listed_at timestamptz
)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_user_id uuid;
    n_deleted integer;
begin
    -- A missing list is not an empty one: refusing it keeps a bug from deleting a window.
    if p_external_ids is null or p_listed_at is null then
        raise exception 'p_external_ids and p_listed_at are required' using errcode = '22023';
    end if;
    if p_window_start is null or p_window_end is null or p_window_start >= p_window_end then
        raise exception 'the window must be a non-empty [start, end)' using errcode = '22023';
    end if;
    select pc.user_id into v_user_id
    from public.provider_connections as pc
    where pc.id = p_connection_id;
    if v_user_id is null then
        raise exception 'unknown connection %', p_connection_id using errcode = '22023';
    end if;
    -- One statement; the user_id term lets activities_user_start_date_idx find the window.
    update public.activities as a set
        deleted_at = p_listed_at
    where
        a.user_id = v_user_id
        and a.connection_id = p_connection_id
        and a.start_date >= p_window_start
        and a.start_date < p_window_end
        and a.deleted_at is null
        and a.external_id <> all(p_external_ids)
        -- Written or changed since the listing began (a concurrent run, a newer version):
        -- the listing cannot speak for it.
        and a.updated_at < p_listed_at
        and coalesce(a.provider_updated_at, '-infinity') < p_listed_at;
    get diagnostics n_deleted = row_count;
    return n_deleted;
end;
$$;

comment on function public.delete_missing_activities(
    bigint, timestamptz, timestamptz, text[], timestamptz
) is
    'Applies deletions that a provider expresses only by omission (a Google Health DELETE '
    'notification names no exercise): given the complete list of the external ids the provider '
    'now returns for activities starting in [p_window_start, p_window_end), soft deletes, in one '
    'statement, the connection''s stored activities of that window missing from the list '
    '(deleted_at = p_listed_at, so the ingest''s newer-wins guard keeps an older replay from '
    'resurrecting them). Rows written or given a newer provider version at or after p_listed_at '
    '(when the listing began) are kept. A null list is refused, an empty one deletes the whole '
    'window. Returns the number of activities deleted. Service role only.';

revoke all on function public.delete_missing_activities(
    bigint, timestamptz, timestamptz, text[], timestamptz
) from public, anon, authenticated;

grant execute on function public.delete_missing_activities(
    bigint, timestamptz, timestamptz, text[], timestamptz
) to service_role;

create function public.sync_ingest_page(
    p_sync_id bigint,
    p_holder text,
    p_items jsonb,
    p_deleted_external_ids text[] default '{}',
    p_api_calls integer default 1,
    p_cursor jsonb default null,
    p_lease_seconds integer default 300,
    p_received_at timestamptz default now(),
    p_complete_starts timestamptz[] default '{}',
    p_complete_ends timestamptz[] default '{}'
)
returns table (
    lease_held boolean,
    created integer,
    updated integer,
    skipped integer,
    deleted integer,
    errors jsonb
)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    v_connection_id bigint;
    v_exclusive boolean;
    v_listed_at timestamptz;
    v_listed_ids text[];
    v_unidentified boolean;
    v_provider public.provider_type;
    v_items jsonb := coalesce(p_items, '[]'::jsonb);
    v_deleted text[] := coalesce(p_deleted_external_ids, '{}');
    r record;
    v_created integer := 0;
    v_updated integer := 0;
    v_skipped integer := 0;
    v_deleted_count integer := 0;
    v_errors jsonb := '[]'::jsonb;
begin
    -- An empty list may arrive as '{}' (a driver adapting [] as an empty SQL array literal).
    if v_items = '{}'::jsonb then
        v_items := '[]'::jsonb;
    end if;
    if jsonb_typeof(v_items) <> 'array' then
        raise exception 'p_items must be a JSON array' using errcode = '22023';
    end if;
    -- The lease row lock makes the page, the counters and the cursor one step of one holder.
    select l.connection_id, l.exclusive, l.heartbeat_at
    into v_connection_id, v_exclusive, v_listed_at
    from private.sync_leases as l
    where l.sync_history_id = p_sync_id and l.holder = p_holder
    for update;
    if v_connection_id is null then
        return query select false, 0, 0, 0, 0, '[]'::jsonb;
        return;
    end if;
    if p_cursor is not null and not v_exclusive then
        raise exception 'a webhook run does not move the sync cursor' using errcode = '22023';
    end if;
    if jsonb_array_length(v_items) > 0 or cardinality(v_deleted) > 0 then
        select i.* into r
        from public.ingest_activities(v_connection_id, v_items, v_deleted, p_received_at) as i;
        v_created := coalesce(r.created, 0);
        v_updated := coalesce(r.updated, 0);
        v_skipped := coalesce(r.skipped, 0);
        v_deleted_count := coalesce(r.deleted, 0);
        v_errors := coalesce(r.errors, '[]'::jsonb);
    end if;
    if coalesce(cardinality(p_complete_starts), 0) <> coalesce(cardinality(p_complete_ends), 0)
        then
        raise exception 'p_complete_starts and p_complete_ends must have the same length'
            using errcode = '22023';
    end if;
    if coalesce(cardinality(p_complete_starts), 0) > 0 then
        select pc.provider into v_provider
        from public.provider_connections as pc
        where pc.id = v_connection_id;
        -- The ids exactly as the ingest stored them: through the provider's own normaliser.
        -- An item without a readable id might be any stored activity: then nothing is deleted.
        select
            coalesce(array_agg(n.external_id) filter (where n.external_id is not null), '{}'),
            coalesce(bool_or(n.external_id is null), false)
        into v_listed_ids, v_unidentified
        from private.normalize_page(v_provider, v_items) as x
        cross join lateral (select (x.normalized).*) as n  -- noqa: AM04
        -- Items the normaliser returned nothing for are left out, as before (a real row is
        -- never all null).
        where not x.normalized is null;
        if not v_unidentified then
            -- The listing began after the lease's last heartbeat (the run's start or its
            -- previous page), a database time: rows changed since then are kept.
            select v_deleted_count + coalesce(sum(
                public.delete_missing_activities(
                    v_connection_id, w.window_start, w.window_end, v_listed_ids, v_listed_at
                )
            ), 0)::integer
            into v_deleted_count
            from unnest(p_complete_starts, p_complete_ends) as w (window_start, window_end);
        end if;
    end if;
    update public.sync_history as h set
        activities_fetched = h.activities_fetched + jsonb_array_length(v_items),
        activities_created = h.activities_created + v_created,
        activities_updated = h.activities_updated + v_updated,
        activities_skipped = h.activities_skipped + v_skipped,
        activities_deleted = h.activities_deleted + v_deleted_count,
        api_calls = h.api_calls + greatest(coalesce(p_api_calls, 0), 0),
        -- Keep the first 100 skipped items and their reasons (never a payload).
        error_details = case
            when jsonb_array_length(v_errors) = 0 then h.error_details
            else coalesce(h.error_details, '{}'::jsonb) || jsonb_build_object(
                'skipped_items',
                (
                    select coalesce(jsonb_agg(e.value), '[]'::jsonb)
                    from (
                        select x.value
                        from jsonb_array_elements(
                            coalesce(h.error_details -> 'skipped_items', '[]'::jsonb) || v_errors
                        ) as x
                        limit 100
                    ) as e
                )
            )
        end
    where h.id = p_sync_id;
    if p_cursor is not null then
        if jsonb_typeof(p_cursor) <> 'object' then
            raise exception 'the sync cursor must be a JSON object' using errcode = '22023';
        end if;
        update public.provider_connections as pc set sync_cursor = p_cursor
        where pc.id = v_connection_id;
    end if;
    update private.sync_leases as l set
        heartbeat_at = now(),
        lease_until = now() + make_interval(secs => greatest(5, coalesce(p_lease_seconds, 300)))
    where l.sync_history_id = p_sync_id;
    return query select true, v_created, v_updated, v_skipped, v_deleted_count, v_errors;
end;
$$;

comment on function public.sync_ingest_page(
    bigint, text, jsonb, text[], integer, jsonb, integer, timestamptz, timestamptz[],
    timestamptz[]
) is
    'Stores one page of a running sync in one transaction: public.ingest_activities(p_items, '
    'p_deleted_external_ids), the run''s counters (fetched, created, updated, skipped, deleted, '
    'api calls; the first 100 skipped items with their reasons in error_details), the '
    'connection''s sync_cursor (when p_cursor is given) and the lease''s heartbeat. The cursor '
    'thus never moves past data that is not stored. Windows [p_complete_starts[i], '
    'p_complete_ends[i]) that the page lists completely are reconciled with '
    'public.delete_missing_activities (ids read by the provider''s normaliser; skipped when an '
    'item has no id; listing time = the lease''s last heartbeat); those deletions count as '
    'deleted. lease_held is false (and nothing is done) when p_holder no longer holds the run. '
    'Service role only.';

revoke all on function public.sync_ingest_page(
    bigint, text, jsonb, text[], integer, jsonb, integer, timestamptz, timestamptz[],
    timestamptz[]
) from public, anon, authenticated;

grant execute on function public.sync_ingest_page(
    bigint, text, jsonb, text[], integer, jsonb, integer, timestamptz, timestamptz[],
    timestamptz[]
) to service_role;

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

create function public.sync_close_stale_runs(p_older_than interval default '0 seconds')
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    closed integer := 0;
    stale record;
begin
    for stale in
        select h.id, l.heartbeat_at
        from public.sync_history as h
        left join private.sync_leases as l on l.sync_history_id = h.id
        where
            h.sync_status = 'running'
            and (
                l.lease_until < now() - coalesce(p_older_than, interval '0 seconds')
                or (
                    l.sync_history_id is null
                    and h.sync_started_at < now() - coalesce(p_older_than, interval '0 seconds')
                )
            )
        order by h.id
        for update of h skip locked
    loop
        if private.close_abandoned_sync(
            stale.id,
            format(
                'the worker running this sync stopped before finishing (last heartbeat %s); '
                'the next run resumes from the last stored page',
                coalesce(
                    to_char(stale.heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                    'unknown'
                )
            )
        ) then
            closed := closed + 1;
        end if;
    end loop;
    return closed;
end;
$$;

comment on function public.sync_close_stale_runs(interval) is
    'Closes the runs left running by dead workers: those whose lease lapsed more than '
    'p_older_than ago (or that hold no lease and started before that), as partial when they '
    'stored something and failed otherwise, with a message saying the worker stopped. Called '
    'at every worker start. Returns how many runs were closed. Service role only.';

revoke all on function public.sync_close_stale_runs(interval) from public, anon, authenticated;

grant execute on function public.sync_close_stale_runs(interval) to service_role;

-- Rate limits ---------------------------------------------------------------------------------

create function public.rate_limit_acquire(
    p_buckets text[],
    p_limits integer[],
    p_window_seconds integer[],
    p_cost integer default 1
)
returns table (granted boolean, retry_at timestamptz, blocking_bucket text)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    n integer := coalesce(cardinality(p_buckets), 0);
    blocked record;
begin
    if n <> coalesce(cardinality(p_limits), 0) or n <> coalesce(cardinality(p_window_seconds), 0)
        then
        raise exception 'p_buckets, p_limits and p_window_seconds must have the same length'
            using errcode = '22023';
    end if;
    if n = 0 then
        return query select true, null::timestamptz, null::text;
        return;
    end if;
    if p_cost is null or p_cost < 0 then
        raise exception 'p_cost must be zero or positive' using errcode = '22023';
    end if;
    -- The current window of each bucket, created if needed, in bucket order (no deadlocks).
    insert into private.rate_limit_windows as w (
        bucket, window_start, window_seconds, request_limit
    )
    select
        b.bucket,
        to_timestamp(floor(extract(epoch from now()) / b.seconds) * b.seconds),
        b.seconds,
        b.request_limit
    from unnest(p_buckets, p_limits, p_window_seconds) as b (bucket, request_limit, seconds)
    order by b.bucket
    on conflict (bucket, window_start) do nothing;
    -- Lock them all (in bucket order), then decide for all at once: each statement below
    -- reads the locked rows afresh.
    perform 1
    from private.rate_limit_windows as w
    inner join
        unnest(p_buckets, p_window_seconds) as b (bucket, seconds)
        on
            w.bucket = b.bucket
            and w.window_start
            = to_timestamp(floor(extract(epoch from now()) / b.seconds) * b.seconds)
    order by w.bucket
    for update of w;
    select
        w.bucket,
        w.window_start + make_interval(secs => w.window_seconds) as window_end
    into blocked
    from private.rate_limit_windows as w
    inner join
        unnest(p_buckets, p_window_seconds) as b (bucket, seconds)
        on
            w.bucket = b.bucket
            and w.window_start
            = to_timestamp(floor(extract(epoch from now()) / b.seconds) * b.seconds)
    where w.used + p_cost > w.request_limit
    order by window_end desc
    limit 1;
    if blocked.bucket is not null then
        return query select false, blocked.window_end, blocked.bucket;
        return;
    end if;
    update private.rate_limit_windows as w set used = w.used + p_cost, updated_at = now()
    from unnest(p_buckets, p_window_seconds) as b (bucket, seconds)
    where
        w.bucket = b.bucket
        and w.window_start = to_timestamp(floor(extract(epoch from now()) / b.seconds) * b.seconds);
    -- Forget windows that ended over a day ago (index: the primary key's bucket prefix).
    delete from private.rate_limit_windows as w
    where
        w.bucket = any(p_buckets)
        and w.window_start + make_interval(secs => w.window_seconds) < now() - interval '1 day';
    return query select true, null::timestamptz, null::text;
end;
$$;

comment on function public.rate_limit_acquire(text[], integer[], integer[], integer) is
    'Reserves p_cost requests (default 1) in every bucket named (parallel arrays: bucket, limit '
    'per window, window length in s) for the current window, atomically across workers: all '
    'or nothing. granted false when a bucket is full; retry_at is then when its window ends and '
    'blocking_bucket names it. Service role only.';

revoke all on function public.rate_limit_acquire(text[], integer[], integer[], integer)
from public, anon, authenticated;

grant execute on function public.rate_limit_acquire(text[], integer[], integer[], integer)
to service_role;

create function public.rate_limit_observe(
    p_buckets text[],
    p_used integer[],
    p_limits integer[],
    p_window_seconds integer[]
)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    n integer := coalesce(cardinality(p_buckets), 0);
    changed integer;
begin
    if n <> coalesce(cardinality(p_used), 0) or n <> coalesce(cardinality(p_limits), 0)
        or n <> coalesce(cardinality(p_window_seconds), 0) then
        raise exception 'p_buckets, p_used, p_limits and p_window_seconds must have the same '
            'length' using errcode = '22023';
    end if;
    insert into private.rate_limit_windows as w (
        bucket, window_start, window_seconds, request_limit, used
    )
    select
        o.bucket,
        to_timestamp(floor(extract(epoch from now()) / o.seconds) * o.seconds),
        o.seconds,
        greatest(o.request_limit, 0),
        greatest(o.used, 0)
    from unnest(p_buckets, p_used, p_limits, p_window_seconds)
        as o (bucket, used, request_limit, seconds)
    where o.seconds > 0
    order by o.bucket
    on conflict (bucket, window_start) do update set
        used = greatest(w.used, excluded.used),
        request_limit = excluded.request_limit,
        updated_at = now();
    get diagnostics changed = row_count;
    return changed;
end;
$$;

comment on function public.rate_limit_observe(text[], integer[], integer[], integer[]) is
    'Records what a provider''s response headers said (parallel arrays: bucket, requests used, '
    'limit, window length in s) for the current window: used only ever grows (requests made '
    'outside the limiter count too), the limit is the provider''s. Returns the rows written. '
    'Service role only.';

revoke all on function public.rate_limit_observe(text[], integer[], integer[], integer[])
from public, anon, authenticated;

grant execute on function public.rate_limit_observe(text[], integer[], integer[], integer[])
to service_role;

create function public.rate_limit_charge(
    p_buckets text[],
    p_limits integer[],
    p_window_seconds integer[],
    p_cost integer
)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    n integer := coalesce(cardinality(p_buckets), 0);
    changed integer;
begin
    if n <> coalesce(cardinality(p_limits), 0) or n <> coalesce(cardinality(p_window_seconds), 0)
        then
        raise exception 'p_buckets, p_limits and p_window_seconds must have the same length'
            using errcode = '22023';
    end if;
    if p_cost is null or p_cost = 0 or n = 0 then
        return 0;
    end if;
    insert into private.rate_limit_windows as w (
        bucket, window_start, window_seconds, request_limit, used
    )
    select
        b.bucket,
        to_timestamp(floor(extract(epoch from now()) / b.seconds) * b.seconds),
        b.seconds,
        greatest(b.request_limit, 0),
        greatest(p_cost, 0)
    from unnest(p_buckets, p_limits, p_window_seconds) as b (bucket, request_limit, seconds)
    where b.seconds > 0
    order by b.bucket
    on conflict (bucket, window_start) do update set
        used = greatest(w.used + p_cost, 0),
        updated_at = now();
    get diagnostics changed = row_count;
    return changed;
end;
$$;

comment on function public.rate_limit_charge(text[], integer[], integer[], integer) is
    'Counts requests already made (p_cost > 0: a page or an event that took more calls than '
    'the one reserved by rate_limit_acquire) or gives back a reservation not used (p_cost < 0, '
    'never below zero) in every bucket named, for the current window, whether or not the '
    'bucket is full. Returns the rows written. Service role only.';

revoke all on function public.rate_limit_charge(text[], integer[], integer[], integer)
from public, anon, authenticated;

grant execute on function public.rate_limit_charge(text[], integer[], integer[], integer)
to service_role;

create function public.sync_refuse_items(
    p_sync_id bigint,
    p_holder text,
    p_refused jsonb
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_refused jsonb := coalesce(p_refused, '[]'::jsonb);
begin
    if jsonb_typeof(v_refused) <> 'array' then
        raise exception 'p_refused must be a JSON array' using errcode = '22023';
    end if;
    if exists (
        select 1 from jsonb_array_elements(v_refused) as r (item)
        where jsonb_typeof(r.item) <> 'object' or not (r.item ? 'reason')
    ) then
        raise exception 'each refused item is an object with a reason' using errcode = '22023';
    end if;
    perform 1 from private.sync_leases as l
    where l.sync_history_id = p_sync_id and l.holder = p_holder
    for update;
    if not found then
        return false;
    end if;
    if jsonb_array_length(v_refused) = 0 then
        return true;
    end if;
    update public.sync_history as h set
        activities_fetched = h.activities_fetched + jsonb_array_length(v_refused),
        error_details = coalesce(h.error_details, '{}'::jsonb) || jsonb_build_object(
            'skipped_items',
            (
                select coalesce(jsonb_agg(e.value), '[]'::jsonb)
                from (
                    select x.value
                    from jsonb_array_elements(
                        coalesce(h.error_details -> 'skipped_items', '[]'::jsonb)
                        || (
                            select jsonb_agg(
                                jsonb_build_object(
                                    'index', null,
                                    'external_id', left(r.item ->> 'external_id', 200),
                                    'reason', left(r.item ->> 'reason', 500)
                                )
                            )
                            from jsonb_array_elements(v_refused) as r (item)
                        )
                    ) as x
                    limit 100
                ) as e
            )
        )
    where h.id = p_sync_id;
    return true;
end;
$$;

comment on function public.sync_refuse_items(bigint, text, jsonb) is
    'Records items a running sync received from its provider but refused before the ingest '
    '(e.g. a Garmin callback item whose userId is not the connection''s Garmin user): they '
    'count as fetched (the worker counts them as failed, so fetched = created + updated + '
    'skipped + failed still holds) and their reasons join error_details.skipped_items (the '
    'first 100; external_id and reason only, never a payload). Returns false (and records '
    'nothing) when p_holder no longer holds the run. Service role only.';

revoke all on function public.sync_refuse_items(bigint, text, jsonb)
from public, anon, authenticated;

grant execute on function public.sync_refuse_items(bigint, text, jsonb) to service_role;
