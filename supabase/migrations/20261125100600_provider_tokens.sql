-- private.provider_tokens: the OAuth tokens of a connection, encrypted by the Python
-- functions (AES-GCM, key from the environment, identified by key_id for rotation) before
-- they reach the database. The schema is not exposed and only service_role has grants.

create table private.provider_tokens (
    connection_id bigint primary key,
    user_id uuid not null references public.users (id) on delete cascade,
    key_id text not null,
    access_token_ciphertext text not null,
    refresh_token_ciphertext text,
    access_token_expires_at timestamptz,
    refresh_token_expires_at timestamptz,
    version bigint not null default 1,
    refresh_lease_holder text,
    refresh_lease_until timestamptz,
    updated_at timestamptz not null default now(),
    constraint provider_tokens_connection_fkey foreign key (connection_id, user_id)
    references public.provider_connections (id, user_id) on delete cascade
);

create index provider_tokens_user_id_idx on private.provider_tokens (user_id);

comment on table private.provider_tokens is
    'Encrypted OAuth tokens of a provider connection (1:1). Readable by service_role only.';

comment on column private.provider_tokens.key_id is
    'Id of the encryption key that sealed both ciphertexts, so keys can rotate.';

comment on column private.provider_tokens.access_token_ciphertext is
    'AES-GCM ciphertext of the access token: base64 of nonce followed by ciphertext and tag.';

comment on column private.provider_tokens.refresh_token_ciphertext is
    'AES-GCM ciphertext of the refresh token; null for providers without one (Polar).';

comment on column private.provider_tokens.refresh_token_expires_at is
    'When the refresh token itself expires (Garmin: about 90 days), when the provider says.';

comment on column private.provider_tokens.version is
    'Incremented on every change of the tokens, so a waiting process sees a refresh happened.';

comment on column private.provider_tokens.refresh_lease_holder is
    'Which process holds the right to refresh now: refreshes of one connection are serialised '
    'so a single-use refresh token is never spent twice.';

comment on column private.provider_tokens.refresh_lease_until is
    'When the refresh lease lapses if its holder died.';

create trigger provider_tokens_set_updated_at
before update on private.provider_tokens
for each row execute function private.set_updated_at();

alter table private.provider_tokens enable row level security;

revoke all on table private.provider_tokens from public, anon, authenticated;

grant select, insert, update, delete on table private.provider_tokens to service_role;
