-- provider_connections: one row per (user, provider), the non-secret side of a connection.
--
-- The OAuth tokens are not here: they live encrypted in private.provider_tokens. A reconnect
-- reuses the row (UNIQUE (user_id, provider)), so activities keep their connection_id and
-- nothing is lost. A provider account is linked to at most one user at a time, because
-- webhooks are routed by the provider's user id.

create table public.provider_connections (
    id bigint generated always as identity primary key,
    user_id uuid not null references public.users (id) on delete cascade,
    provider public.provider_type not null,
    provider_user_id text not null,
    provider_username text,
    provider_profile jsonb not null default '{}'::jsonb,
    scopes text[] not null default '{}',
    status public.connection_status not null default 'active',
    is_active boolean generated always as (status in ('active', 'error')) stored,
    token_expires_at timestamptz,
    last_sync_at timestamptz,
    sync_cursor jsonb not null default '{}'::jsonb,
    last_error text,
    last_error_at timestamptz,
    consecutive_failures integer not null default 0,
    connected_at timestamptz not null default now(),
    disconnected_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint provider_connections_user_provider_key unique (user_id, provider),
    -- Targets of the composite foreign keys that keep activities and sync_history consistent.
    constraint provider_connections_id_user_key unique (id, user_id),
    constraint provider_connections_id_user_provider_key unique (id, user_id, provider),
    constraint provider_connections_profile_is_object check (
        jsonb_typeof(provider_profile) = 'object'
    ),
    constraint provider_connections_cursor_is_object check (jsonb_typeof(sync_cursor) = 'object'),
    constraint provider_connections_failures_nonnegative check (consecutive_failures >= 0)
);

alter table public.provider_connections
add constraint provider_connections_profile_size check (
    pg_column_size(provider_profile) <= 65536
),
add constraint provider_connections_cursor_size check (pg_column_size(sync_cursor) <= 16384);

-- One provider account, one live connection (webhook routing).
create unique index provider_connections_provider_account_key
on public.provider_connections (provider, provider_user_id)
where is_active;

comment on table public.provider_connections is
    'A user''s link to one provider account (at most one per provider). Tokens are stored '
    'encrypted in private.provider_tokens, never here. Disconnecting keeps the row and the '
    'activities; reconnecting reuses the row.';

comment on column public.provider_connections.provider_user_id is
    'The athlete''s id at the provider (Strava athlete id, Garmin user id, Polar member id, '
    'COROS openId, Wahoo user id, Google Health user id); webhooks are routed by it.';

comment on column public.provider_connections.provider_username is
    'Display name or username at the provider.';

comment on column public.provider_connections.provider_profile is
    'The provider''s profile document as returned (name, photo, etc.), without any token.';

comment on column public.provider_connections.scopes is
    'The OAuth scopes or permissions the athlete actually granted.';

comment on column public.provider_connections.status is
    'Health of the connection (see type connection_status).';

comment on column public.provider_connections.is_active is
    'True while Trainlytics holds authorised tokens (status active or error); generated from '
    'status.';

comment on column public.provider_connections.token_expires_at is
    'When the current access token expires (no token shown here), for scheduling refreshes.';

comment on column public.provider_connections.last_sync_at is
    'End of the last synchronisation that stored its results durably.';

comment on column public.provider_connections.sync_cursor is
    'Provider-specific incremental position (e.g. {"after": epoch} for Strava), advanced only '
    'with durable progress.';

comment on column public.provider_connections.last_error is
    'Last sync or token error, in words the athlete can act on; null when healthy.';

comment on column public.provider_connections.consecutive_failures is
    'Number of failed synchronisations in a row; reset by a success.';

comment on column public.provider_connections.disconnected_at is
    'When the athlete last disconnected; null while connected.';

create trigger provider_connections_set_updated_at
before update on public.provider_connections
for each row execute function private.set_updated_at();

alter table public.provider_connections enable row level security;

-- The athlete reads the metadata and may only disconnect (status to 'disconnected').
revoke all on table public.provider_connections from anon, authenticated;

grant select on table public.provider_connections to authenticated;

grant update (status) on table public.provider_connections to authenticated;

grant all on table public.provider_connections to service_role;

create policy provider_connections_select on public.provider_connections
for select to authenticated
using (user_id = any(array(select private.own_user_ids())));

comment on policy provider_connections_select on public.provider_connections is
    'An athlete reads their own connections; an admin reads all. Coaches read none.';

create policy provider_connections_update on public.provider_connections
for update to authenticated
using (user_id = (select auth.uid()))
with check (user_id = (select auth.uid()) and status = 'disconnected');

comment on policy provider_connections_update on public.provider_connections is
    'An athlete disconnects their own connection; no other change is allowed through the API.';
