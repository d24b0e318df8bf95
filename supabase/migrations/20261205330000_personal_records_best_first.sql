-- private.personal_records_upsert built every record candidate of the given activities (3 to 8
-- per activity and scope, through private.personal_record_candidates), sorted them all for
-- DISTINCT ON, and sent every key's best through INSERT ... ON CONFLICT DO UPDATE ... WHERE,
-- which locks each existing record row exclusively even when the candidate loses. An ingest
-- page of new activities seldom sets a record. Now the best value per key comes from one
-- aggregate pass over the activities (max, or min of the scaled time, per athlete, sport and
-- scope); it is compared with the stored entry, read by its key FOR KEY SHARE; only the keys
-- with no entry, or where the best value beats or ties it, pick their holder (earliest start,
-- then lowest id) and go through the same guarded upsert as before. Same results
-- (tests/analytics/test_records_best_first.py compares with the previous definition and with
-- a rebuild on random histories).
--
-- Concurrency: the KEY SHARE lock keeps what the upsert's exclusive lock kept. A concurrent
-- recompute (which deletes the entry and rebuilds it from the activities it sees) waits for
-- this transaction, so it sees the activity that lost against the entry it deletes; a
-- concurrent better upsert (no key column changes) is not blocked and only improves the entry;
-- in read committed the lock reads the entry's latest version, and a key whose entry went
-- takes the upsert, whose guard compares with whatever entry is there by then.
-- The plan is generic and cached: a custom plan for a trigger's few rows was planned anew on
-- every call. An empty call (a re-sync page's insert trigger) returns at once.
-- A page of 200 new Strava activities: the upsert inside the trigger 2.85 -> 0.86 ms; a 1-row
-- insert 0.45 -> 0.25 ms; rebuild_personal_records of a 53,000-activity athlete 1.8 -> 0.4 s.

create or replace function private.personal_records_upsert(p_ids bigint[])
returns void
language plpgsql
volatile
security definer
set search_path = ''
-- One cached plan for every call: a custom plan (a trigger's few rows) would be planned anew
-- each time, which costs more than the statement.
set plan_cache_mode = force_generic_plan
as $$
begin
    if coalesce(cardinality(p_ids), 0) = 0 then
        return;
    end if;
    with counted as materialized (
        -- The counted activities as they are now (primary, not deleted), once per scope: every
        -- activity in the athlete's scope, shareable ones also in the coach's.
        select
            a.id,
            a.user_id,
            a.activity_type,
            a.start_date,
            a.start_date_local,
            a.distance,
            coalesce(a.elapsed_time, a.moving_time)::double precision as duration,
            a.elevation_gain::double precision as climb,
            coalesce(a.moving_time, a.elapsed_time) as pace_time,
            case
                when a.activity_type in (
                    'run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run'
                ) then 'run'
                when a.activity_type in (
                    'ride', 'mountain_bike_ride', 'gravel_ride', 'virtual_ride',
                    'indoor_ride', 'handcycle', 'velomobile'
                ) then 'ride'
                when a.activity_type in ('swim', 'open_water_swim') then 'swim'
            end as family,
            s.shareable_only
        from public.activities as a
        cross join lateral (
            select false as shareable_only
            union all
            select true
            where
                not a.is_private and a.provider is distinct from 'strava'
                and not a.primary_hidden
        ) as s
        where
            a.id = any(p_ids)
            and a.deleted_at is null
            and a.primary_activity_id is null
    ),

    best_of_group as (
        -- Per athlete, sport and scope, the best value of each record. Fastest at a standard
        -- distance D: the activities at least D long, their time scaled to D (t x D /
        -- distance, computed as the holder lookup below computes it).
        select
            c.user_id,
            c.activity_type,
            c.shareable_only,
            max(c.distance) as longest_distance,
            max(c.duration) as longest_duration,
            max(c.climb) as biggest_climb,
            min(c.pace_time * 1000.0::double precision / c.distance) filter (
                where
                    c.family = 'run' and c.distance >= 1000.0::double precision
                    and c.pace_time * 1000.0::double precision / c.distance > 0
            ) as run_1000,
            min(c.pace_time * 5000.0::double precision / c.distance) filter (
                where
                    c.family = 'run' and c.distance >= 5000.0::double precision
                    and c.pace_time * 5000.0::double precision / c.distance > 0
            ) as run_5000,
            min(c.pace_time * 10000.0::double precision / c.distance) filter (
                where
                    c.family = 'run' and c.distance >= 10000.0::double precision
                    and c.pace_time * 10000.0::double precision / c.distance > 0
            ) as run_10000,
            min(c.pace_time * 21097.5::double precision / c.distance) filter (
                where
                    c.family = 'run' and c.distance >= 21097.5::double precision
                    and c.pace_time * 21097.5::double precision / c.distance > 0
            ) as run_21097,
            min(c.pace_time * 42195.0::double precision / c.distance) filter (
                where
                    c.family = 'run' and c.distance >= 42195.0::double precision
                    and c.pace_time * 42195.0::double precision / c.distance > 0
            ) as run_42195,
            min(c.pace_time * 20000.0::double precision / c.distance) filter (
                where
                    c.family = 'ride' and c.distance >= 20000.0::double precision
                    and c.pace_time * 20000.0::double precision / c.distance > 0
            ) as ride_20000,
            min(c.pace_time * 40000.0::double precision / c.distance) filter (
                where
                    c.family = 'ride' and c.distance >= 40000.0::double precision
                    and c.pace_time * 40000.0::double precision / c.distance > 0
            ) as ride_40000,
            min(c.pace_time * 100000.0::double precision / c.distance) filter (
                where
                    c.family = 'ride' and c.distance >= 100000.0::double precision
                    and c.pace_time * 100000.0::double precision / c.distance > 0
            ) as ride_100000,
            min(c.pace_time * 400.0::double precision / c.distance) filter (
                where
                    c.family = 'swim' and c.distance >= 400.0::double precision
                    and c.pace_time * 400.0::double precision / c.distance > 0
            ) as swim_400,
            min(c.pace_time * 1500.0::double precision / c.distance) filter (
                where
                    c.family = 'swim' and c.distance >= 1500.0::double precision
                    and c.pace_time * 1500.0::double precision / c.distance > 0
            ) as swim_1500
        from counted as c
        group by c.user_id, c.activity_type, c.shareable_only
    ),

    best as (
        -- One row per record key the activities compete for (a value > 0).
        select
            g.user_id,
            g.activity_type,
            g.shareable_only,
            r.record,
            r.standard_distance,
            r.value
        from best_of_group as g
        cross join lateral (
            values
            ('longest_distance', null::double precision, g.longest_distance),
            ('longest_duration', null, g.longest_duration),
            ('biggest_climb', null, g.biggest_climb),
            ('fastest', 1000.0, g.run_1000),
            ('fastest', 5000.0, g.run_5000),
            ('fastest', 10000.0, g.run_10000),
            ('fastest', 21097.5, g.run_21097),
            ('fastest', 42195.0, g.run_42195),
            ('fastest', 20000.0, g.ride_20000),
            ('fastest', 40000.0, g.ride_40000),
            ('fastest', 100000.0, g.ride_100000),
            ('fastest', 400.0, g.swim_400),
            ('fastest', 1500.0, g.swim_1500)
        ) as r (record, standard_distance, value)
        where r.value > 0
    ),

    contenders as materialized (
        -- The keys with no entry, or whose best value beats or ties the entry (a tie may
        -- still win on an earlier start or a lower id). The entry is read by its key, locked
        -- FOR KEY SHARE: a concurrent recompute's delete waits for this transaction.
        select b.*
        from best as b
        left join lateral (
            select e.value
            from public.personal_record_entries as e
            where
                e.user_id = b.user_id
                and e.activity_type = b.activity_type
                and e.record = b.record
                and e.standard_distance is not distinct from b.standard_distance
                and e.shareable_only = b.shareable_only
            for key share of e
        ) as stored on true
        where
            stored.value is null
            or case
                when b.record = 'fastest' then b.value <= stored.value
                else b.value >= stored.value
            end
    )

    insert into public.personal_record_entries as e (
        user_id, shareable_only, activity_type, record, standard_distance, value,
        activity_id, start_date, achieved_on
    )
    -- Each contending key's holder: the activity with the best value, the earliest on a tie
    -- (then the lowest id).
    select distinct on (k.user_id, k.activity_type, k.record, k.standard_distance, k.shareable_only)
        k.user_id, k.shareable_only, k.activity_type, k.record, k.standard_distance, k.value,
        c.id, c.start_date, c.start_date_local::date
    from contenders as k
    inner join counted as c
        on
            k.user_id = c.user_id
            and k.activity_type = c.activity_type
            and k.shareable_only = c.shareable_only
    where
        k.value = case k.record
            when 'longest_distance' then c.distance
            when 'longest_duration' then c.duration
            when 'biggest_climb' then c.climb
            else case
                when c.distance >= k.standard_distance
                    then c.pace_time * k.standard_distance / c.distance
            end
        end
    order by
        k.user_id, k.activity_type, k.record, k.standard_distance, k.shareable_only,
        c.start_date,
        c.id
    on conflict (user_id, activity_type, record, standard_distance, shareable_only)
    do update set
        value = excluded.value,
        activity_id = excluded.activity_id,
        start_date = excluded.start_date,
        achieved_on = excluded.achieved_on
    where
        (
            case when excluded.record = 'fastest' then excluded.value else -excluded.value end,
            excluded.start_date,
            excluded.activity_id
        ) < (
            case when e.record = 'fastest' then e.value else -e.value end,
            e.start_date,
            e.activity_id
        );
end;
$$;

comment on function private.personal_records_upsert(bigint[]) is
    'The given activities (as they are now: primary, not deleted) compete with the stored '
    'personal records: the best value per key (one aggregate pass) is compared with the entry, '
    'read by its key FOR KEY SHARE, and only keys with no entry or a better or equal best pick '
    'their holder and replace the record where it is better (lower time for fastest, higher '
    'value otherwise; ties: earlier start, then lower id). Security definer: called by the '
    'activities trigger on behalf of any writer, it writes personal_record_entries.';

-- Its candidates are now computed in private.personal_records_upsert itself.
drop function private.personal_record_candidates(bigint[]);
