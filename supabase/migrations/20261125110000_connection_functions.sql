-- Connection functions: everything the Python service does to OAuth states, connections and
-- their encrypted tokens, as SQL functions called through the gateway (psycopg or PostgREST
-- rpc). They are security invoker: the caller is service_role (or the owner), which holds the
-- grants on private.oauth_states and private.provider_tokens. Execution is revoked from public,
-- anon and authenticated and granted to service_role only. Tokens arrive and leave encrypted
-- (AES-GCM by the Python side); nothing here ever sees a token in clear text.
--
-- Expected outcomes (an unknown state, an account linked to another user, a lost lease) are
-- returned as a status column rather than raised, so both gateway transports see them alike.

-- OAuth states -------------------------------------------------------------------------------

create function public.oauth_state_create(
    p_state_hash text,
    p_user_id uuid,
    p_provider public.provider_type,
    p_code_verifier text,
    p_redirect_uri text,
    p_scopes text[],
    p_ttl_seconds integer default 600
)
returns table (state_id bigint, expires_at timestamptz)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
begin
    if p_ttl_seconds is null or p_ttl_seconds not between 1 and 3600 then
        raise exception 'oauth state ttl must be between 1 and 3600 seconds, got %', p_ttl_seconds
            using errcode = '22023';
    end if;
    -- Opportunistic cleanup of long-dead states (index on expires_at).
    delete from private.oauth_states as s where s.expires_at < now() - interval '1 day';
    return query
    insert into private.oauth_states as s (
        state_hash, user_id, provider, code_verifier, redirect_uri, scopes, expires_at
    ) values (
        p_state_hash, p_user_id, p_provider, p_code_verifier, p_redirect_uri,
        coalesce(p_scopes, '{}'), now() + make_interval(secs => p_ttl_seconds)
    )
    returning s.id, s.expires_at;
end;
$$;

comment on function public.oauth_state_create(
    text, uuid, public.provider_type, text, text, text[], integer
) is
    'Records a pending OAuth connect flow: the SHA-256 (hex) of the state, the user and provider '
    'it is bound to, the PKCE verifier and the redirect URI; expires after p_ttl_seconds '
    '(default 600). Deletes states expired for over a day. Service role only.';

-- Grants: service_role only ---------------------------------------------------------------------

revoke all on function public.oauth_state_create(
    text, uuid, public.provider_type, text, text, text[], integer
) from public, anon, authenticated;

grant execute on function public.oauth_state_create(
    text, uuid, public.provider_type, text, text, text[], integer
) to service_role;

create function public.oauth_state_consume(
    p_state_hash text,
    p_provider public.provider_type
)
returns table (
    status text, user_id uuid, code_verifier text, redirect_uri text, scopes text[]
)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    st private.oauth_states;
begin
    select s.* into st
    from private.oauth_states as s
    where s.state_hash = p_state_hash
    for update;
    if not found then
        return query select 'unknown'::text, null::uuid, null::text, null::text, null::text[];
        return;
    end if;
    if st.consumed_at is not null then
        return query select 'reused'::text, null::uuid, null::text, null::text, null::text[];
        return;
    end if;
    -- Whatever the outcome from here on, the state is spent: a state is used at most once.
    update private.oauth_states as s set consumed_at = now() where s.id = st.id;
    if st.provider <> p_provider then
        return query select
            'wrong_provider'::text, null::uuid, null::text, null::text, null::text[];
    elsif st.expires_at <= now() then
        return query select 'expired'::text, null::uuid, null::text, null::text, null::text[];
    else
        return query select
            'ok'::text, st.user_id, st.code_verifier, st.redirect_uri, st.scopes;
    end if;
end;
$$;

comment on function public.oauth_state_consume(text, public.provider_type) is
    'Spends an OAuth state at the callback. status: ok (user_id, code_verifier, redirect_uri and '
    'scopes are returned), unknown (no such state), reused (already spent), expired, '
    'wrong_provider (the state was issued for another provider). Any known state is spent by '
    'this call, whatever the status. Service role only.';

