-- Best efforts and curves from streams (issue 18, item 2).
--
-- Per activity, kept in public.activity_efforts by a trigger on activity_streams (every write,
-- replacement and deletion of streams recomputes that activity's efforts; efforts go with
-- their activity). Per season (calendar year of the local start) and all-time, as views that
-- take the best per-activity row the caller may read: a coach's bests therefore never come
-- from a private or Strava-sourced activity, and the work per read is bounded by the
-- athlete's per-activity rows (at most 30 per activity, indexed by athlete).
--
-- Distance efforts (fastest time over a distance; the pace curve), for every sport but cycling
-- (private.is_cycling_activity: rides compare power, as on Strava): for every sample j taken
-- as the end of the window, the window starts where the distance was d[j] - D, found by binary
-- search (width_bucket) among the samples and linearly interpolated in time between the two
-- samples around it: t_start = t[i] + (t[i+1] - t[i]) x (d[j] - D - d[i]) / (d[i+1] - d[i]).
-- The effort is min over j of t[j] - t_start (elapsed time, pauses included, as Strava's best
-- efforts), and its start t_start. Samples without a distance are skipped. Distances: 100,
-- 200, 400, 800 m, 1 km, 1 mile (1609.344 m), 2, 3, 5, 10, 15, 20 km, half marathon
-- (21097.5 m), 30 km, marathon (42195 m), 50 and 100 km, each only when the activity covered
-- it. "Fastest" efforts are 400 m, 1 km, 1 mile, 5 km, 10 km, half and full marathon.
--
-- Power efforts (best average power over a duration; the power curve): power is resampled to
-- 1 Hz on whole seconds from the first sample: each second takes the last sample at or before
-- it when that sample is at most 5 s old (a dropout or smart-recording gap is held), else 0 W
-- (a stop or pause: no power). A missing power value counts 0 W. The best average over W
-- seconds is max over k of (C[k + W] - C[k]) / W on the cumulative sums C. Durations: 1, 5,
-- 15, 30 s, 1, 2, 5, 10, 20, 30, 60, 90 min and 2 h, each only when the activity lasted that
-- long; standard: 5, 15, 30 s, 1, 5, 10, 20, 30 and 60 min.

create table public.activity_efforts (
    activity_id bigint not null references public.activities (id) on delete cascade,
    user_id uuid not null references public.users (id) on delete cascade,
    source text not null,
    effort text not null,
    span real not null,
    value real not null,
    start_s real not null,
    constraint activity_efforts_pkey primary key (activity_id, effort, span),
    constraint activity_efforts_effort_known check (effort in ('distance', 'power')),
    constraint activity_efforts_span_finite check (
        span > '-Infinity' and span < 'Infinity' and span > 0
    ),
    constraint activity_efforts_value_finite check (
        value > '-Infinity' and value < 'Infinity' and value >= 0
    ),
    constraint activity_efforts_start_finite check (
        start_s > '-Infinity' and start_s < 'Infinity'
    )
);

create index activity_efforts_user_idx on public.activity_efforts (user_id, effort, span, value);

comment on table public.activity_efforts is
    'Best efforts of each activity with streams, kept by a trigger on activity_streams: the '
    'fastest time over standard distances and the best average power over standard durations '
    '(methods in migration 20261205210200_best_efforts.sql). RLS: as the activity_streams they '
    'come from (Strava-sourced: the athlete only).';
comment on column public.activity_efforts.source is
    'The source of the streams the effort was computed from (activity_streams.source).';
comment on column public.activity_efforts.effort is
    'distance (value: fastest time in s over span m) or power (value: best average power in W '
    'over span s).';
comment on column public.activity_efforts.span is
    'The window: a distance in m (distance efforts) or a duration in s (power efforts).';
comment on column public.activity_efforts.value is
    'Time in s over the distance (lower is better) or average power in W (higher is better).';
comment on column public.activity_efforts.start_s is
    'Where the best window starts, in s from the start of the activity (interpolated).';

alter table public.activity_efforts enable row level security;
revoke all on table public.activity_efforts from anon, authenticated, service_role;
grant select on table public.activity_efforts to authenticated, service_role;

create policy activity_efforts_select on public.activity_efforts
for select to authenticated
using (
    user_id = any(array(select private.readable_user_ids()))
    and (
        user_id = (select auth.uid())
        or (
            source <> 'strava'
            and exists (
                select from public.activities as a
                where a.id = activity_efforts.activity_id
            )
        )
    )
);
comment on policy activity_efforts_select on public.activity_efforts is
    'As activity_streams: the athlete; an admin or a coach with an active grant when they may '
    'read the activity and the streams are not Strava''s.';

