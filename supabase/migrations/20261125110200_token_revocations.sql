-- Token revocations: the queue of tokens to revoke at the provider after a disconnect, and the
-- sweep that retries them.

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
stable
parallel safe
set search_path = ''
as $$
    select coalesce(
        (
            select p.deletes_data_on_disconnect from private.providers as p
            where p.provider = p_provider
        ),
        false
    );
$$;

comment on function private.provider_deletes_data_on_disconnect(public.provider_type) is
    'Whether a disconnect deletes the activities synchronised from this provider: '
    'private.providers.deletes_data_on_disconnect (Strava: its API agreement requires deleting '
    'Strava data when the athlete disconnects or deauthorises). Mirrors trainlytics.providers '
    'Provider.delete_activities_on_disconnect (a test holds them equal).';

revoke all on function private.provider_deletes_data_on_disconnect(public.provider_type)
from public, anon, authenticated;

grant execute on function private.provider_deletes_data_on_disconnect(public.provider_type)
to service_role;

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

revoke all on function public.token_revocations_claim(bigint, integer)
from public, anon, authenticated;

grant execute on function public.token_revocations_claim(bigint, integer) to service_role;

create function public.token_revocation_finish(
    p_revocation_id bigint,
    p_outcome text,
    p_error text default null
)
returns table (outcome text)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_attempts integer;
    v_requested_at timestamptz;
    v_attempt_budget constant integer := 5;
    v_max_age constant interval := interval '30 days';
begin
    if p_outcome is null or p_outcome not in ('revoked', 'failed', 'deferred') then
        raise exception 'token_revocation_finish: outcome must be revoked, failed or deferred'
        using errcode = '22023';
    end if;
    select r.attempts, r.requested_at into v_attempts, v_requested_at
    from private.token_revocations as r
    where r.id = p_revocation_id
    for update;
    if not found then
        return query select 'gone'::text;
        return;
    end if;
    if p_outcome = 'revoked' then
        delete from private.token_revocations as r where r.id = p_revocation_id;
        return query select 'revoked'::text;
        return;
    end if;
    -- Given up: the attempt budget is spent (a configuration failure spends none), or the row
    -- is too old whatever the reason (ciphertext is never kept for ever).
    if
        (p_outcome = 'failed' and v_attempts >= v_attempt_budget)
        or v_requested_at < now() - v_max_age
    then
        delete from private.token_revocations as r where r.id = p_revocation_id;
        return query select 'dropped'::text;
        return;
    end if;
    update private.token_revocations as r set
        last_error = left(p_error, 1000),
        claimed_until = null,
        -- the claim counted an attempt that an operator error did not make
        attempts = case when p_outcome = 'deferred' then greatest(r.attempts - 1, 0) else r.attempts end
    where r.id = p_revocation_id;
    return query select (case when p_outcome = 'deferred' then 'deferred' else 'retry' end)::text;
end;
$$;

comment on function public.token_revocation_finish(bigint, text, text) is
    'Records the outcome of one claimed revocation. p_outcome revoked deletes the row '
    '(returns revoked); failed keeps it with p_error (no token in it) released for the next '
    'attempt (returns retry) unless it was the 5th attempt; deferred (an operator error: '
    'provider or key not configured on this server) gives the claim''s attempt back and keeps '
    'the row (returns deferred). A row failed 5 times, or queued for more than 30 days whatever '
    'the outcome, is deleted (returns dropped). Returns gone for an unknown id. Service role only.';

revoke all on function public.token_revocation_finish(bigint, text, text)
from public, anon, authenticated;

grant execute on function public.token_revocation_finish(bigint, text, text) to service_role;

comment on table private.token_revocations is
    'Tokens of disconnected connections waiting to be revoked at the provider (encrypted as in '
    'provider_tokens, re-encrypted by key rotation), drained by the workers (job '
    'trainlytics:revoke_tokens, and the periodic trainlytics:sweep_revocations every 10 '
    'minutes) and by the HTTP disconnect; dropped after 5 failed attempts or 30 days. '
    'service_role only.';

create function public.token_revocations_claim_due(
    p_after_id bigint,
    p_limit integer
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
            r.id > coalesce(p_after_id, 0)
            and (r.claimed_until is null or r.claimed_until < now())
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

comment on function public.token_revocations_claim_due(bigint, integer) is
    'The periodic sweep''s claim: up to p_limit queued revocations with an id after p_after_id '
    '(keyset pagination: a row released for a retry is not claimed again in the same sweep), '
    'claimed for 5 minutes as token_revocations_claim does (each claim counts an attempt). '
    'Service role only.';

revoke all on function public.token_revocations_claim_due(bigint, integer)
from public, anon, authenticated;

grant execute on function public.token_revocations_claim_due(bigint, integer) to service_role;

create function public.token_revocations_for_rotation(
    p_current_key_id text,
    p_after_id bigint,
    p_limit integer
)
returns table (
    revocation_id bigint,
    user_id uuid,
    provider public.provider_type,
    key_id text,
    access_token_ciphertext text,
    refresh_token_ciphertext text,
    remaining bigint
)
language sql
stable
set search_path = ''
as $$
    select
        r.id,
        r.user_id,
        r.provider,
        r.key_id,
        r.access_token_ciphertext,
        r.refresh_token_ciphertext,
        count(*) over () as remaining
    from private.token_revocations as r
    where r.key_id <> p_current_key_id
        and r.id > coalesce(p_after_id, 0)
    order by r.id
    limit greatest(p_limit, 1);
$$;

comment on function public.token_revocations_for_rotation(text, bigint, integer) is
    'A batch of queued revocations not sealed with the current key, after a revocation id '
    '(keyset pagination), for re-encryption by trainlytics tokens rotate-key; remaining counts '
    'the rows left from this batch on. Service role only.';

revoke all on function public.token_revocations_for_rotation(text, bigint, integer)
from public, anon, authenticated;

grant execute on function public.token_revocations_for_rotation(text, bigint, integer)
to service_role;

create function public.token_revocations_replace_ciphertexts(p_rows jsonb)
returns table (replaced integer)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_replaced integer;
begin
    if jsonb_typeof(p_rows) is distinct from 'array' then
        raise exception 'token_revocations_replace_ciphertexts: p_rows must be a JSON array'
        using errcode = '22023';
    end if;
    update private.token_revocations as r set
        key_id = n.key_id,
        access_token_ciphertext = n.access_token_ciphertext,
        refresh_token_ciphertext = n.refresh_token_ciphertext
    from jsonb_to_recordset(p_rows) as n (
        revocation_id bigint,
        expected_key_id text,
        key_id text,
        access_token_ciphertext text,
        refresh_token_ciphertext text
    )
    where r.id = n.revocation_id
        and r.key_id = n.expected_key_id
        and n.key_id is not null
        and n.access_token_ciphertext is not null;
    get diagnostics v_replaced = row_count;
    return query select v_replaced;
end;
$$;

comment on function public.token_revocations_replace_ciphertexts(jsonb) is
    'Key rotation of the revocation queue, one statement per batch: p_rows is a JSON array of '
    '{revocation_id, expected_key_id, key_id, access_token_ciphertext, '
    'refresh_token_ciphertext}; a row is replaced only while it is still sealed with '
    'expected_key_id and queued (a row revoked or rotated meanwhile is left alone). Returns how '
    'many rows were replaced. Service role only.';

revoke all on function public.token_revocations_replace_ciphertexts(jsonb)
from public, anon, authenticated;

grant execute on function public.token_revocations_replace_ciphertexts(jsonb) to service_role;