revoke all on function public.oauth_state_consume(text, public.provider_type)
from public, anon, authenticated;

grant execute on function public.oauth_state_consume(text, public.provider_type)
to service_role;

-- Connections --------------------------------------------------------------------------------

create function public.connection_upsert(
    p_user_id uuid,
    p_provider public.provider_type,
    p_provider_user_id text,
    p_provider_username text,
    p_provider_profile jsonb,
    p_scopes text[],
    p_key_id text,
    p_access_token_ciphertext text,
    p_refresh_token_ciphertext text,
    p_access_token_expires_at timestamptz,
    p_refresh_token_expires_at timestamptz
)
returns table (status text, connection_id bigint)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    existing public.provider_connections;
    conn_id bigint;
    event_type public.connection_event_type;
begin
    -- One provider account, one live connection: webhooks are routed by the provider's user id.
    if exists (
        select 1 from public.provider_connections as pc
        where pc.provider = p_provider
            and pc.provider_user_id = p_provider_user_id
            and pc.is_active
            and pc.user_id <> p_user_id
    ) then
        return query select 'linked_to_other_user'::text, null::bigint;
        return;
    end if;

    select pc.* into existing
    from public.provider_connections as pc
    where pc.user_id = p_user_id and pc.provider = p_provider
    for update;

    begin
        if existing.id is null then
            insert into public.provider_connections as pc (
                user_id, provider, provider_user_id, provider_username, provider_profile,
                scopes, status, token_expires_at
            ) values (
                p_user_id, p_provider, p_provider_user_id, p_provider_username,
                coalesce(p_provider_profile, '{}'), coalesce(p_scopes, '{}'), 'active',
                p_access_token_expires_at
            )
            returning pc.id into conn_id;
            event_type := 'connected';
        else
            update public.provider_connections as pc set
                provider_user_id = p_provider_user_id,
                provider_username = p_provider_username,
                provider_profile = coalesce(p_provider_profile, '{}'),
                scopes = coalesce(p_scopes, '{}'),
                status = 'active',
                token_expires_at = p_access_token_expires_at,
                last_error = null,
                last_error_at = null,
                consecutive_failures = 0,
                connected_at = now(),
                disconnected_at = null
            where pc.id = existing.id;
            conn_id := existing.id;
            event_type := 'reconnected';
        end if;
    exception when unique_violation then
        -- Another user linked this provider account concurrently.
        return query select 'linked_to_other_user'::text, null::bigint;
        return;
    end;

    insert into private.provider_tokens as t (
        connection_id, user_id, key_id, access_token_ciphertext, refresh_token_ciphertext,
        access_token_expires_at, refresh_token_expires_at
    ) values (
        conn_id, p_user_id, p_key_id, p_access_token_ciphertext, p_refresh_token_ciphertext,
        p_access_token_expires_at, p_refresh_token_expires_at
    )
    on conflict on constraint provider_tokens_pkey do update set
        key_id = excluded.key_id,
        access_token_ciphertext = excluded.access_token_ciphertext,
        refresh_token_ciphertext = excluded.refresh_token_ciphertext,
        access_token_expires_at = excluded.access_token_expires_at,
        refresh_token_expires_at = excluded.refresh_token_expires_at,
        version = t.version + 1,
        refresh_lease_holder = null,
        refresh_lease_until = null;

    insert into public.connection_events (connection_id, user_id, event, detail)
    values (
        conn_id, p_user_id, event_type,
        jsonb_build_object(
            'provider_user_id', p_provider_user_id,
            'scopes', to_jsonb(coalesce(p_scopes, '{}')),
            'previous_status', existing.status,
            'provider_user_id_changed',
            coalesce(existing.provider_user_id <> p_provider_user_id, false)
        )
    );
    return query select event_type::text, conn_id;
end;
$$;