-- --- computation -------------------------------------------------------------------------------

-- Both are single SQL statements over arrays kept flat and without nulls (a materialised CTE:
-- element access is O(1) and width_bucket a binary search in place; a PL/pgSQL array variable
-- is an expanded object that width_bucket flattens on every call, and a TOAST pointer kept in
-- a CTE is detoasted at every access: `|| '{}'` detoasts once). Distance windows: every 16th
-- window end first, then only the blocks between two of them that can still hold the fastest
-- window (a bound from their ends), every window there (exact: branch and bound).
create function private.distance_efforts(p_time float8[], p_distance float8[])
returns table (span float8, best float8, start_s float8)
language sql
immutable
parallel safe
set search_path = ''
as $$
    with samples as materialized (
        -- samples with a distance only
        select
            x.t,
            x.d,
            cardinality(x.d) as n
        from (
            select
                case
                    when array_position(p_distance, null) is null then p_time || '{}'
                    else array(
                        select u.t
                        from unnest(p_time, p_distance) with ordinality as u (t, d, ord)
                        where u.d is not null order by u.ord
                    )
                end as t,
                case
                    when array_position(p_distance, null) is null then p_distance || '{}'
                    else array(
                        select u.d from unnest(p_distance) with ordinality as u (d, ord)
                        where u.d is not null order by u.ord
                    )
                end as d
        ) as x
    ),

    spans as materialized (
        select
            sp.span,
            -- the first window end: the first sample at least span past the start
            f.j0 + (s.d[f.j0] < s.d[1] + sp.span)::integer as j0
        from samples as s
        cross join unnest(array[
            100, 200, 400, 800, 1000, 1609.344, 2000, 3000, 5000, 10000, 15000, 20000,
            21097.5, 30000, 42195, 50000, 100000
        ]::float8[]) as sp (span)
        cross join lateral (select width_bucket(s.d[1] + sp.span, s.d) as j0) as f
        where s.n >= 2 and s.d[s.n] - s.d[1] >= sp.span
    ),

    -- every 16th window end, and the last one
    coarse as materialized (
        select sp.span, j.j, s.t[j.j] as t_end, x.t_start
        from samples as s
        cross join spans as sp
        cross join lateral unnest(
            array(select generate_series(sp.j0, s.n, 16)) || s.n
        ) as j (j)
        -- the last sample at or before d[j] - span: the window starts after it (offset 0:
        -- evaluated once per window, not once per use)
        cross join lateral (
            select width_bucket(s.d[j.j] - sp.span, s.d) as i offset 0
        ) as b
        cross join lateral (
            select
                s.t[b.i] + (s.t[b.i + 1] - s.t[b.i])
                * (s.d[j.j] - sp.span - s.d[b.i]) / (s.d[b.i + 1] - s.d[b.i]) as t_start
        ) as x
        where b.i between 1 and s.n - 1
    ),

    -- between two coarse ends c < c', a window ending at j has t[j] >= t[c] and a start at
    -- most t_start(c'): its time is at least max(time(c) - (t_start(c') - t_start(c)),
    -- time(c') - (t[c'] - t[c])); only blocks whose bound does not exceed the best coarse
    -- time can hold the fastest window (or an equally fast, earlier one)
    blocks as (
        select c.span, c.j, c.next_j
        from (
            select
                o.span,
                o.j,
                lead(o.j) over w as next_j,
                greatest(
                    (o.t_end - o.t_start) - (lead(o.t_start) over w - o.t_start),
                    (lead(o.t_end) over w - lead(o.t_start) over w)
                    - (lead(o.t_end) over w - o.t_end)
                ) as bound,
                min(o.t_end - o.t_start) over (partition by o.span) as best
            from coarse as o
            window w as (partition by o.span order by o.j)
        ) as c
        where c.next_j > c.j + 1 and c.bound <= c.best
    ),

    windows as (
        select o.span, o.t_end, o.t_start from coarse as o
        union all
        select sp.span, s.t[j.j], x.t_start
        from samples as s
        cross join blocks as sp
        cross join lateral generate_series(sp.j + 1, sp.next_j - 1) as j (j)
        cross join lateral (
            select width_bucket(s.d[j.j] - sp.span, s.d) as i offset 0
        ) as b
        cross join lateral (
            select
                s.t[b.i] + (s.t[b.i + 1] - s.t[b.i])
                * (s.d[j.j] - sp.span - s.d[b.i]) / (s.d[b.i + 1] - s.d[b.i]) as t_start
        ) as x
    )

    -- min over (duration, start) pairs: the fastest window, on a tie the earliest
    select b.span, b.best[1], b.best[2]
    from (
        select w.span, min(array[w.t_end - w.t_start, w.t_start]) as best
        from windows as w
        group by w.span
    ) as b;
