-- Issue 18 (provider side): fetching activity streams from providers, within their rate
-- budget, as a separate low-priority job (trainlytics.stream_sync).
--
-- public.activity_stream_fetches records, per provider activity, what fetching its streams
-- came to (fetched, unavailable at the provider, or failed — retried with backoff, then given
-- up), so a failed stream fetch never touches the summary sync's run and is still counted and
-- visible to the athlete. public.stream_fetch_candidates lists what a connection's next job
-- should fetch (recent activities first); public.stream_fetch_record stores an outcome.
-- public.rate_limit_acquire_share reserves a request like public.rate_limit_acquire but only
-- while the bucket is below a share of its limit: low-priority work never spends the part of
-- a provider's budget kept for summary syncs.

create table public.activity_stream_fetches (
    activity_id bigint primary key references public.activities (id) on delete cascade,
    user_id uuid not null references public.users (id) on delete cascade,
    connection_id bigint not null
    references public.provider_connections (id) on delete cascade,
    status text not null,
    attempts integer not null default 0,
    points integer,
    last_error text,
    next_attempt_at timestamptz,
    updated_at timestamptz not null default now(),
    constraint activity_stream_fetches_status_known check (
        status in ('fetched', 'unavailable', 'retrying', 'failed')
    ),
    constraint activity_stream_fetches_attempts_nonnegative check (attempts >= 0),
    constraint activity_stream_fetches_points_nonnegative check (points >= 0),
    constraint activity_stream_fetches_error_length check (char_length(last_error) <= 500)
);

create index activity_stream_fetches_user_id_idx on public.activity_stream_fetches (user_id);
create index activity_stream_fetches_connection_idx
on public.activity_stream_fetches (connection_id, next_attempt_at);

comment on table public.activity_stream_fetches is
    'What fetching an activity''s streams from its provider came to (one row per provider '
    'activity tried; none = not tried yet). Written by the stream job (service role); the '
    'athlete reads their own rows. Deleted with the activity.';
comment on column public.activity_stream_fetches.status is
    'fetched: streams stored (points = samples); unavailable: the provider has none for this '
    'activity (manual entry, file expired, older than the provider serves, scope not granted) '
    '— not tried again; retrying: the last attempt failed (provider error, bad file), tried '
    'again from next_attempt_at; failed: given up after 5 failed attempts.';
comment on column public.activity_stream_fetches.attempts is
    'Failed attempts so far (reset when the streams are fetched).';
comment on column public.activity_stream_fetches.points is 'Samples stored (fetched only).';
comment on column public.activity_stream_fetches.last_error is
    'Why the last attempt found no streams or failed: one line, no secret, at most 500 chars.';
comment on column public.activity_stream_fetches.next_attempt_at is
    'When a retrying fetch may be tried again (backoff: 15 min × 2^(attempts - 1)).';
comment on column public.activity_stream_fetches.connection_id is
    'The provider connection the activity came from (the job lists per connection).';

alter table public.activity_stream_fetches enable row level security;
revoke all on table public.activity_stream_fetches from public, anon, authenticated;
grant select on table public.activity_stream_fetches to authenticated;
grant select, insert, update, delete on table public.activity_stream_fetches to service_role;

create policy activity_stream_fetches_select on public.activity_stream_fetches
for select to authenticated
using (user_id = (select auth.uid()));

-- The job's work list ---------------------------------------------------------------------------

create function public.stream_fetch_candidates(
    p_connection_id bigint,
    p_limit integer,
    p_since timestamptz default null
)
returns table (
    activity_id bigint,
    provider public.provider_type,
    provider_user_id text,
    external_id text,
    start_date timestamptz,
    elapsed_time integer,
    payload jsonb
)
language sql
stable
set search_path = ''
as $$
    select
        a.id,
        a.provider,
        c.provider_user_id,
        a.external_id,
        a.start_date,
        a.elapsed_time,
        coalesce(r.payload, '{}'::jsonb)
    from public.activities as a
    inner join public.provider_connections as c on a.connection_id = c.id
    left join public.activity_raw_payloads as r on a.id = r.activity_id
    left join public.activity_stream_fetches as f on a.id = f.activity_id
    where
        a.connection_id = p_connection_id
        and a.deleted_at is null
        and not a.is_manual
        and c.status = 'active'
        and (p_since is null or a.start_date >= p_since)
        and (f.activity_id is null or (f.status = 'retrying' and f.next_attempt_at <= now()))
    order by a.start_date desc, a.id desc
    limit greatest(coalesce(p_limit, 0), 0);