comment on function public.connection_upsert(
    uuid, public.provider_type, text, text, jsonb, text[], text, text, text, timestamptz,
    timestamptz
) is
    'Stores the outcome of a successful OAuth flow: creates the (user, provider) connection or '
    'reactivates the existing row (so its activities keep their connection_id), stores the '
    'encrypted tokens (ciphertexts sealed by the Python side with key p_key_id) and records a '
    'connected or reconnected event. status: connected, reconnected, or linked_to_other_user '
    '(the provider account is actively linked to another user; nothing is changed). '
    'Service role only.';

revoke all on function public.connection_upsert(
    uuid, public.provider_type, text, text, jsonb, text[], text, text, text, timestamptz,
    timestamptz
) from public, anon, authenticated;

grant execute on function public.connection_upsert(
    uuid, public.provider_type, text, text, jsonb, text[], text, text, text, timestamptz,
    timestamptz
) to service_role;

create function public.connection_find_by_provider_user(
    p_provider public.provider_type,
    p_provider_user_id text
)
returns table (connection_id bigint, user_id uuid)
language sql
stable
set search_path = ''
as $$
    select pc.id, pc.user_id
    from public.provider_connections as pc
    where pc.provider = p_provider
        and pc.provider_user_id = p_provider_user_id
        and pc.is_active;
$$;

comment on function public.connection_find_by_provider_user(public.provider_type, text) is
    'The active connection (and its user) of a provider account, for routing webhooks; no row '
    'when the account is not actively linked. Service role only.';

revoke all on function public.connection_find_by_provider_user(public.provider_type, text)
from public, anon, authenticated;

grant execute on function public.connection_find_by_provider_user(public.provider_type, text)
to service_role;

create function public.connection_find_for_user(
    p_user_id uuid,
    p_provider public.provider_type
)
returns table (
    connection_id bigint, status public.connection_status, provider_user_id text,
    has_tokens boolean
)
language sql
stable
set search_path = ''
as $$
    select
        pc.id,
        pc.status,
        pc.provider_user_id,
        exists (select 1 from private.provider_tokens as t where t.connection_id = pc.id)
    from public.provider_connections as pc
    where pc.user_id = p_user_id and pc.provider = p_provider;
$$;

comment on function public.connection_find_for_user(uuid, public.provider_type) is
    'A user''s connection to a provider (any status) and whether tokens are held for it; no '
    'row when the user never connected that provider. Service role only.';

revoke all on function public.connection_find_for_user(uuid, public.provider_type)
from public, anon, authenticated;

grant execute on function public.connection_find_for_user(uuid, public.provider_type)
to service_role;

create function public.connection_mark_revoked(
    p_connection_id bigint,
    p_reason text
)
returns table (changed boolean, user_id uuid, provider public.provider_type)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    conn public.provider_connections;
begin
    select pc.* into conn
    from public.provider_connections as pc
    where pc.id = p_connection_id
    for update;
    if conn.id is null then
        return;
    end if;
    delete from private.provider_tokens as t where t.connection_id = p_connection_id;
    if conn.status not in ('active', 'error') then
        -- Already revoked or disconnected: nothing more to record.
        return query select false, conn.user_id, conn.provider;
        return;
    end if;
    update public.provider_connections as pc set
        status = 'revoked',
        token_expires_at = null,
        last_error = p_reason,
        last_error_at = now()
    where pc.id = p_connection_id;
    insert into public.connection_events (connection_id, user_id, event, detail)
    values (
        p_connection_id, conn.user_id, 'revoked',
        jsonb_build_object('reason', p_reason, 'previous_status', conn.status)
    );
    return query select true, conn.user_id, conn.provider;
end;
$$;

comment on function public.connection_mark_revoked(bigint, text) is
    'The provider refused the tokens (refresh answered 400/401) or the athlete deauthorised at '
    'the provider: deletes the tokens, sets status revoked with p_reason as last_error (words '
    'the athlete can act on, never a token) and records a revoked event. changed is false when '
    'the connection was already revoked or disconnected. Service role only.';

