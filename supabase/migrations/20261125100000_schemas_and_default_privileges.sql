-- Schemas and default privileges.
--
-- `private` holds what the Data API must never serve: OAuth tokens and state, and the
-- security definer helpers that row-level security policies call. It is not listed in
-- config.toml's exposed schemas. The API roles get USAGE on it only so that policies can call
-- the helpers, each of which is granted one by one.

create schema if not exists private;

comment on schema private is
    'Not exposed through the Data API: OAuth tokens and state (service_role only), and the '
    'security definer helpers that RLS policies call.';

revoke all on schema private from public;

grant usage on schema private to authenticated, service_role;

-- Supabase is moving new projects to "nothing is exposed unless granted". Opt in now, so that a
-- table or function a later migration forgets to grant stays closed rather than open. Every
-- migration still states its grants explicitly, whatever these defaults are.
alter default privileges in schema public revoke all on tables from anon, authenticated;

alter default privileges in schema public revoke all on sequences from anon, authenticated;

alter default privileges in schema public revoke all on functions from anon, authenticated;

alter default privileges revoke execute on functions from public;
