-- private.provider_tokens: the OAuth tokens of a connection, encrypted by the Python
-- functions (AES-GCM, key from the environment, identified by key_id for rotation) before
-- they reach the database. The schema is not exposed and only service_role has grants.

create table private.provider_tokens (
    connection_id bigint primary key,
    user_id uuid not null references public.users (id) on delete cascade,
    key_id text not null,
    access_token_ciphertext bytea not null,
    refresh_token_ciphertext bytea,
    access_token_expires_at timestamptz,
    refresh_token_expires_at timestamptz,
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
    'AES-GCM ciphertext (nonce included) of the access token.';
comment on column private.provider_tokens.refresh_token_ciphertext is
    'AES-GCM ciphertext of the refresh token; null for providers without one (Polar).';
comment on column private.provider_tokens.refresh_token_expires_at is
    'When the refresh token itself expires (Garmin: about 90 days), when the provider says.';

create trigger provider_tokens_set_updated_at
before update on private.provider_tokens
for each row execute function private.set_updated_at();

alter table private.provider_tokens enable row level security;
revoke all on table private.provider_tokens from public, anon, authenticated;
grant select, insert, update, delete on table private.provider_tokens to service_role;
