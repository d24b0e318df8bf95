-- Local Supabase compatibility bootstrap for plain PostgreSQL (15 to 18).
--
-- Recreates the parts of a Supabase project's database that Trainlytics' migrations rely on:
-- the API roles, the auth and extensions schemas, auth.users with Supabase Auth's column names
-- and types, the auth.uid()/role()/email()/jwt() functions with GoTrue's semantics, and the
-- grants Supabase ships. It also creates trainlytics_owner, the local stand-in for Supabase's
-- `postgres` role (NOSUPERUSER CREATEROLE CREATEDB BYPASSRLS), which owns everything the
-- migrations create, so that what passes here also passes on a real project.
--
-- Run as a superuser, and only on a database without an `auth` schema: never on Supabase.
-- The migration runner (trainlytics.migrations) enforces both. Roles are cluster-wide, so their
-- creation is idempotent; everything else is per database.

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
        create role supabase_auth_admin nologin noinherit createrole;
    end if;
    if not exists (select from pg_roles where rolname = 'trainlytics_owner') then
        create role trainlytics_owner nologin nosuperuser createrole createdb bypassrls;
    end if;
end
$$;

-- Supabase made the API roles INHERIT in 2023 (20230529180330_alter_api_roles_for_inherit).
alter role anon inherit;
alter role authenticated inherit;
alter role service_role inherit;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role supabase_auth_admin set search_path = 'auth';

grant anon to authenticator;
grant authenticated to authenticator;
grant service_role to authenticator;
-- Supabase's postgres can act as the API roles (the dashboard's "impersonate" does this).
grant anon to trainlytics_owner;
grant authenticated to trainlytics_owner;
grant service_role to trainlytics_owner;

-- The database and public schema as Supabase's postgres role sees them -------------------
do $$
begin
    execute format('grant create, connect, temporary on database %I to trainlytics_owner',
                   current_database());
end
$$;

grant all on schema public to trainlytics_owner;
grant usage on schema public to anon, authenticated, service_role;

-- Legacy Supabase default: new objects in public are granted to every API role. Migrations
-- must revoke what they do not mean to expose; emulating the permissive default tests that.
alter default privileges for role trainlytics_owner in schema public
    grant all on tables to anon, authenticated, service_role;
alter default privileges for role trainlytics_owner in schema public
    grant all on functions to anon, authenticated, service_role;
alter default privileges for role trainlytics_owner in schema public
    grant all on sequences to anon, authenticated, service_role;

-- extensions schema --------------------------------------------------------------------------
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role, trainlytics_owner;
grant create on schema extensions to trainlytics_owner;

-- auth schema and auth.users ---------------------------------------------------------------
create schema auth authorization supabase_auth_admin;
grant usage on schema auth to anon, authenticated, service_role, trainlytics_owner;

-- Column names and types as in Supabase Auth (GoTrue); `confirmed_at` is generated there too.
create table auth.users (
    instance_id uuid,
    id uuid primary key,
    aud varchar(255),
    role varchar(255),
    email varchar(255),
    encrypted_password varchar(255),
    email_confirmed_at timestamptz,
    invited_at timestamptz,
    confirmation_token varchar(255),
    confirmation_sent_at timestamptz,
    recovery_token varchar(255),
    recovery_sent_at timestamptz,
    email_change_token_new varchar(255),
    email_change varchar(255),
    email_change_sent_at timestamptz,
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb,
    raw_user_meta_data jsonb,
    is_super_admin boolean,
    created_at timestamptz,
    updated_at timestamptz,
    phone text unique default null,
    phone_confirmed_at timestamptz,
    phone_change text default '',
    phone_change_token varchar(255) default '',
    phone_change_sent_at timestamptz,
    confirmed_at timestamptz generated always as (
        least(email_confirmed_at, phone_confirmed_at)
    ) stored,
    email_change_token_current varchar(255) default '',
    email_change_confirm_status smallint default 0,
    banned_until timestamptz,
    reauthentication_token varchar(255) default '',
    reauthentication_sent_at timestamptz,
    is_sso_user boolean not null default false,
    deleted_at timestamptz,
    is_anonymous boolean not null default false
);
alter table auth.users owner to supabase_auth_admin;
comment on table auth.users is
    'Local stand-in for Supabase Auth''s users table (same column names and types).';

-- Supabase's postgres holds every privilege on auth tables (it creates triggers on auth.users).
grant all on auth.users to trainlytics_owner, service_role;

-- GoTrue's auth functions (20240624145325_recreate_auth_functions): claim-per-setting first,
-- then the JSON claims; empty settings read as NULL; stable, pinned search_path.
create function auth.uid() returns uuid
language sql stable
set search_path = ''
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

create function auth.role() returns text
language sql stable
set search_path = ''
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

create function auth.email() returns text
language sql stable
set search_path = ''
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.email', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$$;

create function auth.jwt() returns jsonb
language sql stable
set search_path = ''
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;
grant execute on all functions in schema auth
to anon, authenticated, service_role, trainlytics_owner;

-- PostgREST's exposed schemas, read by Supabase's linter (splinter).
do $$
begin
    execute format('alter database %I set pgrst.db_schemas = %L', current_database(), 'public');
    execute format('alter database %I set search_path = "$user", public, extensions',
                   current_database());
end
$$;

-- auth.identities (issue 17) ---------------------------------------------------------------
-- Supabase Auth keeps one identity per sign-in method; an email/password user has an `email`
-- identity whose provider_id is the user id. Definition as supabase/auth's migrations leave it
-- (20210909172000_create_identities_table, 20221215195800_add_identities_email_column,
-- 20231117164230_add_id_pkey_identities, identities_user_id_idx). `if not exists`: another
-- change to this bootstrap may define it too.
create table if not exists auth.identities (
    provider_id text not null,
    user_id uuid not null references auth.users (id) on delete cascade,
    identity_data jsonb not null,
    provider text not null,
    last_sign_in_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz,
    email text generated always as (lower(identity_data ->> 'email')) stored,
    id uuid not null default gen_random_uuid() primary key,
    constraint identities_provider_id_provider_unique unique (provider_id, provider)
);
create index if not exists identities_user_id_idx on auth.identities (user_id);
create index if not exists identities_email_idx on auth.identities (email text_pattern_ops);
alter table auth.identities owner to supabase_auth_admin;
comment on table auth.identities is
    'Local stand-in for Supabase Auth''s identities table (same column names and types).';
