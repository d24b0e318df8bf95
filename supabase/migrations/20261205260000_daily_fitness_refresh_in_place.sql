-- Issue 16 (writes stay cheap as histories grow): the forward recompute of daily fitness
-- rewrote every stored day from the first changed day on by a delete and a re-insert. A page
-- older than the athlete's latest activities (a backfill, a late upload, the peer benchmark's
-- pages before its warm-up) re-inserted every later day of both scopes, each time adding index
-- entries for the same keys, which every later unique check had to visit. Same values, same
-- rows: only the days that lost their load are deleted, the others are upserted where a value
-- changed (an update of non-key columns: heap-only where the page has room).

create or replace function private.daily_fitness_refresh(
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
            if p_replace then
                -- Only the days that no longer have a load go; the others are updated in place
                -- below (an update of the values only, no new index entry: a page of a long
                -- history rewrote every later day, and its index grew with each rewrite).
                delete from public.daily_fitness as f
                where
                    f.user_id = v_user
                    and f.shareable_only = v_scope
                    and f.day >= v_from
                    and not exists (select from unnest(v_days) as d (day) where d.day = f.day);
            end if;
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
            if not p_replace then
                insert into public.daily_fitness (user_id, shareable_only, day, load, ctl, atl)
                select v_user, v_scope, t.day, t.load, t.ctl, t.atl
                from unnest(v_days, v_loads, v_ctls, v_atls) as t (day, load, ctl, atl);
                continue;
            end if;
            insert into public.daily_fitness as f (user_id, shareable_only, day, load, ctl, atl)
            select v_user, v_scope, t.day, t.load, t.ctl, t.atl
            from unnest(v_days, v_loads, v_ctls, v_atls) as t (day, load, ctl, atl)
            on conflict (user_id, shareable_only, day) do update set
                load = excluded.load,
                ctl = excluded.ctl,
                atl = excluded.atl
            -- A day whose values did not change is not written at all.
            where (f.load, f.ctl, f.atl) is distinct from (excluded.load, excluded.ctl, excluded.atl);
        end loop;
    end loop;
end;
$$;
comment on function private.daily_fitness_refresh(uuid[], date[], boolean) is
    'Recomputes public.daily_fitness of each athlete (p_user_ids) from a day on (p_from, same '
    'position; null = the whole history), both scopes, from the state stored before that day '
    'and the daily loads from that day on, in place: the days from p_from on that no longer have '
    'a load are deleted, the others upserted where a value changed (no delete and re-insert of '
    'every later day). p_replace false: the caller guarantees the athletes have no rows (a bulk '
    'rebuild), nothing is read or deleted first. Security definer: called by the daily_loads and '
    'users triggers on behalf of any writer; it writes daily_fitness, which no API role may.';
