-- One disconnect path with one behaviour (issue 14, finding 11).
--
-- Before: the HTTP disconnect revoked at the provider, deleted the tokens and, for Strava,
-- deleted the athlete's Strava activities; `update provider_connections set status =
-- 'disconnected'` through the Data API (which the athlete may do) only dropped the tokens: the
-- Strava data stayed and the app's access was never revoked at the provider.
--
-- Now everything a disconnect does happens in the status trigger, whoever sets the status:
-- - the tokens leave private.provider_tokens for private.token_revocations, a queue the
--   workers drain (revocation is an HTTP call, which SQL cannot make); a procrastinate job
--   (trainlytics:revoke_tokens, queueing lock per connection) is queued in the same
--   transaction when the job queue is installed, so a worker revokes within seconds;
-- - the activities synchronised through the connection are deleted when the provider's terms
--   require it (private.provider_deletes_data_on_disconnect: Strava, whose API agreement asks
--   to delete Strava data when the athlete disconnects), and the sync cursor and last_sync_at
--   are reset (a reconnect backfills from the beginning);
-- - disconnected_at is stamped and a disconnected event recorded (as before).
-- public.connection_disconnect (same signature) now only sets the status (plus deletes
-- activities when asked for another provider); the HTTP path calls it and then drains the
-- revocation it queued itself, through the same claim/finish functions as the worker.

create table private.token_revocations (
    id bigint generated always as identity primary key,
    connection_id bigint not null,
    user_id uuid not null,
    provider public.provider_type not null,
    provider_user_id text not null,
    key_id text not null,
    access_token_ciphertext text not null,
    refresh_token_ciphertext text,
    access_token_expires_at timestamptz,
    requested_at timestamptz not null default now(),
    attempts integer not null default 0,
    claimed_until timestamptz,
    last_error text,
    constraint token_revocations_connection_fkey foreign key (connection_id, user_id)
    references public.provider_connections (id, user_id) on delete cascade,
    constraint token_revocations_attempts_nonnegative check (attempts >= 0),
    constraint token_revocations_last_error_length check (char_length(last_error) <= 1000)
);

create index token_revocations_connection_id_idx
on private.token_revocations (connection_id, user_id);

comment on table private.token_revocations is
    'Tokens of disconnected connections waiting to be revoked at the provider (encrypted as in '
    'provider_tokens), drained by the workers (job trainlytics:revoke_tokens) and by the HTTP '
    'disconnect. service_role only.';
comment on column private.token_revocations.provider_user_id is
    'The athlete''s id at the provider (some revocations name it, e.g. Polar''s user delete).';
comment on column private.token_revocations.key_id is
    'Id of the encryption key that sealed the ciphertexts (as in provider_tokens).';
comment on column private.token_revocations.access_token_ciphertext is
    'AES-GCM ciphertext of the access token (as in provider_tokens).';
comment on column private.token_revocations.refresh_token_ciphertext is
    'AES-GCM ciphertext of the refresh token, to get a valid access token to revoke with.';
comment on column private.token_revocations.access_token_expires_at is
    'When the access token expires (refresh it first when past).';
comment on column private.token_revocations.requested_at is 'When the disconnect happened.';
comment on column private.token_revocations.attempts is 'Revocation attempts so far.';
comment on column private.token_revocations.claimed_until is
    'A worker holds the row until then (no two workers revoke the same tokens at once).';
comment on column private.token_revocations.last_error is
    'Why the last attempt failed (no token in it).';

alter table private.token_revocations enable row level security;
revoke all on table private.token_revocations from public, anon, authenticated;
grant all on table private.token_revocations to service_role;

create function private.provider_deletes_data_on_disconnect(p_provider public.provider_type)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select p_provider = 'strava';
$$;
comment on function private.provider_deletes_data_on_disconnect(public.provider_type) is
    'Whether a disconnect deletes the activities synchronised from this provider: Strava only '
    '(its API agreement requires deleting Strava data when the athlete disconnects or '
    'deauthorises). Mirrors trainlytics.providers Provider.delete_activities_on_disconnect '
    '(a test holds them equal).';
revoke all on function private.provider_deletes_data_on_disconnect(public.provider_type)
from public, anon, authenticated;
grant execute on function private.provider_deletes_data_on_disconnect(public.provider_type)
to service_role;

create or replace function private.record_connection_status_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_queued integer;
begin
    if new.status = 'disconnected' and old.status <> 'disconnected' then
        new.disconnected_at := now();
        new.token_expires_at := null;
        -- The tokens go to the revocation queue (the workers revoke them at the provider).
        with moved as (
            delete from private.provider_tokens as t
            where t.connection_id = new.id
            returning t.*
        )
        insert into private.token_revocations (
            connection_id, user_id, provider, provider_user_id, key_id,
            access_token_ciphertext, refresh_token_ciphertext, access_token_expires_at
        )
        select
            m.connection_id, m.user_id, new.provider, new.provider_user_id, m.key_id,
            m.access_token_ciphertext, m.refresh_token_ciphertext, m.access_token_expires_at
        from moved as m;
        get diagnostics v_queued = row_count;
        if v_queued > 0 and to_regclass('queue.procrastinate_jobs') is not null then
            perform public.enqueue_job(
                'trainlytics:revoke_tokens',
                jsonb_build_object('connection_id', new.id),
                'revocations',
                'revoke_tokens:' || new.id::text
            );
        end if;
        if private.provider_deletes_data_on_disconnect(new.provider) then
            delete from public.activities as a where a.connection_id = new.id;
            -- The data is gone: a reconnect backfills from the beginning.
            new.sync_cursor := '{}'::jsonb;
            new.last_sync_at := null;
        end if;
        insert into public.connection_events (connection_id, user_id, event, detail)
        values (
            new.id, new.user_id, 'disconnected',
            jsonb_build_object(
                'by', coalesce(auth.role(), 'database'),
                'revocation_queued', v_queued > 0
            )
        );
    elsif new.status = 'active' and old.status = 'disconnected' then
        -- Reconnected before a worker revoked the old tokens: revoking them now could end the
        -- new authorisation too (Strava deauthorises the app for the athlete), so they go.
        delete from private.token_revocations as r where r.connection_id = new.id;
    end if;
    return new;
end;
$$;
comment on function private.record_connection_status_change() is
    'Trigger on provider_connections, the one place a disconnect happens (Data API or '
    'service): stamps disconnected_at, moves the tokens to private.token_revocations and queues '
    'a trainlytics:revoke_tokens job, deletes the activities when the provider''s terms require '
    'it (Strava) and resets the cursor, and records a disconnected event; a reconnect drops the '
    'revocations still queued for the connection. Security definer: '
    'athletes may neither touch tokens, the queue, provider rows nor audit events themselves.';

create or replace function public.connection_disconnect(
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
comment on function public.connection_disconnect(bigint, boolean) is
    'Disconnects a connection exactly as the athlete''s update of status through the Data API '
    'does (the status trigger: tokens queued for revocation in private.token_revocations with '
    'a trainlytics:revoke_tokens job, Strava activities deleted, event recorded); with '
    'p_delete_activities, also deletes the activities of another provider. activities_deleted '
    'counts the deleted activities; changed is false when it was already disconnected. '
    'Service role only.';

create function public.token_revocations_claim(
    p_connection_id bigint default null,
    p_limit integer default 50
)
returns table (
    revocation_id bigint,
    connection_id bigint,
    user_id uuid,
    provider public.provider_type,
    provider_user_id text,
    key_id text,
    access_token_ciphertext text,
    refresh_token_ciphertext text,
    access_token_expires_at timestamptz,
    attempts integer
)
language sql
volatile
set search_path = ''
as $$
    with claimable as (
        select r.id
        from private.token_revocations as r
        where
            (p_connection_id is null or r.connection_id = p_connection_id)
            and (r.claimed_until is null or r.claimed_until < now())
            -- never the tokens of a connection that is live again
            and not exists (
                select from public.provider_connections as pc
                where pc.id = r.connection_id and pc.is_active
            )
        order by r.id
        limit greatest(p_limit, 0)
        for update skip locked
    )

    update private.token_revocations as r set
        claimed_until = now() + interval '5 minutes',
        attempts = r.attempts + 1
    from claimable as c
    where r.id = c.id
    returning
        r.id, r.connection_id, r.user_id, r.provider, r.provider_user_id, r.key_id,
        r.access_token_ciphertext, r.refresh_token_ciphertext, r.access_token_expires_at,
        r.attempts;
$$;
comment on function public.token_revocations_claim(bigint, integer) is
    'Claims up to p_limit queued revocations (of one connection, or any) for 5 minutes and '
    'returns their encrypted tokens; a claimed row is not handed out again until the claim '
    'lapses. Each claim counts an attempt. Service role only.';

create function public.token_revocation_finish(
    p_revocation_id bigint,
    p_revoked boolean,
    p_error text default null
)
returns table (finished boolean)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_attempts integer;
begin
    select r.attempts into v_attempts
    from private.token_revocations as r
    where r.id = p_revocation_id
    for update;
    if not found then
        return query select false;
        return;
    end if;
    -- Done, or given up after 5 attempts (the tokens expire at the provider anyway).
    if p_revoked or v_attempts >= 5 then
        delete from private.token_revocations as r where r.id = p_revocation_id;
        return query select true;
        return;
    end if;
    -- Released for the next attempt (the job's retry, with the queue's backoff).
    update private.token_revocations as r set
        last_error = left(p_error, 1000),
        claimed_until = null
    where r.id = p_revocation_id;
    return query select false;
end;
$$;
comment on function public.token_revocation_finish(bigint, boolean, text) is
    'Records the outcome of one claimed revocation: revoked (or the 5th failed attempt) deletes '
    'the row and returns finished = true; otherwise keeps it with p_error (no token in it), '
    'released for the next attempt (the job is retried with the queue''s backoff), and returns '
    'false. Service role only.';

revoke all on function public.token_revocations_claim(bigint, integer)
from public, anon, authenticated;
revoke all on function public.token_revocation_finish(bigint, boolean, text)
from public, anon, authenticated;
grant execute on function public.token_revocations_claim(bigint, integer) to service_role;
grant execute on function public.token_revocation_finish(bigint, boolean, text) to service_role;
