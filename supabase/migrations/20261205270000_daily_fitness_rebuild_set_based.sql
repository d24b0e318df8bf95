-- The daily-fitness rebuild of everyone in one statement (issue 16, the 10M generator).
--
-- public.rebuild_daily_fitness() walked the athletes one by one (private.daily_fitness_refresh:
-- a query, a PL/pgSQL loop over the days and an insert per athlete and scope). The bulk
-- rebuild is now one insert ... select: the days' loads of both scopes, and the recurrence
-- as a running aggregate (a window over each athlete's and scope's days), whose step evaluates
-- the very expressions of private.daily_fitness_refresh in the same order, so the rows are
-- the same to the last bit. One athlete (p_user_id) still goes through the refresh.

create or replace function private.daily_fitness_step(
    p_state double precision [],
    p_day date,
    p_load double precision,
    p_ctl_days double precision,
    p_atl_days double precision
)
returns double precision []
language plpgsql
immutable
set search_path = ''
as $$
declare
    -- The state: the last day with a load (days since 2000-01-01), ctl and atl after it.
    v_day double precision := (p_day - '2000-01-01'::date)::double precision;
    v_gap double precision := coalesce(v_day - p_state[1], 0::double precision);
    v_ctl double precision := coalesce(p_state[2], 0::double precision);
    v_atl double precision := coalesce(p_state[3], 0::double precision);
begin
    -- exp() raises on underflow: a decay past e^-700 is 0 at double precision.
    return array[
        v_day,
        v_ctl * exp(greatest(-v_gap / p_ctl_days, -700))
        + (1 - exp(-1 / p_ctl_days)) * p_load,
        v_atl * exp(greatest(-v_gap / p_atl_days, -700))
        + (1 - exp(-1 / p_atl_days)) * p_load
    ];
end;
$$;

comment on function private.daily_fitness_step(
    double precision [], date, double precision, double precision, double precision
) is
'One day of the fitness recurrence: from the state (last day, ctl, atl; null before the first '
'day) and the day''s load, the state after it, with the expressions of '
'private.daily_fitness_refresh. Transition function of private.daily_fitness_running.';

create aggregate private.daily_fitness_running(
    date, double precision, double precision, double precision
) (
    sfunc = private.daily_fitness_step,
    stype = double precision []
);

comment on aggregate private.daily_fitness_running(
    date, double precision, double precision, double precision
) is
'The fitness state (last day, ctl, atl) after the days aggregated so far, in day order (day, '
'load, ctl_days, atl_days): used as a running window aggregate by '
'private.daily_fitness_rebuild_all.';

create or replace function private.daily_fitness_rebuild_all()
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    delete from public.daily_fitness;
    insert into public.daily_fitness (user_id, shareable_only, day, load, ctl, atl)
    select f.user_id, f.shareable_only, f.day, f.load, f.state[2], f.state[3]
    from (
        select
            l.user_id,
            l.shareable_only,
            l.day,
            l.load,
            private.daily_fitness_running(l.day, l.load, u.ctl_days, u.atl_days)
                over (partition by l.user_id, l.shareable_only order by l.day)
                as state
        from (
            select dl.user_id, s.shareable_only, dl.day, sum(dl.load)::double precision as load
            from public.daily_loads as dl
            cross join (values (false), (true)) as s (shareable_only)
            where dl.shareable or not s.shareable_only
            group by dl.user_id, s.shareable_only, dl.day
        ) as l
        inner join (
            select
                u.id,
                private.fitness_days(u.preferences, 'ctl_days') as ctl_days,
                private.fitness_days(u.preferences, 'atl_days') as atl_days
            from public.users as u
        ) as u on l.user_id = u.id
    ) as f
    order by f.user_id, f.shareable_only, f.day;
end;
$$;

comment on function private.daily_fitness_rebuild_all() is
'Rebuilds public.daily_fitness of every athlete from the daily loads in one statement: the '
'recurrence of private.daily_fitness_refresh as a running window aggregate '
'(private.daily_fitness_running), same rows. Security definer: called by '
'public.rebuild_daily_fitness (service role), it writes daily_fitness, which no API role may.';

create or replace function public.rebuild_daily_fitness(p_user_id uuid default null)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if p_user_id is null then
        perform private.daily_fitness_rebuild_all();
    else
        perform private.daily_fitness_refresh(array[p_user_id], array[null::date]);
    end if;
end;
$$;

revoke all on function private.daily_fitness_step(
    double precision [], date, double precision, double precision, double precision
) from public;
revoke all on function private.daily_fitness_running(
    date, double precision, double precision, double precision
) from public;
revoke all on function private.daily_fitness_rebuild_all() from public;
grant execute on function private.daily_fitness_rebuild_all() to service_role;
