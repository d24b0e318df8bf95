-- Local Supabase compatibility bootstrap for plain PostgreSQL (15 to 18).
--
-- Recreates, as a current Supabase project has them, the parts of its database that
-- Trainlytics' migrations and tests touch: the API roles and their attributes, memberships and
-- role settings; the auth schema with auth.users and auth.identities as Supabase Auth's
-- migrations leave them (columns, defaults, indexes, row level security); the auth.uid(),
-- auth.role(), auth.email() and auth.jwt() functions exactly as Supabase Auth defines them (no
-- SET clause, so the planner inlines them); and the grants and default privileges on auth,
-- public and extensions. Every fact is derived from supabase/postgres (migrations/db) and
-- supabase/auth (migrations/); tests/fixtures/supabase/emulation_reference.json names the
-- repository, commit and path of each one, and tests/db/test_supabase_emulation.py checks this
-- bootstrap against it.
--
-- Stand-ins, because a plain server has neither role: the superuser that runs this file plays
-- supabase_admin (it owns the auth schema), and trainlytics_owner plays Supabase's `postgres`
-- (NOSUPERUSER CREATEROLE CREATEDB BYPASSRLS, member of the API roles, NOT a member of
-- supabase_auth_admin), which owns everything the migrations create. It is NOLOGIN here: the
-- runner reaches it with `set role`, and a local server should not gain a password-less login.
--
-- Run as a superuser, and only on a database without an `auth` schema: never on Supabase.
-- The migration runner (trainlytics.migrations) enforces both. Roles are cluster-wide, so their
-- creation is idempotent and their attributes are (re)set on every run; everything else is per
-- database.

-- Roles -----------------------------------------------------------------------------------
do $$
begin
    if not exists (select from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'supabase_auth_admin') then
        create role supabase_auth_admin login noinherit nocreaterole noreplication;
    end if;
    if not exists (select from pg_roles where rolname = 'trainlytics_owner') then
        create role trainlytics_owner nologin nosuperuser createrole createdb bypassrls;
    end if;
end
$$;

-- Attributes as Supabase has them now (set again on every run: the roles are cluster-wide and
-- an older bootstrap may have created them differently).
-- 20230529180330_alter_api_roles_for_inherit: the API roles became INHERIT.
alter role anon nologin inherit nobypassrls;
alter role authenticated nologin inherit nobypassrls;
alter role service_role nologin inherit bypassrls;
alter role authenticator login noinherit nobypassrls;
-- 00000000000001-auth-schema: LOGIN NOINHERIT; 20260821154147_revoke_createrole_from_auth_admin.
alter role supabase_auth_admin login noinherit nocreaterole noreplication nobypassrls;
alter role trainlytics_owner nologin nosuperuser createrole createdb bypassrls;

-- Role settings. PostgREST applies the impersonated role's settings after `set role`, so the
-- API roles' timeouts hold for API requests (tests/helpers.py does the same).
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
alter role supabase_auth_admin set search_path = 'auth';

-- Memberships: PostgREST's authenticator switches to the API roles, and so can `postgres`
-- (20230201083204_grant_auth_roles_to_postgres). Supabase removed `postgres` from
-- supabase_auth_admin (20250421084701_revoke_admin_roles_from_postgres).
grant anon to authenticator;
grant authenticated to authenticator;
grant service_role to authenticator;
grant anon to trainlytics_owner;
grant authenticated to trainlytics_owner;
grant service_role to trainlytics_owner;
do $$
begin
    if exists (
        select
        from pg_auth_members as m
        where m.roleid = 'supabase_auth_admin'::regrole and m.member = 'trainlytics_owner'::regrole
    ) then
        revoke supabase_auth_admin from trainlytics_owner;
    end if;
end
$$;

-- The database and the public schema -------------------------------------------------------
do $$
begin
    execute format('grant create, connect, temporary on database %I to trainlytics_owner',
                   current_database());
    -- 20251121141100_supabase_auth_admin_db_grants.
    execute format('grant create on database %I to supabase_auth_admin', current_database());