revoke all on function public.connection_mark_revoked(bigint, text)
from public, anon, authenticated;

grant execute on function public.connection_mark_revoked(bigint, text) to service_role;

create function public.connection_disconnect(
    p_connection_id bigint,
    p_delete_activities boolean
)
returns table (changed boolean, activities_deleted integer)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    conn public.provider_connections;
    deleted integer := 0;
begin
    select pc.* into conn
    from public.provider_connections as pc
    where pc.id = p_connection_id
    for update;
    if conn.id is null then
        return;
    end if;
    if p_delete_activities or private.provider_deletes_data_on_disconnect(conn.provider) then
        delete from public.activities as a where a.connection_id = p_connection_id;
        get diagnostics deleted = row_count;
        update public.provider_connections as pc set sync_cursor = '{}'::jsonb, last_sync_at = null
        where pc.id = p_connection_id;
    end if;
    -- Everything else (tokens to the revocation queue, the job, the event) is the status
    -- trigger's, exactly as for an athlete's update through the Data API.
    update public.provider_connections as pc set status = 'disconnected'
    where pc.id = p_connection_id and pc.status <> 'disconnected';
    return query select conn.status <> 'disconnected', deleted;
end;
$$;

revoke all on function public.connection_disconnect(bigint, boolean)
from public, anon, authenticated;

grant execute on function public.connection_disconnect(bigint, boolean) to service_role;

comment on function public.connection_disconnect(bigint, boolean) is
    'Disconnects a connection exactly as the athlete''s update of status through the Data API '
    'does (the status trigger: tokens queued for revocation in private.token_revocations with '
    'a trainlytics:revoke_tokens job, Strava activities deleted, event recorded); with '
    'p_delete_activities, also deletes the activities of another provider. activities_deleted '
    'counts the deleted activities; changed is false when it was already disconnected. '
    'Service role only.';

-- Tokens and the refresh lease -----------------------------------------------------------------

create function public.tokens_get(p_connection_id bigint)
returns table (
    connection_id bigint,
    user_id uuid,
    provider public.provider_type,
    provider_user_id text,
    status public.connection_status,
    key_id text,
    access_token_ciphertext text,
    refresh_token_ciphertext text,
    access_token_expires_at timestamptz,
    refresh_token_expires_at timestamptz,
    version bigint,
    refresh_lease_holder text,
    refresh_lease_until timestamptz
)
language sql
stable
set search_path = ''
as $$
    select
        pc.id,
        pc.user_id,
        pc.provider,
        pc.provider_user_id,
        pc.status,
        t.key_id,
        t.access_token_ciphertext,
        t.refresh_token_ciphertext,
        t.access_token_expires_at,
        t.refresh_token_expires_at,
        t.version,
        t.refresh_lease_holder,
        t.refresh_lease_until
    from public.provider_connections as pc
    left join private.provider_tokens as t on pc.id = t.connection_id
    where pc.id = p_connection_id;
$$;

comment on function public.tokens_get(bigint) is
    'A connection with its encrypted tokens, their version and refresh lease; the token '
    'columns are null when no tokens are held (revoked or disconnected). No row for an unknown '
    'connection. Service role only.';

revoke all on function public.tokens_get(bigint) from public, anon, authenticated;

grant execute on function public.tokens_get(bigint) to service_role;

create function public.tokens_acquire_refresh_lease(
    p_connection_id bigint,
    p_holder text,
    p_seconds integer
)
returns table (acquired boolean, version bigint)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    current_version bigint;
begin
    if p_seconds is null or p_seconds not between 1 and 600 then
        raise exception 'lease seconds must be between 1 and 600, got %', p_seconds
            using errcode = '22023';
    end if;
    update private.provider_tokens as t set
        refresh_lease_holder = p_holder,
        refresh_lease_until = clock_timestamp() + make_interval(secs => p_seconds)
    where t.connection_id = p_connection_id
        and (
            t.refresh_lease_holder is null
            or t.refresh_lease_holder = p_holder
            or t.refresh_lease_until < clock_timestamp()
        )
    returning t.version into current_version;
    if found then
        return query select true, current_version;
        return;
    end if;
    return query
    select false, t.version
    from private.provider_tokens as t
    where t.connection_id = p_connection_id;
