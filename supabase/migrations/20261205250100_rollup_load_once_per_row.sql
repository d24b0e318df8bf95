-- The rollups compute each activity's load preferences once (issue 16: rebuild and ingest).
--
-- The delta statement and the recomputation passed private.load_preferences(...) (a stable
-- jsonb expression) to private.rollup_load, an immutable SQL wrapper that the planner does not
-- inline around a stable argument; inlined further down, the preference expression was
-- evaluated for every preference the load formulas look up. Measured on 400,000 activities:
-- ~160 us per activity, 77 s of the 92 s of public.rebuild_rollups() (27 min at 10M
-- activities), and ~30 ms of a 200-activity ingest page; private.recompute_loads (an FTP
-- change) recomputed up to a whole history the same way. Now the preferences are computed once
-- per activity version in a subquery kept as such (offset 0), and the load is
-- coalesce((private.activity_training_load(...)).load::numeric, 0), which is what
-- private.rollup_load returns: the same values, about 9 us per activity.

create or replace function private.rollups_delta_sql(p_changes text)
returns text
language sql
immutable
parallel safe
as $$
    select format(
        $sql$
        with changes as (%1$s),
        -- Each version's load preferences once (offset 0 keeps the subquery: the expression
        -- is not copied into every use of the load formulas' preference argument).
        versions as (
            select
                c.*,
                private.load_preferences(
                    u.preferences, s.max_heart_rate, s.resting_heart_rate,
                    s.threshold_heart_rate, s.sex, f.ftp_w
                ) as load_preferences
            from changes as c
            -- An athlete being deleted has no rollups left to adjust (they cascade away).
            inner join public.users as u on c.user_id = u.id
            left join public.athlete_settings as s on c.user_id = s.user_id
            -- the FTP in force on the activity's local date
            left join lateral (
                select h.ftp_w
                from public.athlete_ftp_history as h
                where h.user_id = c.user_id and h.effective_from <= c.start_date_local::date
                order by h.effective_from desc
                limit 1
            ) as f on true
            offset 0
        ),
        contributions as (
            select
                c.user_id,
                c.start_date_local::date as day,
                c.activity_type,
                c.provider,
                (not c.is_private and c.provider is distinct from 'strava') as shareable,
                sum(c.sign)::integer as activity_count,
                sum(c.sign * coalesce(c.distance::numeric, 0)) as distance,
                sum(c.sign * coalesce(c.moving_time, 0))::bigint as moving_time,
                sum(c.sign * coalesce(c.elapsed_time, 0))::bigint as elapsed_time,
                sum(c.sign * coalesce(c.elevation_gain::numeric, 0)) as elevation_gain,
                sum(c.sign * coalesce(c.calories::numeric, 0)) as calories,
                -- private.rollup_load, written out: its wrapper is not inlined
                sum(
                    c.sign * coalesce(
                        (
                            private.activity_training_load(
                                c.activity_type, c.moving_time, c.elapsed_time,
                                c.average_heartrate, c.weighted_average_watts, c.average_watts,
                                c.load_preferences
                            )
                        ).load::numeric,
                        0
                    )
                ) as load
            from versions as c
            group by 1, 2, 3, 4, 5
        ),
        weekly as (
            insert into public.weekly_rollups as r (
                user_id, week_start, month_start, activity_type, provider, shareable,
                activity_count, distance, moving_time, elapsed_time, elevation_gain, calories,
                load
            )
            select
                c.user_id, date_trunc('week', c.day)::date, date_trunc('month', c.day)::date,
                c.activity_type, c.provider, c.shareable, sum(c.activity_count),
                sum(c.distance), sum(c.moving_time), sum(c.elapsed_time),
                sum(c.elevation_gain), sum(c.calories), sum(c.load)
            from contributions as c
            group by 1, 2, 3, 4, 5, 6
            -- A fixed order of row locks: concurrent writers of one athlete cannot deadlock.
            order by 1, 2, 3, 4, 5, 6
            on conflict (user_id, week_start, month_start, activity_type, provider, shareable)
            do update set
                activity_count = r.activity_count + excluded.activity_count,
                distance = r.distance + excluded.distance,
                moving_time = r.moving_time + excluded.moving_time,
                elapsed_time = r.elapsed_time + excluded.elapsed_time,
                elevation_gain = r.elevation_gain + excluded.elevation_gain,
                calories = r.calories + excluded.calories,
                load = r.load + excluded.load
            returning r.ctid, r.activity_count
        ),
        daily as (
            insert into public.daily_loads as d (user_id, day, shareable, load, activity_count)
            select c.user_id, c.day, c.shareable, sum(c.load), sum(c.activity_count)
            from contributions as c
            group by 1, 2, 3
            order by 1, 2, 3
            on conflict (user_id, day, shareable) do update set
                load = d.load + excluded.load,
                activity_count = d.activity_count + excluded.activity_count
            returning d.ctid, d.activity_count
        )
        -- Where the rows left with no activity are: the next statements delete them there.
        select
            array(select w.ctid from weekly as w where w.activity_count = 0),
            array(select d.ctid from daily as d where d.activity_count = 0)
        $sql$,
        p_changes
    );
