-- Personal records per athlete and sport, from activity summaries (no streams needed).
--
-- Records: longest_distance (m), longest_duration (elapsed time, else moving time, in s),
-- biggest_climb (elevation gain, m), and fastest (s) at standard distances:
--   running (run, trail_run, treadmill_run, track_run, virtual_run): 1 km, 5 km, 10 km,
--     half marathon (21 097.5 m), marathon (42 195 m);
--   cycling (ride, mountain_bike_ride, gravel_ride, virtual_ride, indoor_ride, handcycle,
--     velomobile; not e-bikes): 20, 40 and 100 km;
--   swimming (swim, open_water_swim): 400 m and 1 500 m.
-- "From summaries": an activity qualifies for a standard distance D when its distance is at
-- least D; its time at D is its moving time (else elapsed time) scaled linearly, t x D /
-- distance, i.e. its average pace held over D. That never credits more than the athlete did
-- on average, so it is a conservative estimate of the true best effort inside a longer
-- activity (which needs streams); an activity shorter than D never counts, however fast.
-- Records are per canonical activity_type, over primary (primary_activity_id is null), live
-- activities, so a workout recorded by several providers counts once. Ties go to the earliest
-- activity (the one that set the record first).

create view public.personal_records
with (security_invoker = true) as
select distinct on (c.user_id, c.activity_type, c.record, c.standard_distance)
    c.user_id,
    c.activity_type,
    c.record,
    c.standard_distance,
    c.value,
    c.activity_id,
    c.achieved_on
from (
    select
        a.user_id,
        a.activity_type,
        r.record,
        r.standard_distance,
        r.value,
        r.lower_is_better,
        a.id as activity_id,
        a.start_date,
        a.start_date_local::date as achieved_on
    from public.activities as a
    cross join lateral (
        values
        ('longest_distance', null::double precision, a.distance, false),
        (
            'longest_duration',
            null,
            coalesce(a.elapsed_time, a.moving_time)::double precision,
            false
        ),
        ('biggest_climb', null, a.elevation_gain::double precision, false)
        union all
        select
            'fastest' as record,
            s.distance as standard_distance,
            coalesce(a.moving_time, a.elapsed_time) * s.distance / a.distance as value,
            true as lower_is_better
        from (
            values
            ('run', 1000.0::double precision),
            ('run', 5000.0),
            ('run', 10000.0),
            ('run', 21097.5),
            ('run', 42195.0),
            ('ride', 20000.0),
            ('ride', 40000.0),
            ('ride', 100000.0),
            ('swim', 400.0),
            ('swim', 1500.0)
        ) as s (family, distance)
        where
            a.distance >= s.distance
            and s.family = case
                when a.activity_type in (
                    'run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run'
                ) then 'run'
                when a.activity_type in (
                    'ride', 'mountain_bike_ride', 'gravel_ride', 'virtual_ride', 'indoor_ride',
                    'handcycle', 'velomobile'
                ) then 'ride'
                when a.activity_type in ('swim', 'open_water_swim') then 'swim'
            end
    ) as r (record, standard_distance, value, lower_is_better)
    where
        a.deleted_at is null
        and a.primary_activity_id is null
        and r.value > 0
) as c
order by
    c.user_id,
    c.activity_type,
    c.record,
    c.standard_distance,
    case when c.lower_is_better then c.value else -c.value end,
    c.start_date,
    c.activity_id;

comment on view public.personal_records is
    'Personal records per athlete and sport (activity_type), from activity summaries over '
    'primary live activities: longest_distance, longest_duration, biggest_climb and fastest at '
    'standard distances (running 1, 5, 10, 21.0975, 42.195 km; cycling 20, 40, 100 km; '
    'swimming 400, 1500 m), where an activity at least that long counts with its average pace '
    '(time scaled linearly; migration 20261125130200_records.sql). Runs as the caller: a '
    'coach''s records leave out private and Strava-sourced activities.';
comment on column public.personal_records.record is
    'longest_distance (value in m), longest_duration (elapsed time, else moving time, in s), '
    'biggest_climb (elevation gain in m) or fastest (estimated time in s over '
    'standard_distance).';
comment on column public.personal_records.standard_distance is
    'For fastest: the standard distance in m; null for the other records.';
comment on column public.personal_records.value is
    'The record: m for distances and climbs, s for durations and times (see record).';
comment on column public.personal_records.activity_id is
    'The activity that holds the record (the earliest one on a tie).';
comment on column public.personal_records.achieved_on is
    'Local calendar day the record-holding activity started.';

revoke all on public.personal_records from anon, authenticated;
grant select on public.personal_records to authenticated, service_role;
