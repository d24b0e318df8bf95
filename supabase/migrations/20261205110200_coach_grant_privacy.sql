-- Coach grants reveal nothing before the coach accepts (issue 14, finding 12).
--
-- 1. Offering a grant no longer tells whether a uuid is a coach: the insert policy checked the
--    grantee's role, so the offer succeeded for a coach and failed with an RLS error for anyone
--    else. An athlete may now offer a grant to any user; the outcome is the same (a pending
--    row) whatever the grantee's role. The role is checked where it matters: only an active
--    coach may accept (guard trigger), and only an active coach reads anything through a grant
--    (private.readable_user_ids and the other helpers already require the role).
-- 2. A pending coach no longer reads the athlete's profile row (which carries preferences:
--    FTP, heart rates, time zone): only an active grant opens the profile. What a coach needs
--    to decide on an offer (who offers: name, email, avatar, when) comes from
--    public.pending_coach_offers(), which returns those columns and no preferences.

drop policy coach_athletes_insert on public.coach_athletes;
create policy coach_athletes_insert on public.coach_athletes
for insert to authenticated
with check (athlete_id = (select auth.uid()) and status = 'pending');
comment on policy coach_athletes_insert on public.coach_athletes is
    'An athlete offers access to any user; the grant starts pending. The grantee''s role is not '
    'checked here (that would tell the athlete whether a uuid is a coach): only an active coach '
    'can accept (coach_athletes_guard_change) or read anything through a grant.';

create or replace function private.guard_coach_grant_change()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    caller uuid := auth.uid();
begin
    if tg_op = 'UPDATE' and new.status is distinct from old.status then
        if new.status = 'active' then
            new.activated_at := now();
        elsif new.status = 'revoked' then
            new.revoked_at := now();
        end if;
    end if;
    if current_user not in ('authenticated', 'anon') or tg_op <> 'UPDATE' then
        return new;
    end if;
    if new.status = old.status then
        return new;
    end if;
    if new.status = 'revoked' then
        return new;  -- either side may end a grant
    end if;
    if new.status = 'active' and caller = old.coach_id and old.status = 'pending'
        and private.has_role(caller, 'coach') then
        return new;  -- an active coach accepts an offer
    end if;
    if new.status = 'pending' and caller = old.athlete_id and old.status = 'revoked' then
        return new;  -- the athlete offers again
    end if;
    raise exception 'a coach grant cannot go from % to % by this user', old.status, new.status
        using errcode = '42501';
end;
$$;
comment on function private.guard_coach_grant_change() is
    'Trigger on coach_athletes: stamps activated_at and revoked_at, and lets API users make only '
    'the allowed moves (an active coach: pending to active; athlete: revoked to pending; '
    'either: to revoked). Security invoker: it judges the caller.';

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
comment on function private.visible_profile_ids() is
    'The user ids whose profile row (public.users) the caller may read: the caller, the '
    'athletes who granted active access to the caller while the caller is an active coach, the '
    'coaches the caller granted active access to, or every user for an admin. A pending offer '
    'opens no profile (public.pending_coach_offers tells the coach who offers). '
    'Security definer: reads coach_athletes and users without their RLS.';

create function private.pending_coach_offers()
returns table (
    grant_id bigint,
    athlete_id uuid,
    email text,
    first_name text,
    last_name text,
    avatar_url text,
    offered_at timestamptz
)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
    caller uuid := private.caller_id();
begin
    if not private.has_role(caller, 'coach') then
        return;
    end if;
    return query
        select ca.id, u.id, u.email, u.first_name, u.last_name, u.avatar_url, ca.updated_at
        from public.coach_athletes as ca
        inner join public.users as u on ca.athlete_id = u.id
        where ca.coach_id = caller and ca.status = 'pending'
        order by ca.updated_at desc, ca.id;
end;
$$;
comment on function private.pending_coach_offers() is
    'The offers waiting for the calling active coach: grant id, the athlete''s id, email, '
    'names and avatar, and when it was offered; never their preferences. Security definer: a '
    'pending coach may not read the athlete''s profile row.';

create function public.pending_coach_offers()
returns table (
    grant_id bigint,
    athlete_id uuid,
    email text,
    first_name text,
    last_name text,
    avatar_url text,
    offered_at timestamptz
)
language sql
stable
set search_path = ''
as $$
    select * from private.pending_coach_offers();
$$;
comment on function public.pending_coach_offers() is
    'For a coach: the athletes offering access (pending grants) with their email, names and '
    'avatar, to decide whether to accept (update coach_athletes set status = ''active''). '
    'Nothing else of their profile until the coach accepts. Security invoker wrapper of '
    'private.pending_coach_offers.';

revoke all on function private.pending_coach_offers() from public, anon;
revoke all on function public.pending_coach_offers() from public, anon;
grant execute on function private.pending_coach_offers() to authenticated;
grant execute on function public.pending_coach_offers() to authenticated;
