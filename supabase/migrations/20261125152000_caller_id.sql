-- Who is calling, read once and cheaply: private.caller_id().
--
-- Supabase's auth.uid() pins its search_path (GoTrue 20240624145325), so PostgreSQL cannot
-- inline it: every statement that calls it plans and runs a SQL function, 40 to 50 us on this
-- project's benchmark machine (bench/analytics.py), against queries of 0.1 to 1 ms. The policy
-- helpers called it up to four times each (visible_profile_ids, behind every read of
-- public.users, directly and through is_admin and has_role).
--
-- private.caller_id() returns what auth.uid() returns (the JWT subject: the per-claim setting
-- first, then the claims object; empty settings read as null) from a SQL-standard body, which
-- is bound when created (no search_path can redirect it) and inlined by the planner. The
-- helpers read it once into a variable (a PL/pgSQL expression planned once per session); they
-- keep their results and their security definer. Policies keep (select auth.uid()): in a
-- policy, inlining costs the planner more than the call costs (measured: +0.1 ms of planning
-- for the weekly volume query against a 45 us call).

create function private.caller_id()
returns uuid
language sql
stable
parallel safe
begin atomic
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid;
end;
comment on function private.caller_id() is
    'The caller''s user id, as auth.uid() returns it (request.jwt.claim.sub, else the sub of '
    'request.jwt.claims; null when unset or empty), but inlinable: auth.uid() pins its '
    'search_path, which makes each statement plan and run it as a function.';

-- Only the helpers (security definer, run as the owner) call it.
revoke all on function private.caller_id() from public, anon, authenticated;

create or replace function private.is_admin()
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    caller uuid := private.caller_id();
begin
    return exists (
        select 1
        from public.users as u
        where u.id = caller and u.role = 'admin' and u.is_active
    );
end;
$$;

create or replace function private.own_user_ids()
returns setof uuid
rows 10
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    caller uuid := private.caller_id();
begin
    if caller is null then
        return;
    end if;
    if private.is_admin() then
        return query select u.id from public.users as u;
        return;
    end if;
    return next caller;
end;
$$;

create or replace function private.readable_user_ids()
returns setof uuid
rows 10
language plpgsql
stable
security definer
set search_path = ''
as $$
-- Called once per statement by the activities, workouts and rollup policies, so it is kept to
-- one lookup of the caller and, for coaches, one index scan of their grants.
declare
    caller uuid := private.caller_id();
    caller_role public.user_role;
begin
    if caller is null then
        return;
    end if;
    select u.role into caller_role
    from public.users as u
    where u.id = caller and u.is_active;
    if caller_role = 'admin' then
        return query select u.id from public.users as u;
        return;
    end if;
    return next caller;
    if caller_role = 'coach' then
        -- (athlete_id, coach_id) is unique and never names the caller twice: no UNION needed.
        return query
            select ca.athlete_id
            from public.coach_athletes as ca
            where ca.coach_id = caller and ca.status = 'active';
    end if;
end;
$$;

create or replace function private.visible_profile_ids()
returns setof uuid
rows 10
language plpgsql
stable
security definer
set search_path = ''
as $$
-- Behind every read of public.users: one lookup of the caller, then only the grants that
-- can add anyone.
declare
    caller uuid := private.caller_id();
    caller_role public.user_role;
begin
    if caller is null then
        return;
    end if;
    select u.role into caller_role
    from public.users as u
    where u.id = caller and u.is_active;
    if caller_role = 'admin' then
        return query select u.id from public.users as u;
        return;
    end if;
    return next caller;
    -- An active coach sees the athletes who offered or granted access.
    if caller_role = 'coach' then
        return query
            select ca.athlete_id
            from public.coach_athletes as ca
            where ca.coach_id = caller and ca.status <> 'revoked';
    end if;
    -- Anyone sees the coaches they granted active access to.
    return query
        select ca.coach_id
        from public.coach_athletes as ca
        where ca.athlete_id = caller and ca.status = 'active';
end;
$$;

create or replace function private.coached_athlete_ids()
returns setof uuid
rows 10
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    caller uuid := private.caller_id();
begin
    if not private.has_role(caller, 'coach') then
        return;
    end if;
    return query
        select ca.athlete_id
        from public.coach_athletes as ca
        where ca.coach_id = caller and ca.status = 'active';
end;
$$;
