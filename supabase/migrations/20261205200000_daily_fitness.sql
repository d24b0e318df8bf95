-- Fitness, fatigue and form kept per athlete and day (issue 16): a one-year CTL/ATL/TSB series
-- reads the year's rows, whatever the athlete's history.
--
-- Before: public.training_load_series read every daily load of the 40 x ctl_days days before
-- p_from (about 4.6 years at 42 days) to compute the state on p_from - 1, so its cost grew with
-- the athlete's history (11.8-14.4 ms for the heaviest athlete at 3M activities, 2.1 ms for the
-- median). Now public.daily_fitness stores, for every day with a daily load, the day's load and
-- the CTL and ATL after it; a rest day's values are the last stored day's decayed by
-- e^(-gap/days), so the series reads the last row before p_from and the rows of the window.
--
-- The recurrence is the one of migration 20261125130100_training_load.sql,
--     X_d = X_{d-1} + (L_d - X_{d-1}) x (1 - e^(-1/days)),
-- stepped over rest days in one go: between two load days k-1 and k, g days apart,
--     X_k = X_{k-1} x e^(-g/days) + (1 - e^(-1/days)) x L_k,
-- starting from 0 before the athlete's first load (exact, not truncated at 40 x days).
--
-- Two scopes per athlete, as personal_record_entries: every counted activity (the athlete's and
-- admins' view) and the shareable ones only (not private, not Strava-sourced: the coach's view),
-- read from public.daily_loads' shareable and non-shareable rows.
--
-- Maintenance: a statement-level trigger on daily_loads (itself kept by the activity triggers,
-- the preference recompute and public.rebuild_rollups) recomputes each touched athlete forward
-- from the earliest day whose load changed: a new activity of today rewrites today's row, a late
-- or edited activity of day d the rows from d on (bounded by the athlete's days since d). A
-- change of the time constants (preferences ctl_days, atl_days) recomputes the athlete.
-- public.rebuild_daily_fitness rebuilds from the daily loads (after a bulk load).

create table public.daily_fitness (
    user_id uuid not null references public.users (id) on delete cascade,
    shareable_only boolean not null,
    day date not null,
    load double precision not null,
    ctl double precision not null,
    atl double precision not null,
    primary key (user_id, shareable_only, day),
    constraint daily_fitness_load_finite check (load > '-Infinity' and load < 'Infinity'),
    constraint daily_fitness_ctl_finite check (ctl > '-Infinity' and ctl < 'Infinity'),
    constraint daily_fitness_atl_finite check (atl > '-Infinity' and atl < 'Infinity')
);

comment on table public.daily_fitness is
    'Per athlete, scope and day with a training load: the day''s load and the fitness (ctl) and '
    'fatigue (atl) after it (migration 20261205200000_daily_fitness.sql); rest days are the last '
    'row''s values decayed. Input of public.training_load_series. Maintained by a trigger on '
    'daily_loads; rebuilt by public.rebuild_daily_fitness. RLS: the athlete and admins read the '
    'all-activities scope, a coach with an active grant the shareable scope.';
comment on column public.daily_fitness.shareable_only is
    'Scope: false = over every counted activity (the athlete''s view), true = over shareable '
    'activities only (not private, not Strava-sourced: the coach''s view).';
comment on column public.daily_fitness.day is 'Local calendar day (of the daily loads).';
comment on column public.daily_fitness.load is
    'The day''s summed training load in this scope (training stress score units).';
comment on column public.daily_fitness.ctl is
    'Fitness after the day: chronic training load, time constant preferences.ctl_days (42).';
comment on column public.daily_fitness.atl is
    'Fatigue after the day: acute training load, time constant preferences.atl_days (7).';

alter table public.daily_fitness enable row level security;
revoke all on table public.daily_fitness from anon, authenticated, service_role;
grant select on table public.daily_fitness to authenticated, service_role;

-- The shape of the owner-first rollup policies (20261205170000): the caller's own rows pass the
-- first arm, so the athlete's filtered read never runs the helper.
create policy daily_fitness_select on public.daily_fitness
for select to authenticated
using (
    (user_id = (select auth.uid()) and not shareable_only)
    or (
        array[user_id] && array_remove(
            array(select private.readable_user_ids()), (select auth.uid())
        )
        and shareable_only = not (select private.is_admin())
    )
);
comment on policy daily_fitness_select on public.daily_fitness is
    'An athlete reads their own fitness over every activity; a coach with an active grant reads '
    'the athlete''s fitness over shareable activities only; an admin reads every athlete''s '
    'full fitness.';

-- Time constants ------------------------------------------------------------------------------

create function private.fitness_days(p_preferences jsonb, p_key text)
returns double precision
language sql
immutable
parallel safe
as $$
    select case
        when private.load_preference(p_preferences, p_key) >= 1
            then private.load_preference(p_preferences, p_key)
        when p_key = 'atl_days' then 7
        else 42
    end;
$$;
comment on function private.fitness_days(jsonb, text) is
    'A fitness time constant in days from the preferences: ctl_days (default 42) or atl_days '
    '(default 7); values below 1 day give the default.';
revoke all on function private.fitness_days(jsonb, text) from public, anon;
grant execute on function private.fitness_days(jsonb, text) to authenticated, service_role;

-- Forward recompute ---------------------------------------------------------------------------

create function private.daily_fitness_refresh(
    p_user_ids uuid[], p_from date[], p_replace boolean default true
)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_user uuid;
    v_from date;
    v_scope boolean;
    v_preferences jsonb;
    v_ctl_days double precision;
    v_atl_days double precision;
    v_last date;
    v_ctl double precision;
    v_atl double precision;
    v_days date[];
    v_loads double precision[];
    v_ctls double precision[];
    v_atls double precision[];
    v_gap double precision;
begin
    for i in 1 .. coalesce(cardinality(p_user_ids), 0) loop
        v_user := p_user_ids[i];
        v_from := coalesce(p_from[i], '-infinity'::date);
        select u.preferences into v_preferences from public.users as u where u.id = v_user;
        if not found then
            continue;
        end if;
        v_ctl_days := private.fitness_days(v_preferences, 'ctl_days');
        v_atl_days := private.fitness_days(v_preferences, 'atl_days');
        foreach v_scope in array array[false, true] loop
            v_last := null;
            v_ctl := 0::double precision;
            v_atl := 0::double precision;
            if p_replace then
                -- The state before v_from: the last stored day (none: 0 before the first load).
                if v_from > '-infinity'::date then
                    select f.day, f.ctl, f.atl into v_last, v_ctl, v_atl
                    from public.daily_fitness as f
                    where f.user_id = v_user and f.shareable_only = v_scope and f.day < v_from
                    order by f.day desc
                    limit 1;
                    if not found then
                        v_last := null;
                        v_ctl := 0::double precision;
                        v_atl := 0::double precision;
                    end if;
                end if;
                delete from public.daily_fitness as f
                where f.user_id = v_user and f.shareable_only = v_scope and f.day >= v_from;
            end if;
            select
                array_agg(t.day order by t.day),
                array_agg(t.load order by t.day)
            into v_days, v_loads
            from (
                select dl.day, sum(dl.load)::double precision as load
                from public.daily_loads as dl
                where
                    dl.user_id = v_user
                    and dl.day >= v_from
                    and (dl.shareable or not v_scope)
                group by dl.day
            ) as t;
            if v_days is null then
                continue;
            end if;
            v_ctls := '{}'::double precision[];
            v_atls := '{}'::double precision[];
            for j in 1 .. cardinality(v_days) loop
                v_gap := coalesce(v_days[j] - v_last, 0)::double precision;
                -- exp() raises on underflow: a decay past e^-700 is 0 at double precision.
                v_ctl := v_ctl * exp(greatest(-v_gap / v_ctl_days, -700))
                    + (1 - exp(-1 / v_ctl_days)) * v_loads[j];
                v_atl := v_atl * exp(greatest(-v_gap / v_atl_days, -700))
                    + (1 - exp(-1 / v_atl_days)) * v_loads[j];
                v_ctls[j] := v_ctl;
                v_atls[j] := v_atl;
                v_last := v_days[j];
            end loop;
            insert into public.daily_fitness (user_id, shareable_only, day, load, ctl, atl)
            select v_user, v_scope, t.day, t.load, t.ctl, t.atl
            from unnest(v_days, v_loads, v_ctls, v_atls) as t (day, load, ctl, atl);
        end loop;
    end loop;
end;
$$;
comment on function private.daily_fitness_refresh(uuid[], date[], boolean) is
    'Recomputes public.daily_fitness of each athlete (p_user_ids) from a day on (p_from, same '
    'position; null = the whole history), both scopes, from the state stored before that day '
    'and the daily loads from that day on. p_replace false: the caller guarantees the athletes '
    'have no rows (a bulk rebuild), nothing is read or deleted first. Security definer: called '
    'by the daily_loads and users triggers on behalf of any writer; it writes daily_fitness, '
    'which no API role may.';
revoke all on function private.daily_fitness_refresh(uuid[], date[], boolean)
from public, anon, authenticated;
grant execute on function private.daily_fitness_refresh(uuid[], date[], boolean)
to service_role;

create function private.daily_fitness_follow_loads()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_users uuid[];
    v_from date[];
begin
    if tg_op = 'INSERT' then
        select array_agg(t.user_id order by t.user_id), array_agg(t.day order by t.user_id)
        into v_users, v_from
        from (select n.user_id, min(n.day) as day from new_rows as n group by n.user_id) as t;
    elsif tg_op = 'DELETE' then
        select array_agg(t.user_id order by t.user_id), array_agg(t.day order by t.user_id)
        into v_users, v_from
        from (select o.user_id, min(o.day) as day from old_rows as o group by o.user_id) as t;
    else
        -- Only days whose load changed (a count that moves without the load, or a re-synced
        -- page, leaves fitness as it is).
        select array_agg(t.user_id order by t.user_id), array_agg(t.day order by t.user_id)
        into v_users, v_from
        from (
            select c.user_id, min(c.day) as day
            from (
                select n.user_id, n.day, n.shareable, n.load from new_rows as n
                except
                select o.user_id, o.day, o.shareable, o.load from old_rows as o
            ) as c
            group by c.user_id
        ) as t;
    end if;
    if v_users is not null then
        perform private.daily_fitness_refresh(v_users, v_from);
    end if;
    return null;
end;
$$;
comment on function private.daily_fitness_follow_loads() is
    'Statement-level AFTER trigger on daily_loads: recomputes the fitness of each athlete whose '
    'daily loads the statement changed, from the earliest changed day on. Security definer: '
    'fired by any writer of activities (through the rollups), it writes daily_fitness.';
revoke all on function private.daily_fitness_follow_loads() from public, anon, authenticated;

create trigger daily_loads_fitness_insert
after insert on public.daily_loads
referencing new table as new_rows
for each statement execute function private.daily_fitness_follow_loads();

create trigger daily_loads_fitness_update
after update on public.daily_loads
referencing old table as old_rows new table as new_rows
for each statement execute function private.daily_fitness_follow_loads();

create trigger daily_loads_fitness_delete
after delete on public.daily_loads
referencing old table as old_rows
for each statement execute function private.daily_fitness_follow_loads();

create function private.daily_fitness_follow_preferences()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if private.fitness_days(new.preferences, 'ctl_days')
        is distinct from private.fitness_days(old.preferences, 'ctl_days')
        or private.fitness_days(new.preferences, 'atl_days')
        is distinct from private.fitness_days(old.preferences, 'atl_days')
    then
        perform private.daily_fitness_refresh(array[new.id], array[null::date]);
    end if;
    return null;
end;
$$;
comment on function private.daily_fitness_follow_preferences() is
    'Row-level AFTER UPDATE trigger on users: a change of the fitness time constants '
    '(preferences ctl_days, atl_days) recomputes the athlete''s daily_fitness. Security '
    'definer: fired by the athlete''s own profile update, it writes daily_fitness.';
revoke all on function private.daily_fitness_follow_preferences()
from public, anon, authenticated;

create trigger users_daily_fitness_preferences
after update of preferences on public.users
for each row
when (old.preferences is distinct from new.preferences)
execute function private.daily_fitness_follow_preferences();

create function public.rebuild_daily_fitness(p_user_id uuid default null)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    if p_user_id is null then
        delete from public.daily_fitness;
        perform private.daily_fitness_refresh(
            array(select distinct dl.user_id from public.daily_loads as dl order by 1),
            null,
            false
        );
    else
        perform private.daily_fitness_refresh(array[p_user_id], array[null::date]);
    end if;
end;
$$;
comment on function public.rebuild_daily_fitness(uuid) is
    'Rebuilds public.daily_fitness from the daily loads: one athlete, or everyone when '
    'p_user_id is null (after a bulk load with triggers disabled and public.rebuild_rollups). '
    'Service role only.';
revoke all on function public.rebuild_daily_fitness(uuid) from public, anon, authenticated;
grant execute on function public.rebuild_daily_fitness(uuid) to service_role;

-- The series, from the recomputed history (the previous implementation): the reference the
-- tests and the benchmark compare the stored fitness with.

alter function public.training_load_series(uuid, date, date)
rename to training_load_series_recomputed;
alter function public.training_load_series_recomputed(uuid, date, date) set schema private;
revoke all on function private.training_load_series_recomputed(uuid, date, date)
from public, anon, authenticated;
grant execute on function private.training_load_series_recomputed(uuid, date, date)
to service_role;
comment on function private.training_load_series_recomputed(uuid, date, date) is
    'The CTL/ATL/TSB series recomputed from the daily loads of the 40 x days before p_from '
    '(the implementation before migration 20261205200000): the reference public.'
    'training_load_series (read from daily_fitness) is tested and benchmarked against. Runs as '
    'the caller (daily_loads RLS).';

create function public.training_load_series(p_user_id uuid, p_from date, p_to date)
returns table (
    day date,
    load double precision,
    ctl double precision,
    atl double precision,
    tsb double precision
)
language plpgsql
stable
set search_path = ''
as $$
declare
    v_preferences jsonb;
    v_ctl_days double precision;
    v_atl_days double precision;
    v_shareable_only boolean;
    v_last date;
    v_ctl double precision;
    v_atl double precision;
    v_days date[];
    v_loads double precision[];
    v_ctls double precision[];
    v_atls double precision[];
    v_out_load double precision[];
    v_out_ctl double precision[];
    v_out_atl double precision[];
    v_next integer := 1;
    v_day date;
begin
    if p_user_id is null or p_from is null or p_to is null or p_to < p_from then
        raise exception 'training_load_series needs a user id and p_from <= p_to'
            using errcode = '22023';
    end if;
    if p_to - p_from >= 7305 then
        raise exception 'training_load_series covers at most 20 years (asked % days)',
            p_to - p_from + 1
            using errcode = '22023';
    end if;
    -- Under RLS: a user whose profile the caller cannot read has no series for the caller.
    select u.preferences into v_preferences from public.users as u where u.id = p_user_id;
    if not found then
        return;
    end if;
    v_ctl_days := private.fitness_days(v_preferences, 'ctl_days');
    v_atl_days := private.fitness_days(v_preferences, 'atl_days');
    -- API callers other than the athlete and admins read the shareable scope (RLS gives them
    -- no other); workers (service_role, the owner) the full one.
    v_shareable_only := current_user = 'authenticated'
        and p_user_id is distinct from (select auth.uid())
        and not (select private.is_admin());

    select f.day, f.ctl, f.atl into v_last, v_ctl, v_atl
    from public.daily_fitness as f
    where f.user_id = p_user_id and f.shareable_only = v_shareable_only and f.day < p_from
    order by f.day desc
    limit 1;
    if not found then
        v_last := null;
        v_ctl := 0::double precision;
        v_atl := 0::double precision;
    end if;
    select
        array_agg(f.day order by f.day),
        array_agg(f.load order by f.day),
        array_agg(f.ctl order by f.day),
        array_agg(f.atl order by f.day)
    into v_days, v_loads, v_ctls, v_atls
    from public.daily_fitness as f
    where
        f.user_id = p_user_id
        and f.shareable_only = v_shareable_only
        and f.day between p_from and p_to;

    -- Each day of the window: its stored row, else the last state decayed over the rest days.
    for n in 0 .. p_to - p_from loop
        v_day := p_from + n;
        if v_next <= coalesce(cardinality(v_days), 0) and v_days[v_next] = v_day then
            v_out_load[n + 1] := v_loads[v_next];
            v_ctl := v_ctls[v_next];
            v_atl := v_atls[v_next];
            v_last := v_day;
            v_next := v_next + 1;
            v_out_ctl[n + 1] := v_ctl;
            v_out_atl[n + 1] := v_atl;
        else
            v_out_load[n + 1] := 0::double precision;
            v_out_ctl[n + 1] := case
                when v_last is null then 0::double precision
                else v_ctl * exp(greatest(-(v_day - v_last) / v_ctl_days, -700))
            end;
            v_out_atl[n + 1] := case
                when v_last is null then 0::double precision
                else v_atl * exp(greatest(-(v_day - v_last) / v_atl_days, -700))
            end;
        end if;
    end loop;

    return query
    select
        p_from + (s.n - 1)::integer,
        s.load,
        s.ctl,
        s.atl,
        s.ctl - s.atl
    from unnest(v_out_load, v_out_ctl, v_out_atl) with ordinality as s (load, ctl, atl, n)
    order by s.n;
end;
$$;
comment on function public.training_load_series(uuid, date, date) is
    'Daily training load, fitness (ctl), fatigue (atl) and form (tsb = ctl - atl) of an athlete '
    'from p_from to p_to (local days, at most 20 years), with the athlete''s time constants '
    '(preferences.ctl_days, default 42; atl_days, default 7): X_d = X_{d-1} + (load_d - '
    'X_{d-1}) x (1 - e^(-1/days)), starting from 0 before the first load; all history before '
    'p_from counts. Reads public.daily_fitness (the last day before p_from and the window''s '
    'days), so its cost is the window''s. Loads in training stress score units, primary live '
    'activities only. Runs as the caller: a coach''s series leaves out the private and '
    'Strava-sourced activities; a user the caller cannot read gives no rows.';

revoke all on function public.training_load_series(uuid, date, date) from public, anon;
grant execute on function public.training_load_series(uuid, date, date)
to authenticated, service_role;

-- The fitness of the history stored before this migration.
select public.rebuild_daily_fitness();