$$;
comment on function private.distance_efforts(float8[], float8[]) is
    'Fastest time (s) over each standard distance (m) covered, and where it starts (s): sliding '
    'window on distance, start interpolated in time (migration '
    '20261205210200_best_efforts.sql).';
revoke all on function private.distance_efforts(float8[], float8[])
from public, anon, authenticated;

create function private.power_efforts(p_time float8[], p_power float8[])
returns table (span float8, best float8, start_s float8)
language sql
immutable
parallel safe
set search_path = ''
as $$
    with detoasted as materialized (
        select
            p_time || '{}' as t,  -- detoasted once
            case
                when array_position(p_power, null) is null then p_power || '{}'
                else array(
                    select coalesce(u.p, 0) from unnest(p_power) with ordinality as u (p, ord)
                    order by u.ord
                )
            end as p
    ),

    samples as materialized (
        select
            d.t,
            d.p,
            floor(d.t[cardinality(d.t)] - d.t[1])::integer + 1 as seconds,
            -- already 1 Hz on whole seconds (the usual recording): no resampling
            d.t[1] = round(d.t[1])
            and d.t = array(
                select d.t[1] + g.i from generate_series(0, cardinality(d.t) - 1) as g (i)
            ) as regular
        from detoasted as d
    ),

    -- cumulative sums of the 1 Hz series: c[1] = 0, c[k + 1] = energy of seconds 0 .. k - 1
    sums as materialized (
        select
            s.seconds,
            array[0::float8] || case
                when s.regular then array(
                    select sum(round(u.p)) over (order by u.i)
                    from unnest(s.p) with ordinality as u (p, i)
                    order by u.i
                )
                else array(
                    select sum(
                        case
                            when s.t[1] + g.second - s.t[h.i] <= 5 then round(s.p[h.i]) else 0
                        end
                    ) over (order by g.second)
                    from generate_series(0, s.seconds - 1) as g (second)
                    cross join lateral (select width_bucket(s.t[1] + g.second, s.t) as i) as h
                    order by g.second
                )
            end as c
        from samples as s
        where s.seconds >= 1
    ),

    -- One pass over C for every duration W: C[k + W] - C[k] walked in step by unnesting
    -- slices of C side by side. Energies are whole joules (power rounded to W) below 2^26
    -- (5000 W x 7200 s) and k < 2^22 (2 000 000 s), so energy x 2^22 - k is exact in float8
    -- (< 2^48) and its max gives the best window and, on a tie, the earliest start k.
    best as (
        select array[
                max((u.c1 - u.c0) * 4194304 - u.k),
                max((u.c5 - u.c0) * 4194304 - u.k),
                max((u.c15 - u.c0) * 4194304 - u.k),
                max((u.c30 - u.c0) * 4194304 - u.k),
                max((u.c60 - u.c0) * 4194304 - u.k),
                max((u.c120 - u.c0) * 4194304 - u.k),
                max((u.c300 - u.c0) * 4194304 - u.k),
                max((u.c600 - u.c0) * 4194304 - u.k),
                max((u.c1200 - u.c0) * 4194304 - u.k),
                max((u.c1800 - u.c0) * 4194304 - u.k),
                max((u.c3600 - u.c0) * 4194304 - u.k),
                max((u.c5400 - u.c0) * 4194304 - u.k),
                max((u.c7200 - u.c0) * 4194304 - u.k)
            ] as keys
        from sums as c
        cross join lateral unnest(
                c.c,
                c.c[2:],
                c.c[6:],
                c.c[16:],
                c.c[31:],
                c.c[61:],
                c.c[121:],
                c.c[301:],
                c.c[601:],
                c.c[1201:],
                c.c[1801:],
                c.c[3601:],
                c.c[5401:],
                c.c[7201:]
            ) with ordinality as u (
                c0, c1, c5, c15, c30, c60, c120, c300, c600, c1200, c1800, c3600, c5400, c7200, k
            )
    )

    select
        w.span,
        ceil(b.keys[w.n] / 4194304) / w.span,
        ceil(b.keys[w.n] / 4194304) * 4194304 - b.keys[w.n] - 1
    from best as b
    cross join unnest(array[
        1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 5400, 7200
    ]::float8[]) with ordinality as w (span, n)
    where b.keys[w.n] is not null;
