-- Who may read whom: the security definer helpers that RLS policies call.
--
-- They are definer because they read users and coach_athletes, whose own policies would
-- otherwise apply (and recurse) inside a policy. They are plpgsql so that they can be created
-- before the tables they read. Policies call them wrapped in a scalar subquery, e.g.
-- `user_id = any(array(select private.readable_user_ids()))`, so each runs once per statement
-- (an initPlan) and the (user_id, ...) indexes stay usable.

create function private.is_admin()
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

comment on function private.is_admin() is
    'True when the caller (auth.uid()) is an active admin. Security definer: it reads '
    'public.users, whose RLS would otherwise apply inside the policies that call it.';

revoke all on function private.is_admin() from public, anon;

-- Policies run as the caller, so the caller must be allowed to execute the helpers.
grant execute on function private.is_admin() to authenticated, service_role;

create function private.has_role(p_user_id uuid, p_role public.user_role)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return exists (
        select 1
        from public.users as u
        where u.id = p_user_id and u.role = p_role and u.is_active
    );
end;
$$;

comment on function private.has_role(uuid, public.user_role) is
    'True when the given user is active and has the given role (used to check that a grant '
    'names a real coach). Security definer: the caller cannot read that user''s row yet.';

revoke all on function private.has_role(uuid, public.user_role) from public, anon;

grant execute on function private.has_role(uuid, public.user_role) to authenticated, service_role;

create function private.own_user_ids()
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

comment on function private.own_user_ids() is
    'The user ids whose private records (connections, sync history, audit events) the caller '
    'may read: the caller alone, or every user for an admin. Security definer: reads '
    'public.users to decide admin rights.';

revoke all on function private.own_user_ids() from public, anon;

grant execute on function private.own_user_ids() to authenticated, service_role;

create function private.readable_user_ids()
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

comment on function private.readable_user_ids() is
    'The user ids whose training data (activities, workouts) the caller may read: the caller, '
    'the athletes who granted the caller active coach access while the caller is an active '
    'coach, or every user for an admin. Policies add the per-row limits for coaches (no '
    'private, no Strava-sourced rows). '
    'Security definer: reads coach_athletes and users without their RLS.';

revoke all on function private.readable_user_ids() from public, anon;

grant execute on function private.readable_user_ids() to authenticated, service_role;

create function private.visible_profile_ids()
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
    -- An active coach sees the athletes who granted active access (an offer shows through
    -- public.pending_coach_offers, without preferences).
    if caller_role = 'coach' then
        return query
            select ca.athlete_id
            from public.coach_athletes as ca
            where ca.coach_id = caller and ca.status = 'active';
    end if;
    -- Anyone sees the coaches they granted active access to.
    return query
        select ca.coach_id
        from public.coach_athletes as ca
        where ca.athlete_id = caller and ca.status = 'active';
end;
$$;

revoke all on function private.visible_profile_ids() from public, anon;

grant execute on function private.visible_profile_ids() to authenticated, service_role;

comment on function private.visible_profile_ids() is
    'The user ids whose profile row (public.users) the caller may read: the caller, the '
    'athletes who granted active access to the caller while the caller is an active coach, the '
    'coaches the caller granted active access to, or every user for an admin. A pending offer '
    'opens no profile (public.pending_coach_offers tells the coach who offers). '
    'Security definer: reads coach_athletes and users without their RLS.';

create function private.coached_athlete_ids()
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

comment on function private.coached_athlete_ids() is
    'The athletes who granted the caller active coach access, while the caller is an active '
    'coach (the caller may plan their workouts). Security definer: reads coach_athletes '
    'without its RLS.';

revoke all on function private.coached_athlete_ids() from public, anon;

grant execute on function private.coached_athlete_ids() to authenticated, service_role;

-- Generic trigger function: keeps updated_at current. Not a policy helper.
create function private.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

comment on function private.set_updated_at() is
    'Trigger function: sets updated_at to now() on every update.';

revoke all on function private.set_updated_at() from public, anon, authenticated;

create function private.caller_id()
returns uuid
language sql
stable
parallel safe
as $$
    select auth.uid()
$$;

-- Only the helpers (security definer, run as the owner) call it.
revoke all on function private.caller_id() from public, anon, authenticated;

comment on function private.caller_id() is
    'The caller''s user id: auth.uid() (Supabase Auth''s own definition, inlined by the '
    'planner). The policy helpers read the caller through it.';