end
$$;

grant all on schema public to trainlytics_owner;
grant usage on schema public to anon, authenticated, service_role;

-- The platform's default for `postgres` in public: new objects are granted to every API role.
-- Migrations must revoke what they do not mean to expose; emulating the permissive default
-- tests that.
alter default privileges for role trainlytics_owner in schema public
    grant all on tables to anon, authenticated, service_role;
alter default privileges for role trainlytics_owner in schema public
    grant all on functions to anon, authenticated, service_role;
alter default privileges for role trainlytics_owner in schema public
    grant all on sequences to anon, authenticated, service_role;

-- extensions schema (00000000000000-initial-schema, 10000000000000_demote-postgres) ----------
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
grant all on schema extensions to trainlytics_owner;

-- auth schema (00000000000001-auth-schema, 10000000000000_demote-postgres,
-- 20211115181400_update-auth-permissions, 20250421084701_revoke_admin_roles_from_postgres) ----
-- Owned by supabase_admin (here: the superuser running this file).
create schema auth;
grant usage on schema auth to anon, authenticated, service_role;
grant all on schema auth to supabase_auth_admin;
grant usage on schema auth to trainlytics_owner;
-- What Supabase Auth creates in auth is granted to `postgres`.
alter default privileges for role supabase_auth_admin in schema auth
    grant all on tables to trainlytics_owner;
alter default privileges for role supabase_auth_admin in schema auth
    grant all on sequences to trainlytics_owner;
alter default privileges for role supabase_auth_admin in schema auth
    grant all on routines to trainlytics_owner;

-- From here on, be Supabase Auth: its migrations run as supabase_auth_admin, search_path auth.
set local role supabase_auth_admin;
set local search_path = auth;

-- auth.users as Supabase Auth's migrations leave it: 00_init_auth_schema, then
-- 20210710035447 (phone, email_confirmed_at), 20210722035447 (confirmed_at), 20210730183235
-- (email_change_token_new, _current, confirm status), 20220114185221, 20220114185340,
-- 20220323170000, 20220429102000, 20221215195500 (is_sso_user, users_email_partial_key),
-- 20230116124310 (phone as text), 20230116124412, 20240214120130, 20240612123726 (RLS).
create table auth.users (
    instance_id uuid null,
    id uuid not null unique,
    aud varchar(255) null,
    role varchar(255) null,
    email varchar(255) null,
    encrypted_password varchar(255) null,
    email_confirmed_at timestamptz null,
    invited_at timestamptz null,
    confirmation_token varchar(255) null,
    confirmation_sent_at timestamptz null,
    recovery_token varchar(255) null,
    recovery_sent_at timestamptz null,
    email_change_token_new varchar(255) null,
    email_change varchar(255) null,
    email_change_sent_at timestamptz null,
    last_sign_in_at timestamptz null,
    raw_app_meta_data jsonb null,
    raw_user_meta_data jsonb null,
    is_super_admin bool null,
    created_at timestamptz null,
    updated_at timestamptz null,
    phone varchar(15) null unique default null,
    phone_confirmed_at timestamptz null default null,
    phone_change varchar(15) null default '',
    phone_change_token varchar(255) null default '',
    phone_change_sent_at timestamptz null default null,
    confirmed_at timestamptz generated always as (
        least(users.email_confirmed_at, users.phone_confirmed_at)
    ) stored,
    email_change_token_current varchar(255) null default '',
    email_change_confirm_status smallint default 0 check (
        email_change_confirm_status >= 0 and email_change_confirm_status <= 2
    ),
    banned_until timestamptz null,
    reauthentication_token varchar(255) null default '',
    reauthentication_sent_at timestamptz null default null,
    is_sso_user boolean not null default false,
    deleted_at timestamptz null,
    is_anonymous boolean not null default false,
    constraint users_pkey primary key (id)
);
-- 20230116124310_alter_phone_type (the defaults keep their varchar casts).
alter table auth.users
alter column phone type text,
alter column phone_change type text;
create index users_instance_id_idx on auth.users using btree (instance_id);
create index users_instance_id_email_idx on auth.users using btree (instance_id, lower(email));
create unique index confirmation_token_idx on auth.users using btree (confirmation_token)
where confirmation_token !~ '^[0-9 ]*$';
create unique index recovery_token_idx on auth.users using btree (recovery_token)
where recovery_token !~ '^[0-9 ]*$';
create unique index email_change_token_current_idx on auth.users
using btree (email_change_token_current)
where email_change_token_current !~ '^[0-9 ]*$';
create unique index email_change_token_new_idx on auth.users using btree (email_change_token_new)
where email_change_token_new !~ '^[0-9 ]*$';
create unique index reauthentication_token_idx on auth.users using btree (reauthentication_token)
where reauthentication_token !~ '^[0-9 ]*$';
create unique index users_email_partial_key on auth.users (email) where (is_sso_user = false);
create index users_is_anonymous_idx on auth.users using btree (is_anonymous);
comment on table auth.users is 'Auth: Stores user login data within a secure schema.';
comment on column auth.users.is_sso_user is
    'Auth: Set this column to true when the account comes from SSO. These accounts can have '
    'duplicate emails.';