end;
$$;

comment on function public.tokens_acquire_refresh_lease(bigint, text, integer) is
    'Takes the right to refresh a connection''s tokens for p_seconds (1-600) when nobody holds '
    'it or the holder''s lease lapsed, so a single-use refresh token is never spent twice. '
    'Returns whether it was acquired and the tokens'' current version (compare with the version '
    'read before: if it moved, someone already refreshed). No row when no tokens are held. '
    'Service role only.';

revoke all on function public.tokens_acquire_refresh_lease(bigint, text, integer)
from public, anon, authenticated;

grant execute on function public.tokens_acquire_refresh_lease(bigint, text, integer)
to service_role;

create function public.tokens_store_refreshed(
    p_connection_id bigint,
    p_holder text,
    p_key_id text,
    p_access_token_ciphertext text,
    p_refresh_token_ciphertext text,
    p_access_token_expires_at timestamptz,
    p_refresh_token_expires_at timestamptz
)
returns table (stored boolean, version bigint)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    new_version bigint;
    owner_id uuid;
begin
    update private.provider_tokens as t set
        key_id = p_key_id,
        access_token_ciphertext = p_access_token_ciphertext,
        refresh_token_ciphertext = p_refresh_token_ciphertext,
        access_token_expires_at = p_access_token_expires_at,
        refresh_token_expires_at = p_refresh_token_expires_at,
        version = t.version + 1,
        refresh_lease_holder = null,
        refresh_lease_until = null
    where t.connection_id = p_connection_id and t.refresh_lease_holder = p_holder
    returning t.version, t.user_id into new_version, owner_id;
    if not found then
        return query select false, null::bigint;
        return;
    end if;
    update public.provider_connections as pc set token_expires_at = p_access_token_expires_at
    where pc.id = p_connection_id;
    insert into public.connection_events (connection_id, user_id, event, detail)
    values (
        p_connection_id, owner_id, 'refreshed',
        jsonb_build_object('version', new_version, 'expires_at', p_access_token_expires_at)
    );
    return query select true, new_version;
end;
$$;

comment on function public.tokens_store_refreshed(
    bigint, text, text, text, text, timestamptz, timestamptz
) is
    'Stores refreshed (encrypted) tokens. Only the lease holder may: stored is false, and '
    'nothing changes, when p_holder does not hold the refresh lease. Bumps the version, '
    'releases the lease, updates provider_connections.token_expires_at and records a refreshed '
    'event. Service role only.';

revoke all on function public.tokens_store_refreshed(
    bigint, text, text, text, text, timestamptz, timestamptz
) from public, anon, authenticated;

grant execute on function public.tokens_store_refreshed(
    bigint, text, text, text, text, timestamptz, timestamptz
) to service_role;

create function public.tokens_release_lease(
    p_connection_id bigint,
    p_holder text,
    p_failure text default null
)
returns table (released boolean)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    owner_id uuid;
begin
    update private.provider_tokens as t set
        refresh_lease_holder = null,
        refresh_lease_until = null
    where t.connection_id = p_connection_id and t.refresh_lease_holder = p_holder
    returning t.user_id into owner_id;
    if p_failure is not null and owner_id is not null then
        insert into public.connection_events (connection_id, user_id, event, detail)
        values (
            p_connection_id, owner_id, 'refresh_failed', jsonb_build_object('reason', p_failure)
        );
    end if;
    return query select owner_id is not null;
end;
$$;