$$;
comment on function public.stream_fetch_candidates(bigint, integer, timestamptz) is
    'The activities of an active provider connection whose streams the stream job should fetch '
    'next, most recent first (at most p_limit; only those starting at or after p_since when '
    'given): not manual, not deleted, never tried or due for a retry. Returns the provider '
    'payload as stored (it may name the activity''s FIT file). Service role only.';
revoke all on function public.stream_fetch_candidates(bigint, integer, timestamptz)
from public, anon, authenticated;
grant execute on function public.stream_fetch_candidates(bigint, integer, timestamptz)
to service_role;

create function public.stream_fetch_pending(
    p_connection_id bigint, p_since timestamptz default null
)
returns table (due bigint, next_retry_at timestamptz)
language sql
stable
set search_path = ''
as $$
    select
        count(*) filter (
            where f.activity_id is null or (f.status = 'retrying' and f.next_attempt_at <= now())
        ),
        min(f.next_attempt_at) filter (where f.status = 'retrying' and f.next_attempt_at > now())
    from public.activities as a
    left join public.activity_stream_fetches as f on a.id = f.activity_id
    where
        a.connection_id = p_connection_id
        and a.deleted_at is null
        and not a.is_manual
        and (p_since is null or a.start_date >= p_since);
$$;
comment on function public.stream_fetch_pending(bigint, timestamptz) is
    'How many activities of the connection are due for a stream fetch now, and when the '
    'earliest retry waiting for its backoff falls due (null: none waits). Service role only.';
revoke all on function public.stream_fetch_pending(bigint, timestamptz)
from public, anon, authenticated;
grant execute on function public.stream_fetch_pending(bigint, timestamptz) to service_role;

-- Recording an outcome ---------------------------------------------------------------------

create function public.stream_fetch_record(
    p_activity_id bigint,
    p_outcome text,
    p_error text default null,
    p_points integer default null
)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_user uuid;
    v_connection bigint;
    v_status text;
begin
    if p_outcome is null or p_outcome not in ('fetched', 'unavailable', 'failed') then
        raise exception 'p_outcome must be fetched, unavailable or failed' using errcode = '22023';
    end if;
    select a.user_id, a.connection_id into v_user, v_connection
    from public.activities as a
    where a.id = p_activity_id and a.connection_id is not null;
    if not found then
        return null;  -- deleted meanwhile: nothing to record
    end if;
    insert into public.activity_stream_fetches as f (
        activity_id, user_id, connection_id, status, attempts, points, last_error,
        next_attempt_at
    )
    values (
        p_activity_id,
        v_user,
        v_connection,
        case p_outcome when 'failed' then 'retrying' else p_outcome end,
        case p_outcome when 'failed' then 1 else 0 end,
        case p_outcome when 'fetched' then greatest(p_points, 0) end,
        left(nullif(p_error, ''), 500),
        case p_outcome when 'failed' then now() + interval '15 minutes' end
    )
    on conflict (activity_id) do update set
        status = case
            when p_outcome <> 'failed' then p_outcome
            when f.attempts + 1 >= 5 then 'failed'
            else 'retrying'
        end,
        attempts = case when p_outcome = 'failed' then f.attempts + 1 else 0 end,
        points = case when p_outcome = 'fetched' then greatest(p_points, 0) end,
        last_error = left(nullif(p_error, ''), 500),
        next_attempt_at = case
            when p_outcome = 'failed' and f.attempts + 1 < 5
                then now() + interval '15 minutes' * power(2, f.attempts)
        end,
        updated_at = now()
    returning f.status into v_status;
    return v_status;
end;
$$;
comment on function public.stream_fetch_record(bigint, text, text, integer) is
    'Records what fetching an activity''s streams came to: fetched (p_points samples stored), '
    'unavailable (the provider has none; p_error says why) or failed (p_error; retried after '
    '15 min, 30 min, 1 h, 2 h, then given up as failed). Returns the row''s status, or null '
    'when the activity no longer exists. Service role only.';
