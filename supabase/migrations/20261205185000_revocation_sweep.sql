-- The revocation queue never keeps ciphertext for ever (integration fixes after issue 14).
--
-- 1. A periodic sweep (job trainlytics:sweep_revocations, every 10 minutes) drains
--    private.token_revocations whatever happened to the per-connection job (never queued
--    because the job queue was not installed yet, or out of retries): it pages through the
--    queue by id (public.token_revocations_claim_due), so a row it released for a retry is not
--    claimed again in the same sweep.
-- 2. Key rotation covers the queue too (public.token_revocations_for_rotation and the
--    set-based public.token_revocations_replace_ciphertexts): a row sealed with a retired key
--    would otherwise become unreadable once that key is removed.
-- 3. public.token_revocation_finish takes an outcome instead of a boolean: 'deferred' (this
--    server cannot try: the provider's client id/secret or the sealing key is not configured,
--    an operator error) gives the claim's attempt back and keeps the row; it returns what
--    became of the row, so a drop (5 failed attempts, or 30 days queued whatever the reason)
--    is logged.

drop function public.token_revocation_finish(bigint, boolean, text);

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

revoke all on function public.token_revocation_finish(bigint, text, text)
from public, anon, authenticated;
revoke all on function public.token_revocations_claim_due(bigint, integer)
from public, anon, authenticated;
revoke all on function public.token_revocations_for_rotation(text, bigint, integer)
from public, anon, authenticated;
revoke all on function public.token_revocations_replace_ciphertexts(jsonb)
from public, anon, authenticated;
grant execute on function public.token_revocation_finish(bigint, text, text) to service_role;
grant execute on function public.token_revocations_claim_due(bigint, integer) to service_role;
grant execute on function public.token_revocations_for_rotation(text, bigint, integer)
to service_role;
grant execute on function public.token_revocations_replace_ciphertexts(jsonb) to service_role;

comment on table private.token_revocations is
    'Tokens of disconnected connections waiting to be revoked at the provider (encrypted as in '
    'provider_tokens, re-encrypted by key rotation), drained by the workers (job '
    'trainlytics:revoke_tokens, and the periodic trainlytics:sweep_revocations every 10 '
    'minutes) and by the HTTP disconnect; dropped after 5 failed attempts or 30 days. '
    'service_role only.';
