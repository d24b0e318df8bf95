-- private.oauth_states: pending OAuth connect flows. A state is one-time, expires, and is
-- bound to the user and provider that started it; the PKCE verifier waits here for the
-- callback. Only the state's SHA-256 is stored, so a leaked table row cannot complete a flow.

create table private.oauth_states (
    id bigint generated always as identity primary key,
    state_hash text not null,
    user_id uuid not null references public.users (id) on delete cascade,
    provider public.provider_type not null,
    code_verifier text,
    redirect_uri text not null,
    scopes text[] not null default '{}',
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    consumed_at timestamptz,
    constraint oauth_states_state_hash_key unique (state_hash),
    constraint oauth_states_expiry_after_creation check (expires_at > created_at)
);

create index oauth_states_user_id_idx on private.oauth_states (user_id);

create index oauth_states_expires_at_idx on private.oauth_states (expires_at);

comment on table private.oauth_states is
    'Pending OAuth connect flows: one-time, expiring, bound to user and provider. Readable by '
    'service_role only.';

comment on column private.oauth_states.state_hash is
    'Hex SHA-256 of the state parameter sent to the provider (the state itself is not stored).';

comment on column private.oauth_states.code_verifier is
    'PKCE code verifier (RFC 7636) for providers that support PKCE; null otherwise.';

comment on column private.oauth_states.redirect_uri is 'The redirect URI sent with the request.';

comment on column private.oauth_states.scopes is 'The scopes requested.';

comment on column private.oauth_states.consumed_at is
    'When the callback used the state; a consumed state is never accepted again.';

alter table private.oauth_states enable row level security;

revoke all on table private.oauth_states from public, anon, authenticated;

grant select, insert, update, delete on table private.oauth_states to service_role;