comment on function public.tokens_release_lease(bigint, text, text) is
    'Gives up a refresh lease without storing tokens (the refresh failed or was not needed). '
    'With p_failure (words, no secret), records a refresh_failed event. released is false when '
    'p_holder did not hold the lease. Service role only.';

revoke all on function public.tokens_release_lease(bigint, text, text)
from public, anon, authenticated;

grant execute on function public.tokens_release_lease(bigint, text, text) to service_role;

-- Key rotation -------------------------------------------------------------------------------

create function public.tokens_for_rotation(
    p_current_key_id text,
    p_after_connection_id bigint,
    p_limit integer
)
returns table (
    connection_id bigint,
    user_id uuid,
    provider public.provider_type,
    key_id text,
    access_token_ciphertext text,
    refresh_token_ciphertext text,
    version bigint,
    remaining bigint
)
language sql
stable
set search_path = ''
as $$
    select
        t.connection_id,
        t.user_id,
        pc.provider,
        t.key_id,
        t.access_token_ciphertext,
        t.refresh_token_ciphertext,
        t.version,
        count(*) over () as remaining
    from private.provider_tokens as t
    inner join public.provider_connections as pc on t.connection_id = pc.id
    where t.key_id <> p_current_key_id
        and t.connection_id > coalesce(p_after_connection_id, 0)
    order by t.connection_id
    limit greatest(p_limit, 1);
$$;

comment on function public.tokens_for_rotation(text, bigint, integer) is
    'A batch of token rows not sealed with the current key, after a connection id (keyset '
    'pagination), for re-encryption by trainlytics tokens rotate-key; remaining counts the rows '
    'left from this batch on. Service role only.';

revoke all on function public.tokens_for_rotation(text, bigint, integer)
from public, anon, authenticated;

grant execute on function public.tokens_for_rotation(text, bigint, integer) to service_role;

create function public.tokens_replace_ciphertexts(
    p_connection_id bigint,
    p_expected_version bigint,
    p_key_id text,
    p_access_token_ciphertext text,
    p_refresh_token_ciphertext text
)
returns table (replaced boolean)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
begin
    update private.provider_tokens as t set
        key_id = p_key_id,
        access_token_ciphertext = p_access_token_ciphertext,
        refresh_token_ciphertext = p_refresh_token_ciphertext,
        version = t.version + 1
    where t.connection_id = p_connection_id and t.version = p_expected_version;
    return query select found;
end;
$$;

comment on function public.tokens_replace_ciphertexts(bigint, bigint, text, text, text) is
    'Replaces a token row''s ciphertexts with the same tokens sealed under another key (key '
    'rotation), only if the row is still at p_expected_version (a concurrent refresh wins; the '
    'next rotation run picks the row up). Bumps the version. Service role only.';

revoke all on function public.tokens_replace_ciphertexts(bigint, bigint, text, text, text)
from public, anon, authenticated;

grant execute on function public.tokens_replace_ciphertexts(bigint, bigint, text, text, text)
to service_role;

create function public.connection_find_all_by_provider_user(
    p_provider public.provider_type,
    p_provider_user_id text
)
returns table (connection_id bigint, user_id uuid, status public.connection_status)
language sql
stable
set search_path = ''
as $$
    select pc.id, pc.user_id, pc.status
    from public.provider_connections as pc
    where pc.provider = p_provider
        and pc.provider_user_id = p_provider_user_id
        and pc.status <> 'disconnected'
    order by pc.id;
$$;

comment on function public.connection_find_all_by_provider_user(public.provider_type, text) is
    'Every connection of a provider account that is not disconnected (active, error or revoked) '
    'and its user, for webhook events that claim the app lost access: each is confirmed with '
    'the provider before anything is revoked or deleted. Service role only.';

revoke all on function public.connection_find_all_by_provider_user(public.provider_type, text)
from public, anon, authenticated;

grant execute on function public.connection_find_all_by_provider_user(public.provider_type, text)
to service_role;

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