$$;
comment on function private.power_efforts(float8[], float8[]) is
    'Best average power (W) over each standard duration (s) the activity lasted, and where it '
    'starts (s): power resampled to 1 Hz, gaps over 5 s as 0 W, prefix sums walked in one pass '
    '(migration 20261205210200_best_efforts.sql).';
revoke all on function private.power_efforts(float8[], float8[]) from public, anon, authenticated;

create function private.is_cycling_activity(p_type public.activity_type)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select p_type in (
        'ride', 'mountain_bike_ride', 'gravel_ride', 'virtual_ride', 'indoor_ride', 'e_bike_ride',
        'e_mountain_bike_ride', 'handcycle', 'velomobile'
    );
$$;
comment on function private.is_cycling_activity(public.activity_type) is
    'True for cycling activity types (rides, mountain bike, gravel, virtual and indoor rides, '
    'e-bikes, handcycle, velomobile): their best efforts are power, not times over distances.';
revoke all on function private.is_cycling_activity(public.activity_type)
from public, anon, authenticated;

create function private.activity_efforts_refresh(p_activity_id bigint)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_count integer;
begin
    delete from public.activity_efforts as e where e.activity_id = p_activity_id;
    insert into public.activity_efforts (
        activity_id, user_id, source, effort, span, value, start_s
    )
    select s.activity_id, s.user_id, s.source, e.effort, e.span, e.best, e.start_s
    from public.activity_streams as s
    inner join public.activities as a on s.activity_id = a.id
    cross join lateral (
        select 'distance' as effort, d.span, d.best, d.start_s
        from private.distance_efforts(s.time_s::float8[], s.distance_m::float8[]) as d
        -- cycling compares power, not times over running distances (as Strava does)
        where s.distance_m is not null and not private.is_cycling_activity(a.activity_type)
        union all
        select 'power', p.span, p.best, p.start_s
        from private.power_efforts(s.time_s::float8[], s.power_w::float8[]) as p
        where s.power_w is not null
    ) as e
    where s.activity_id = p_activity_id;
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;
comment on function private.activity_efforts_refresh(bigint) is
    'Recomputes the best efforts of one activity from its streams (none left when it has no '
    'streams); the number of efforts. Security definer: run by the activity_streams trigger on '
    'behalf of the streams writer, it writes activity_efforts, which no API role may.';
revoke all on function private.activity_efforts_refresh(bigint) from public, anon, authenticated;
grant execute on function private.activity_efforts_refresh(bigint) to service_role;

create function private.activity_streams_maintain_efforts()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.activity_efforts_refresh(
        case when tg_op = 'DELETE' then old.activity_id else new.activity_id end
    );
    return null;
end;
$$;
comment on function private.activity_streams_maintain_efforts() is
    'Row-level AFTER trigger on activity_streams: recomputes the activity''s best efforts. '
    'Security definer: it writes activity_efforts on behalf of the streams writer.';
revoke all on function private.activity_streams_maintain_efforts()
from public, anon, authenticated;

create trigger activity_streams_efforts
after insert or update or delete on public.activity_streams
for each row execute function private.activity_streams_maintain_efforts();

-- A sport that changes (a re-sync, a corrected type) changes which efforts apply.
create function private.activities_refresh_efforts()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if exists (select from public.activity_streams as s where s.activity_id = new.id) then
        perform private.activity_efforts_refresh(new.id);
    end if;
    return null;
end;
$$;
comment on function private.activities_refresh_efforts() is
    'Row-level AFTER UPDATE trigger on activities, for rows whose activity_type changed: '
    'recomputes their best efforts (cycling has no distance efforts). Security definer: it '
    'writes activity_efforts on behalf of whoever changed the activity.';
revoke all on function private.activities_refresh_efforts() from public, anon, authenticated;

create trigger activities_sport_refreshes_efforts
after update of activity_type on public.activities
for each row
when (old.activity_type is distinct from new.activity_type)
execute function private.activities_refresh_efforts();

-- --- what the frontend reads ---------------------------------------------------------------------

