-- public.training_load_series at the same cost for a busy and a quiet athlete (issue 16). It
-- collected the window's daily_fitness rows into arrays and walked the days in a plpgsql loop,
-- where a stored day (three array reads and writes) cost more than a rest day: at 10M
-- activities the heaviest athlete's year (a stored row every day) took 1.43 ms against 0.45 ms
-- for a median athlete (a few stored days), ratio 3.2. The days are now one statement: the
-- window's days left-joined to its stored rows, each rest day decayed from the last stored
-- row before it (a running count of stored days names that row) or from the state before the
-- window — the same expressions as the loop, so the same values, in one pass for everyone.
-- The measured gap was mostly elsewhere: the session's cached generic plan of the lookup of the
-- state before the window read the heaviest athlete's whole history before it (see below).

create or replace function public.training_load_series(p_user_id uuid, p_from date, p_to date)
returns table (day date, load double precision, ctl double precision, atl double precision,
    tsb double precision)
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

    -- The state before the window, planned for these values on every call (execute): a
    -- session's cached generic plan read it through a BitmapOr of the policy's two arms, i.e.
    -- the athlete's whole history before the window (102 buffers for the heaviest), where the
    -- custom plan takes one step backwards in the primary key.
    execute
        'select f.day, f.ctl, f.atl from public.daily_fitness as f'
        ' where f.user_id = $1 and f.shareable_only = $2 and f.day < $3'
        ' order by f.day desc limit 1'
        into v_last, v_ctl, v_atl
        using p_user_id, v_shareable_only, p_from;
    if v_last is null then
        v_last := null;
        v_ctl := 0::double precision;
        v_atl := 0::double precision;
    end if;

    return query
    with days as (
        select
            (p_from + g.n)::date as day,
            f.day as stored_day,
            f.load,
            f.ctl,
            f.atl,
            -- the stored rows up to this day: equal for a stored day and the rest days after it
            count(f.day) over (order by g.n) as run
        from generate_series(0, p_to - p_from) as g (n)
        left join (
            -- the window's stored rows only (the primary key's range)
            select w.day, w.load, w.ctl, w.atl
            from public.daily_fitness as w
            where
                w.user_id = p_user_id
                and w.shareable_only = v_shareable_only
                and w.day between p_from and p_to
        ) as f on f.day = p_from + g.n
    ),
    states as (
        select
            d.day,
            d.stored_day,
            d.load,
            d.ctl,
            d.atl,
            -- the last stored row on or before the day (none: the state before the window)
            coalesce(max(d.stored_day) over w, v_last) as last_day,
            coalesce(max(d.ctl) over w, v_ctl) as last_ctl,
            coalesce(max(d.atl) over w, v_atl) as last_atl
        from days as d
        window w as (partition by d.run)
    ),
    series as (
        select
            s.day,
            case when s.stored_day is not null then s.load else 0::double precision end as load,
            case
                when s.stored_day is not null then s.ctl
                when s.last_day is null then 0::double precision
                else s.last_ctl * exp(greatest(-(s.day - s.last_day) / v_ctl_days, -700))
            end as ctl,
            case
                when s.stored_day is not null then s.atl
                when s.last_day is null then 0::double precision
                else s.last_atl * exp(greatest(-(s.day - s.last_day) / v_atl_days, -700))
            end as atl
        from states as s
    )
    select s.day, s.load, s.ctl, s.atl, s.ctl - s.atl
    from series as s
    order by s.day;
end;
$$;
