-- public.users: the profile of a Supabase Auth user.
--
-- Supabase Auth owns the credentials: the password hash, sign-in, email confirmation and the
-- password recovery flow (which replaces the original design's password_reset_tokens table) all
-- live in auth.users and never appear here. A trigger on auth.users creates the profile, keeps
-- its email equal to the auth email and is_verified equal to the email confirmation; deleting
-- the auth user deletes the profile and, by cascade, everything the user owns.

create table public.users (
    id uuid primary key references auth.users (id) on delete cascade,
    email text,
    first_name text,
    last_name text,
    avatar_url text,
    role public.user_role not null default 'athlete',
    is_active boolean not null default true,
    is_verified boolean not null default false,
    preferences jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint users_preferences_is_object check (jsonb_typeof(preferences) = 'object'),
    constraint users_first_name_length check (char_length(first_name) <= 100),
    constraint users_last_name_length check (char_length(last_name) <= 100),
    constraint users_avatar_url_length check (char_length(avatar_url) <= 2048)
);

-- --- JSON size limits -------------------------------------------------------------------------

alter table public.users
add constraint users_preferences_size check (pg_column_size(preferences) <= 16384);

-- One account = one email (Supabase Auth also enforces this, case-insensitively).
create unique index users_email_key on public.users (lower(email));

comment on table public.users is
    'Profile of a Supabase Auth user (id = auth.users.id), created by a trigger on auth.users. '
    'Credentials, password hashes and password-reset tokens stay in Supabase Auth.';

comment on column public.users.id is 'The Supabase Auth user id (auth.users.id).';

comment on column public.users.email is
    'Copy of auth.users.email, kept equal by a trigger; unique case-insensitively (one account '
    '= one email). Null only for accounts without an email, which Trainlytics does not enable.';

comment on column public.users.role is
    'athlete, coach or admin (see type user_role). Only an admin may change it.';

comment on column public.users.is_active is
    'False when an admin suspended the account: it keeps its data but loses coach and admin '
    'rights.';

comment on column public.users.is_verified is
    'True once Supabase Auth confirmed the email (auth.users.email_confirmed_at is set).';

comment on column public.users.preferences is
    'Athlete settings as a JSON object, e.g. units, time zone, ftp (W), resting_heart_rate and '
    'max_heart_rate (bpm) for training-load computations.';

comment on column public.users.avatar_url is 'URL of the profile picture.';

create trigger users_set_updated_at
before update on public.users
for each row execute function private.set_updated_at();

-- Sync from Supabase Auth -------------------------------------------------------------------
-- Supabase Auth inserts as supabase_auth_admin with search_path `auth`: these functions are
-- definer (that role may not write public.users) and name every object with its schema.

create function private.handle_auth_user_created()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    insert into public.users (id, email, is_verified, first_name, last_name)
    values (
        new.id,
        new.email,
        new.email_confirmed_at is not null,
        left(new.raw_user_meta_data ->> 'first_name', 100),
        left(new.raw_user_meta_data ->> 'last_name', 100)
    );
    return new;
end;
$$;

comment on function private.handle_auth_user_created() is
    'Trigger on auth.users insert: creates the public.users profile. Security definer because '
    'Supabase Auth''s role (supabase_auth_admin) has no rights on public.users.';

revoke all on function private.handle_auth_user_created() from public, anon, authenticated;

create function private.handle_auth_user_updated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    update public.users
    set email = new.email,
        is_verified = new.email_confirmed_at is not null
    where id = new.id;
    return new;
end;
$$;

comment on function private.handle_auth_user_updated() is
    'Trigger on auth.users update of email or email_confirmed_at: keeps public.users.email and '
    'is_verified equal to Supabase Auth''s. Security definer for the same reason as '
    'handle_auth_user_created.';

revoke all on function private.handle_auth_user_updated() from public, anon, authenticated;

create trigger on_auth_user_created
after insert on auth.users
for each row execute function private.handle_auth_user_created();

create trigger on_auth_user_updated
after update of email, email_confirmed_at on auth.users
for each row
when (
    old.email is distinct from new.email
    or old.email_confirmed_at is distinct from new.email_confirmed_at
)
execute function private.handle_auth_user_updated();

-- Guard for API updates -----------------------------------------------------------------------
-- Column grants decide which columns the API may touch at all; this trigger decides who may
-- touch which of those: the owner edits the profile fields, only an admin changes a role, and
-- an admin editing someone else changes nothing but the role.

create function private.guard_user_update()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if current_user not in ('authenticated', 'anon') then
        return new;  -- service_role, owners and Supabase Auth are trusted
    end if;
    if new.role is distinct from old.role and not private.is_admin() then
        raise exception 'only an admin can change a user''s role'
            using errcode = '42501';
    end if;
    if new.id is distinct from auth.uid()
        and (new.first_name, new.last_name, new.avatar_url, new.preferences)
            is distinct from (old.first_name, old.last_name, old.avatar_url, old.preferences) then
        raise exception 'only the user can edit their own profile'
            using errcode = '42501';
    end if;
    return new;
end;
$$;

comment on function private.guard_user_update() is
    'Trigger on public.users update by an API role: only an admin changes roles, and only the '
    'user edits their own profile fields. Security invoker: it judges the caller.';

revoke all on function private.guard_user_update() from public, anon, authenticated;

create trigger users_guard_update
before update on public.users
for each row execute function private.guard_user_update();

-- Grants and row-level security -------------------------------------------------------------

alter table public.users enable row level security;

revoke all on table public.users from anon, authenticated;

grant select on table public.users to authenticated;

grant update (first_name, last_name, avatar_url, preferences, role) on table public.users
to authenticated;

grant all on table public.users to service_role;

create policy users_select on public.users
for select to authenticated
using (id = any(array(select private.visible_profile_ids())));

comment on policy users_select on public.users is
    'A user reads their own profile, both sides of their pending or active coach grants, and an '
    'admin reads every profile.';

create policy users_update on public.users
for update to authenticated
using (id = (select auth.uid()) or (select private.is_admin()))
with check (id = (select auth.uid()) or (select private.is_admin()));

comment on policy users_update on public.users is
    'A user updates their own profile; an admin updates anyone''s role. Which columns each may '
    'change is enforced by column grants and the users_guard_update trigger.';