create function private.effort_label(p_effort text, p_span real)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case
        when p_effort = 'distance' then case p_span
            when 1609.344::real then '1 mile'
            when 21097.5::real then 'half marathon'
            when 42195::real then 'marathon'
            else case
                when p_span >= 1000 then (p_span / 1000)::text || ' km'
                else p_span::text || ' m'
            end
        end
        else case
            when p_span >= 3600 and p_span::integer % 3600 = 0
                then (p_span::integer / 3600)::text || ' h'
            when p_span >= 60 then (p_span / 60)::text || ' min'
            else p_span::text || ' s'
        end
    end;
$$;
comment on function private.effort_label(text, real) is
    'A reader''s name for an effort window: 400 m, 1 km, 1 mile, half marathon, 5 s, 20 min, '
    '2 h.';
revoke all on function private.effort_label(text, real) from public, anon;
grant execute on function private.effort_label(text, real) to authenticated, service_role;

create function private.effort_is_standard(p_effort text, p_span real)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case
        when p_effort = 'distance'
            then p_span = any(array[400, 1000, 1609.344, 5000, 10000, 21097.5, 42195]::real[])
        else p_span = any(array[5, 15, 30, 60, 300, 600, 1200, 1800, 3600]::real[])
    end;
$$;
comment on function private.effort_is_standard(text, real) is
    'True for the standard best efforts: fastest 400 m, 1 km, 1 mile, 5 km, 10 km, half and '
    'full marathon; best power over 5, 15, 30 s, 1, 5, 10, 20, 30 and 60 min.';
revoke all on function private.effort_is_standard(text, real) from public, anon;
grant execute on function private.effort_is_standard(text, real) to authenticated, service_role;

create view public.activity_best_efforts
with (security_invoker = true) as
select
    e.activity_id,
    e.user_id,
    a.activity_type,
    a.start_date,
    a.start_date_local::date as local_date,
    e.effort,
    e.span,
    e.value,
    e.start_s,
    private.effort_label(e.effort, e.span) as label,
    private.effort_is_standard(e.effort, e.span) as is_standard,
    case when e.effort = 'distance' and e.value > 0 then e.value * 1000 / e.span end as pace
from public.activity_efforts as e
inner join public.activities as a on e.activity_id = a.id
where a.deleted_at is null;
comment on view public.activity_best_efforts is
    'Best efforts of each activity with streams: effort distance (value: fastest time in s '
    'over span m; pace in s/km) or power (value: best average W over span s); label a reader''s '
    'name, is_standard the efforts shown by default (fastest 400 m to marathon; power 5 s to '
    '60 min); local_date the local calendar day of the start. Runs as the caller: a coach sees '
    'those of activities they may read, never Strava-sourced ones.';

create view public.season_best_efforts
with (security_invoker = true) as
select distinct on (b.user_id, b.activity_type, season, b.effort, b.span)
    b.user_id,
    b.activity_type,
    b.effort,
    b.span,
    b.label,
    b.is_standard,
    b.value,
    b.pace,
    b.activity_id,
    b.start_date,
    b.local_date,
    b.start_s,
    extract(year from b.local_date)::integer as season
from public.activity_best_efforts as b
order by
    b.user_id, b.activity_type, season, b.effort, b.span,
    case when b.effort = 'distance' then b.value else -b.value end,
    b.start_date, b.activity_id;
comment on view public.season_best_efforts is
    'Best effort per athlete, sport (activity_type), season (calendar year of the local start), '
    'effort and span, over the activities the caller may read (ties: the earlier activity); '
    'columns as activity_best_efforts.';

create view public.all_time_best_efforts
with (security_invoker = true) as
select distinct on (b.user_id, b.activity_type, b.effort, b.span)
    b.user_id,
    b.activity_type,
    b.effort,
    b.span,
    b.label,
    b.is_standard,
    b.value,
    b.pace,
    b.activity_id,
    b.start_date,
    b.local_date,
    b.start_s
from public.activity_best_efforts as b
order by
    b.user_id, b.activity_type, b.effort, b.span,
    case when b.effort = 'distance' then b.value else -b.value end,
    b.start_date, b.activity_id;
comment on view public.all_time_best_efforts is
    'All-time best effort per athlete, sport (activity_type), effort and span over the '
    'activities the caller may read (ties: the earlier activity); columns as '
    'activity_best_efforts. Filter on user_id and activity_type.';

revoke all on public.activity_best_efforts, public.season_best_efforts,
public.all_time_best_efforts from anon, authenticated, service_role;
grant select on public.activity_best_efforts, public.season_best_efforts,
public.all_time_best_efforts to authenticated, service_role;

-- Streams stored before this migration.
select private.activity_efforts_refresh(s.activity_id) from public.activity_streams as s;
