-- public.rebuild_daily_fitness() for everyone failed for the service role, the only role allowed
-- to call it: the function runs as its caller and emptied public.daily_fitness with a direct
-- delete, which no API role may do (the per-athlete branch already went through the security
-- definer private.daily_fitness_refresh). The whole-table rebuild now goes through a private
-- security definer helper, the same two steps as before.

create function private.daily_fitness_rebuild_all()
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    delete from public.daily_fitness;
    perform private.daily_fitness_refresh(
        array(select distinct dl.user_id from public.daily_loads as dl order by 1),
        null,
        false
    );
end;
$$;

comment on function private.daily_fitness_rebuild_all() is
'Empties public.daily_fitness and rebuilds every athlete''s series from the daily loads '
'(the bulk path of public.rebuild_daily_fitness(null)). Security definer: the service role '
'that calls the rebuild may not write daily_fitness itself.';

revoke all on function private.daily_fitness_rebuild_all() from public;
grant execute on function private.daily_fitness_rebuild_all() to service_role;

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