comment on index auth.users_email_partial_key is
    'Auth: A partial unique index that applies only when is_sso_user is false';

-- auth.identities: 20210909172000, 20221027105023, 20221215195800 (email),
-- 20231117164230 (provider_id, uuid id), 20240612123726 (RLS).
create table auth.identities (
    provider_id text not null,
    user_id uuid not null,
    identity_data jsonb not null,
    provider text not null,
    last_sign_in_at timestamptz null,
    created_at timestamptz null,
    updated_at timestamptz null,
    email text generated always as (lower(identity_data ->> 'email')) stored,
    id uuid default gen_random_uuid() primary key,
    constraint identities_user_id_fkey foreign key (user_id)
    references auth.users (id) on delete cascade,
    constraint identities_provider_id_provider_unique unique (provider_id, provider)
);
create index identities_user_id_idx on auth.identities using btree (user_id);
create index identities_email_idx on auth.identities (email text_pattern_ops);
comment on table auth.identities is 'Auth: Stores identities associated to a user.';
comment on column auth.identities.email is
    'Auth: Email is a generated column that references the optional email property in the '
    'identity_data';

alter table auth.users enable row level security;
alter table auth.identities enable row level security;
grant select on auth.users to trainlytics_owner with grant option;
grant select on auth.identities to trainlytics_owner with grant option;

-- The auth functions as Supabase Auth defines them today: 20220224000811_update_auth_functions
-- (uid, role, email) and 20220531120530_add_auth_jwt_function (jwt, and the comments). No SET
-- clause and no grants: PUBLIC may execute, and the planner inlines them.
create or replace function auth.uid()
returns uuid
language sql stable
as $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role()
returns text
language sql stable
as $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email()
returns text
language sql stable
as $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

comment on function auth.uid() is 'Deprecated. Use auth.jwt() -> ''sub'' instead.';
comment on function auth.role() is 'Deprecated. Use auth.jwt() -> ''role'' instead.';
comment on function auth.email() is 'Deprecated. Use auth.jwt() -> ''email'' instead.';

create or replace function auth.jwt()
returns jsonb
language sql stable
as $$
  select
    coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

reset search_path;
reset role;

-- PostgREST's exposed schemas, read by Supabase's linter (splinter), and the search_path
-- Supabase gives `postgres` (00000000000003-post-setup).
do $$
begin
    execute format('alter database %I set pgrst.db_schemas = %L', current_database(), 'public');
    execute format('alter database %I set search_path = "$user", public, extensions',
                   current_database());
end
$$;
