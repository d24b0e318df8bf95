-- coach_athletes: an athlete's grant of access to a coach.
--
-- The athlete offers (pending), the coach accepts (active) or declines (revoked), and either
-- side may revoke; the athlete may offer again after a revocation. Only an active grant opens
-- the athlete's data to the coach, and even then not private or Strava-sourced activities.

create table public.coach_athletes (
    id bigint generated always as identity primary key,
    athlete_id uuid not null references public.users (id) on delete cascade,
    coach_id uuid not null references public.users (id) on delete cascade,
    status public.coach_grant_status not null default 'pending',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    activated_at timestamptz,
    revoked_at timestamptz,
    constraint coach_athletes_athlete_coach_key unique (athlete_id, coach_id),
    constraint coach_athletes_not_self check (athlete_id <> coach_id)
);

create index coach_athletes_coach_id_status_idx on public.coach_athletes (coach_id, status);

comment on table public.coach_athletes is
    'An athlete''s grant of access to a coach (see type coach_grant_status). An active grant '
    'lets the coach read the athlete''s profile, non-private activities that are not sourced '
    'from Strava, and read, create and edit the athlete''s workouts.';

comment on column public.coach_athletes.athlete_id is 'The athlete who grants access.';

comment on column public.coach_athletes.coach_id is 'The coach who receives access.';

comment on column public.coach_athletes.activated_at is 'When the coach last accepted.';

comment on column public.coach_athletes.revoked_at is 'When the grant was last revoked.';

create trigger coach_athletes_set_updated_at
before update on public.coach_athletes
for each row execute function private.set_updated_at();

create function private.guard_coach_grant_change()
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

revoke all on function private.guard_coach_grant_change() from public, anon, authenticated;

comment on function private.guard_coach_grant_change() is
    'Trigger on coach_athletes: stamps activated_at and revoked_at, and lets API users make only '
    'the allowed moves (an active coach: pending to active; athlete: revoked to pending; '
    'either: to revoked). Security invoker: it judges the caller.';

create trigger coach_athletes_guard_change
before insert or update on public.coach_athletes
for each row execute function private.guard_coach_grant_change();

alter table public.coach_athletes enable row level security;

revoke all on table public.coach_athletes from anon, authenticated;

grant select on table public.coach_athletes to authenticated;

grant insert (athlete_id, coach_id) on table public.coach_athletes to authenticated;

grant update (status) on table public.coach_athletes to authenticated;

grant all on table public.coach_athletes to service_role;

create policy coach_athletes_select on public.coach_athletes
for select to authenticated
using (
    athlete_id = (select auth.uid())
    or coach_id = (select auth.uid())
    or (select private.is_admin())
);

comment on policy coach_athletes_select on public.coach_athletes is
    'Both sides of a grant read it; an admin reads all grants.';

create policy coach_athletes_insert on public.coach_athletes
for insert to authenticated
with check (athlete_id = (select auth.uid()) and status = 'pending');

comment on policy coach_athletes_insert on public.coach_athletes is
    'An athlete offers access to any user; the grant starts pending. The grantee''s role is not '
    'checked here (that would tell the athlete whether a uuid is a coach): only an active coach '
    'can accept (coach_athletes_guard_change) or read anything through a grant.';

create policy coach_athletes_update on public.coach_athletes
for update to authenticated
using (athlete_id = (select auth.uid()) or coach_id = (select auth.uid()))
with check (athlete_id = (select auth.uid()) or coach_id = (select auth.uid()));

comment on policy coach_athletes_update on public.coach_athletes is
    'Either side of a grant changes its status; the allowed moves are checked by the '
    'coach_athletes_guard_change trigger.';

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

revoke all on function private.pending_coach_offers() from public, anon;

grant execute on function private.pending_coach_offers() to authenticated;

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

revoke all on function public.pending_coach_offers() from public, anon;

grant execute on function public.pending_coach_offers() to authenticated;