$$;
comment on function private.rollups_delta_sql(text) is
    'Builds the statement that adds signed activity versions (the query p_changes: a sign '
    'column and the activity columns) to weekly_rollups and daily_loads in one upsert each '
    '(loads with the settings and the FTP in force on each activity''s date), and returns the '
    'ctids of the rows of each table it left with no activity (to delete). Used by the rollup '
    'triggers.';

-- Rollups: recomputation -----------------------------------------------------------------------

create or replace function private.rollups_recompute(p_user_ids uuid[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    if p_user_ids is null then
        truncate public.weekly_rollups, public.daily_loads;
    else
        delete from public.weekly_rollups as r where r.user_id = any(p_user_ids);
        delete from public.daily_loads as d where d.user_id = any(p_user_ids);
    end if;
    with versions as (
        -- Each activity's load preferences once (offset 0 keeps the subquery: the expression
        -- is not copied into every use of the load formulas' preference argument).
        select
            a.user_id,
            a.start_date_local,
            a.activity_type,
            a.provider,
            a.is_private,
            a.distance,
            a.moving_time,
            a.elapsed_time,
            a.elevation_gain,
            a.calories,
            a.average_heartrate,
            a.weighted_average_watts,
            a.average_watts,
            private.load_preferences(
                u.preferences, s.max_heart_rate, s.resting_heart_rate,
                s.threshold_heart_rate, s.sex, f.ftp_w
            ) as load_preferences
        from public.activities as a
        inner join public.users as u on a.user_id = u.id
        left join public.athlete_settings as s on a.user_id = s.user_id
        left join lateral (
            select h.ftp_w
            from public.athlete_ftp_history as h
            where h.user_id = a.user_id and h.effective_from <= a.start_date_local::date
            order by h.effective_from desc
            limit 1
        ) as f on true
        where
            a.deleted_at is null
            and a.primary_activity_id is null
            and (p_user_ids is null or a.user_id = any(p_user_ids))
        offset 0
    ),
    contributions as (
        select
            a.user_id,
            a.start_date_local::date as day,
            a.activity_type,
            a.provider,
            (not a.is_private and a.provider is distinct from 'strava') as shareable,
            count(*)::integer as activity_count,
            sum(coalesce(a.distance::numeric, 0)) as distance,
            sum(coalesce(a.moving_time, 0))::bigint as moving_time,
            sum(coalesce(a.elapsed_time, 0))::bigint as elapsed_time,
            sum(coalesce(a.elevation_gain::numeric, 0)) as elevation_gain,
            sum(coalesce(a.calories::numeric, 0)) as calories,
            -- private.rollup_load, written out: its wrapper is not inlined
            sum(
                coalesce(
                    (
                        private.activity_training_load(
                            a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
                            a.weighted_average_watts, a.average_watts, a.load_preferences
                        )
                    ).load::numeric,
                    0
                )
            ) as load
        from versions as a
        group by 1, 2, 3, 4, 5
    ),
    weekly as (
        insert into public.weekly_rollups (
            user_id, week_start, month_start, activity_type, provider, shareable,
            activity_count, distance, moving_time, elapsed_time, elevation_gain, calories, load
        )
        select
            c.user_id, date_trunc('week', c.day)::date, date_trunc('month', c.day)::date,
            c.activity_type, c.provider, c.shareable, sum(c.activity_count), sum(c.distance),
            sum(c.moving_time), sum(c.elapsed_time), sum(c.elevation_gain), sum(c.calories),
            sum(c.load)
        from contributions as c
        group by 1, 2, 3, 4, 5, 6
    )
    insert into public.daily_loads (user_id, day, shareable, load, activity_count)
    select c.user_id, c.day, c.shareable, sum(c.load), sum(c.activity_count)
    from contributions as c
    group by 1, 2, 3;
end;
$$;
comment on function private.rollups_recompute(uuid[]) is
    'Recomputes weekly_rollups and daily_loads from activities for the given athletes (null: '
    'everyone, after emptying both tables), loads with the settings and the FTP in force on '
    'each activity''s date. Security definer: called by the preferences and settings '
    'triggers, which fire for an athlete editing their own profile, who may not write rollups.';

-- The loads of one period (an FTP change): the same, each activity's preferences once.

create or replace function private.recompute_loads(p_user_id uuid, p_from date, p_to date)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_week_from date := date_trunc('week', p_from)::date;
    -- the Monday after the week of the last affected day (null: open-ended)
    v_week_to date := (date_trunc('week', p_to - 1) + interval '7 days')::date;
begin
    -- Lock the rows first, in a statement of its own: a concurrent activity write then waits
    -- for this transaction and adds its delta to the recomputed value; the recomputation
    -- below takes a snapshot after the lock, so it sees every write committed before.
    perform
    from public.daily_loads as d
    where
        d.user_id = p_user_id and d.day >= p_from and (p_to is null or d.day < p_to)
    order by d.day, d.shareable
    for update;
    perform
    from public.weekly_rollups as r
    where
        r.user_id = p_user_id and r.week_start >= v_week_from
        and (v_week_to is null or r.week_start < v_week_to)
    order by r.week_start, r.month_start, r.activity_type, r.provider, r.shareable
    for update;

    update public.daily_loads as d
    set load = x.load
    from (
        select
            a.start_date_local::date as day,
            (not a.is_private and a.provider is distinct from 'strava') as shareable,
            -- private.rollup_load, written out: its wrapper is not inlined
            sum(
                coalesce(
                    (
                        private.activity_training_load(
                            a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
                            a.weighted_average_watts, a.average_watts, a.load_preferences
                        )
                    ).load::numeric,
                    0
                )
            ) as load
        -- each activity's load preferences once (offset 0 keeps the subquery)
        from (
            select
                a.*,
                private.load_preferences(
                    u.preferences, s.max_heart_rate, s.resting_heart_rate,
                    s.threshold_heart_rate, s.sex, f.ftp_w
                ) as load_preferences
            from public.activities as a
            inner join public.users as u on a.user_id = u.id
            left join public.athlete_settings as s on a.user_id = s.user_id
            left join lateral (
                select h.ftp_w
                from public.athlete_ftp_history as h
                where h.user_id = a.user_id and h.effective_from <= a.start_date_local::date
                order by h.effective_from desc
                limit 1
            ) as f on true
            where
                a.user_id = p_user_id
                and a.deleted_at is null
                and a.primary_activity_id is null
                -- local and UTC dates differ by at most 18 h: keeps the start_date index usable
                and a.start_date >= p_from - interval '1 day'
                and (p_to is null or a.start_date < p_to + interval '1 day')
                and a.start_date_local >= p_from
                and (p_to is null or a.start_date_local < p_to)
            offset 0
        ) as a
        group by 1, 2
    ) as x
    where
        d.user_id = p_user_id and d.day = x.day and d.shareable = x.shareable
        and d.load is distinct from x.load;

    update public.weekly_rollups as r
    set load = x.load
    from (
        select
            date_trunc('week', a.start_date_local)::date as week_start,
            date_trunc('month', a.start_date_local)::date as month_start,
            a.activity_type,
            a.provider,
            (not a.is_private and a.provider is distinct from 'strava') as shareable,
            -- private.rollup_load, written out: its wrapper is not inlined
            sum(
                coalesce(
                    (
                        private.activity_training_load(
                            a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
                            a.weighted_average_watts, a.average_watts, a.load_preferences
                        )
                    ).load::numeric,
                    0
                )
            ) as load
        -- each activity's load preferences once (offset 0 keeps the subquery)
        from (
            select
                a.*,
                private.load_preferences(
                    u.preferences, s.max_heart_rate, s.resting_heart_rate,
                    s.threshold_heart_rate, s.sex, f.ftp_w
                ) as load_preferences
            from public.activities as a
            inner join public.users as u on a.user_id = u.id
            left join public.athlete_settings as s on a.user_id = s.user_id
            left join lateral (
                select h.ftp_w
                from public.athlete_ftp_history as h
                where h.user_id = a.user_id and h.effective_from <= a.start_date_local::date
                order by h.effective_from desc
                limit 1
            ) as f on true
            where
                a.user_id = p_user_id
                and a.deleted_at is null
                and a.primary_activity_id is null
                and a.start_date >= v_week_from - interval '1 day'
                and (v_week_to is null or a.start_date < v_week_to + interval '1 day')
                and a.start_date_local >= v_week_from
                and (v_week_to is null or a.start_date_local < v_week_to)
            offset 0
        ) as a
        group by 1, 2, 3, 4, 5
    ) as x
    where
        r.user_id = p_user_id
        and r.week_start = x.week_start
        and r.month_start = x.month_start
        and r.activity_type = x.activity_type
        and r.provider is not distinct from x.provider
        and r.shareable = x.shareable
        and r.load is distinct from x.load;
end;
$$;
comment on function private.recompute_loads(uuid, date, date) is
    'Recomputes the training load of one athlete''s rollups for the local days p_from until '
    'p_to (exclusive; null: open-ended): daily_loads of those days, weekly_rollups of the '
    'whole weeks that contain them. Counts and other sums do not depend on the FTP and are '
    'left alone. Set-based: one statement per table. Security definer: called by the FTP '
    'history triggers, which fire for an athlete who may not write rollups.';
