-- Heart-rate, power and pace zones, and the time spent in each (issue 18, item 3).
--
-- Zones come from the athlete's settings in effect on the activity's local date
-- (private.athlete_zone_settings, migration 20261205210100) with these defaults:
-- - heart rate, 5 zones: the athlete's heart_rate_zones when set; else, with a threshold heart
--   rate (LTHR), Friel's zones: Z1 < 85 %, Z2 85-90 %, Z3 90-95 %, Z4 95-100 %, Z5 >= 100 %
--   of LTHR; else % of maximum heart rate (max_heart_rate, default 190 bpm as the training
--   load): Z1 < 60 %, Z2 60-70 %, Z3 70-80 %, Z4 80-90 %, Z5 >= 90 %;
-- - power, 7 zones: power_zones when set; else Coggan's levels of FTP (ftp for cycling but
--   e-bikes, run_ftp for running, none for other sports: private.sport_ftp's rule, as the
--   training load): Z1 < 55 %,
--   Z2 55-75 %, Z3 75-90 %, Z4 90-105 %, Z5 105-120 %, Z6 120-150 %, Z7 >= 150 %; no FTP, no
--   power zones;
-- - pace, foot sports only, 5 zones: pace_zones when set; else from the threshold pace
--   (threshold_pace s/km; Friel's run pace zones, merged to 5): Z1 slower than 129 %, Z2
--   114-129 %, Z3 106-114 %, Z4 100-106 % of the threshold pace, Z5 faster; no threshold pace,
--   no pace zones.
-- A zone includes its lower bound: width_bucket(value, bounds) + 1, bounds ascending in the
-- stream's unit (bpm, W, m/s: pace bounds are turned into speeds).
--
-- Time in zone: each sample counts the time until the next one (t[i + 1] - t[i]) in the zone
-- of its value; a step longer than 60 s is a pause and counts nowhere (the summaries'
-- moving-time rule). A missing value counts nowhere. Pace uses velocity_smooth, else the
-- distance step over the time step, and only while moving (>= 0.5 m/s, the summaries' moving
-- threshold). Computed on read (settings change: the zones follow), under the caller's RLS.

create function private.scale_bounds(p_bounds real[], p_factor real)
returns real[]
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case when p_factor > 0 then array(
        select b.v * p_factor from unnest(p_bounds) with ordinality as b (v, i) order by b.i
    ) end;
$$;
comment on function private.scale_bounds(real[], real) is
    'Every element of p_bounds times p_factor (zone boundaries from percentages); null when '
    'p_factor is null or not positive.';
revoke all on function private.scale_bounds(real[], real) from public, anon;
grant execute on function private.scale_bounds(real[], real) to authenticated, service_role;

create function private.zone_bounds_for(
    p_user_id uuid, p_on date, p_kind text, p_type public.activity_type
)
returns real[]
language sql
stable
set search_path = ''
as $$
    select case p_kind
        when 'heart_rate' then coalesce(
            z.heart_rate_zones,
            case
                when z.threshold_heart_rate > 0 then private.scale_bounds(
                    array[0.85, 0.90, 0.95, 1.00]::real[], z.threshold_heart_rate
                )
            end,
            private.scale_bounds(
                array[0.60, 0.70, 0.80, 0.90]::real[], coalesce(z.max_heart_rate, 190)
            )
        )
        when 'power' then coalesce(
            z.power_zones,
            private.scale_bounds(
                array[0.55, 0.75, 0.90, 1.05, 1.20, 1.50]::real[],
                case
                    when p_type in (
                        'run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run'
                    ) then z.run_ftp
                    when p_type in (
                        'ride', 'mountain_bike_ride', 'gravel_ride', 'virtual_ride',
                        'indoor_ride', 'handcycle', 'velomobile'
                    ) then z.ftp
                end
            )
        )
        when 'pace' then case
            -- foot sports (private.is_foot_activity's list; that helper is service role only)
            when p_type in (
                'run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run', 'walk', 'hike'
            ) and p.bounds is not null then array(
                select 1000 / b.pace from unnest(p.bounds) as b (pace) order by 1000 / b.pace
            )
        end
    end
    from private.athlete_zone_settings(p_user_id, p_on) as z
    cross join lateral (
        select coalesce(
            z.pace_zones,
            private.scale_bounds(array[1.29, 1.14, 1.06, 1.00]::real[], z.threshold_pace)
        ) as bounds
    ) as p;
$$;
comment on function private.zone_bounds_for(uuid, date, text, public.activity_type) is
    'The zone boundaries (ascending, in the stream''s unit: bpm, W, m/s) of kind heart_rate, '
    'power or pace for an athlete''s activity of sport p_type on day p_on: the athlete''s '
    'overrides, else the documented defaults (migration 20261205210400_zones.sql); null when '
    'the kind has no zones (no FTP, no threshold pace, pace outside foot sports).';
revoke all on function private.zone_bounds_for(uuid, date, text, public.activity_type)
from public, anon;
grant execute on function private.zone_bounds_for(uuid, date, text, public.activity_type)
to authenticated, service_role;

create function public.activity_time_in_zones(p_activity_id bigint)
returns table (
    kind text,
    zone integer,
    zone_count integer,
    min_value real,
    max_value real,
    seconds real
)
language sql
stable
set search_path = ''
as $$
    with stream as (
        select s.*, a.activity_type, a.start_date_local::date as on_date
        from public.activity_streams as s
        inner join public.activities as a on s.activity_id = a.id
        where s.activity_id = p_activity_id and a.deleted_at is null
    ),

    zones as materialized (
        select
            k.kind,
            private.zone_bounds_for(s.user_id, s.on_date, k.kind, s.activity_type) as bounds
        from stream as s
        cross join unnest(array['heart_rate', 'power', 'pace']) as k (kind)
    ),

    samples as (
        select
            u.hr,
            u.p,
            coalesce(
                u.v,
                (lead(u.d) over w - u.d) / nullif(lead(u.t) over w - u.t, 0)
            ) as v,
            lead(u.t) over w - u.t as dt
        from stream as s
        cross join unnest(
            s.time_s, s.heart_rate, s.power_w, s.speed_mps, s.distance_m
        ) with ordinality as u (t, hr, p, v, d, i)
        window w as (order by u.i)
    ),

    timed as (
        select x.kind, x.value, m.dt
        from samples as m
        cross join lateral (
            values ('heart_rate', m.hr::real), ('power', m.p::real), ('pace', m.v)
        ) as x (kind, value)
        where m.dt > 0 and m.dt <= 60 and x.value is not null
            and (x.kind <> 'pace' or x.value >= 0.5)
    ),

    spent as (
        select t.kind, width_bucket(t.value, z.bounds) + 1 as zone, sum(t.dt) as seconds
        from timed as t
        inner join zones as z on t.kind = z.kind
        where z.bounds is not null
        group by t.kind, width_bucket(t.value, z.bounds) + 1
    )

    select
        z.kind,
        g.zone,
        cardinality(z.bounds) + 1,
        z.bounds[g.zone - 1],
        z.bounds[g.zone],
        coalesce(sp.seconds, 0)::real
    from zones as z
    cross join lateral generate_series(1, cardinality(z.bounds) + 1) as g (zone)
    left join spent as sp on z.kind = sp.kind and g.zone = sp.zone
    where z.bounds is not null
    order by z.kind, g.zone;
$$;
comment on function public.activity_time_in_zones(bigint) is
    'Time (s) an activity spent in each heart-rate, power and pace zone (kind), zone 1 the '
    'lowest (slowest for pace) of zone_count, between min_value and max_value (bpm, W, m/s; '
    'null: open end), from its streams and the athlete''s zones on the activity''s date (method '
    'and defaults in migration 20261205210400_zones.sql). Security invoker: only an activity '
    'whose streams the caller may read gives rows.';
revoke all on function public.activity_time_in_zones(bigint) from public, anon;
grant execute on function public.activity_time_in_zones(bigint) to authenticated, service_role;

create function public.weekly_time_in_zones(p_user_id uuid, p_from date, p_to date)
returns table (
    week_start date,
    kind text,
    zone integer,
    zone_count integer,
    activities integer,
    seconds real
)
language plpgsql
stable
set search_path = ''
as $$
begin
    if p_to - p_from > 366 then
        raise exception 'at most 366 days of time in zones at a time' using errcode = '22023';
    end if;
    return query
        select
            date_trunc('week', a.start_date_local)::date,
            z.kind,
            z.zone,
            max(z.zone_count)::integer,
            count(distinct a.id)::integer,
            sum(z.seconds)::real
        from public.activities as a
        inner join public.activity_streams as s on a.id = s.activity_id
        cross join lateral public.activity_time_in_zones(a.id) as z
        where
            a.user_id = p_user_id
            and a.deleted_at is null
            and a.start_date_local >= p_from
            and a.start_date_local < p_to + 1
        group by 1, z.kind, z.zone
        order by 1, z.kind, z.zone;
end;
$$;
comment on function public.weekly_time_in_zones(uuid, date, date) is
    'Time (s) an athlete spent in each zone (kind heart_rate, power, pace; zone 1 the lowest) '
    'per local ISO week (week_start: Monday) from p_from to p_to (at most 366 days), summed '
    'over the activities with streams the caller may read (activities: how many). Each '
    'activity''s zones are those in effect on its date; zone counts can differ when overrides '
    'changed (zone_count: the largest). Security invoker: a coach''s sums leave out private '
    'and Strava-sourced activities.';
revoke all on function public.weekly_time_in_zones(uuid, date, date) from public, anon;
grant execute on function public.weekly_time_in_zones(uuid, date, date)
to authenticated, service_role;