revoke all on function public.stream_fetch_record(bigint, text, text, integer)
from public, anon, authenticated;
grant execute on function public.stream_fetch_record(bigint, text, text, integer)
to service_role;

-- A share of a rate-limit bucket -------------------------------------------------------------

create function public.rate_limit_acquire_share(
    p_buckets text[],
    p_limits integer[],
    p_window_seconds integer[],
    p_share double precision,
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
    if p_share is null or p_share <= 0 or p_share > 1 then
        raise exception 'p_share must be in (0, 1]' using errcode = '22023';
    end if;
    if p_cost is null or p_cost < 0 then
        raise exception 'p_cost must be zero or positive' using errcode = '22023';
    end if;
    if n = 0 then
        return query select true, null::timestamptz, null::text;
        return;
    end if;
    -- As rate_limit_acquire: the current windows, created if needed, locked in bucket order.
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
    -- Only the share of each window's limit (the provider's reported limit when it reported
    -- one) is open to this caller; the rest stays for full-priority callers.
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
    where w.used + p_cost > floor(w.request_limit * p_share)
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
    return query select true, null::timestamptz, null::text;
end;
$$;
comment on function public.rate_limit_acquire_share(
    text[], integer[], integer[], double precision, integer
) is
    'Reserves p_cost requests in every bucket named, as rate_limit_acquire, but only while each '
    'bucket''s current window stays within p_share (0 < share <= 1) of its limit: low-priority '
    'work (stream fetches) leaves the rest of a provider''s budget to summary syncs. granted '
    'false when a bucket''s share is spent; retry_at is then when its window ends. Service '
    'role only.';
revoke all on function public.rate_limit_acquire_share(
    text[], integer[], integer[], double precision, integer
) from public, anon, authenticated;
grant execute on function public.rate_limit_acquire_share(
    text[], integer[], integer[], double precision, integer
) to service_role;

-- Streams that arrive with a sync page (Garmin activityDetails callbacks) -------------------

create function public.stream_activity_id(p_connection_id bigint, p_external_id text)
returns bigint
language sql
stable
set search_path = ''
as $$
    select a.id
    from public.activities as a
    where
        a.connection_id = p_connection_id
        and a.external_id = p_external_id
        and a.deleted_at is null;
$$;
comment on function public.stream_activity_id(bigint, text) is
    'The id of the connection''s live activity with this provider id (null when there is '
    'none): where the sync stores streams that came inside a page (Garmin activityDetails '
    'callbacks). Service role only.';
revoke all on function public.stream_activity_id(bigint, text) from public, anon, authenticated;
grant execute on function public.stream_activity_id(bigint, text) to service_role;

-- What the athlete sees per connection ---------------------------------------------------------

create view public.stream_fetch_summary
with (security_invoker = true) as
select
    f.connection_id,
    f.user_id,
    count(*) filter (where f.status = 'fetched') as fetched,
    count(*) filter (where f.status = 'unavailable') as unavailable,
    count(*) filter (where f.status = 'retrying') as retrying,
    count(*) filter (where f.status = 'failed') as failed,
    coalesce(sum(f.points) filter (where f.status = 'fetched'), 0) as points,
    max(f.updated_at) as last_attempt_at,
    (array_agg(f.last_error order by f.updated_at desc) filter (
        where f.status in ('retrying', 'failed')
    ))[1] as last_error
from public.activity_stream_fetches as f
group by f.connection_id, f.user_id;

comment on view public.stream_fetch_summary is
    'Per provider connection: how fetching activity streams went (counts of fetched, '
    'unavailable, retrying and failed activities, samples stored, the last attempt and the '
    'latest error). Runs as the caller: the athlete sees their own connections only.';
comment on column public.stream_fetch_summary.points is 'Samples stored in total.';
comment on column public.stream_fetch_summary.last_error is
    'The most recent error of a retrying or failed fetch (one line, no secret), or null.';

revoke all on public.stream_fetch_summary from public, anon, authenticated;
grant select on public.stream_fetch_summary to authenticated, service_role;
