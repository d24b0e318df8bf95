-- Training load uses the FTP in force on the activity's date and the athlete's settings
-- (migration 20261205220000_athlete_settings.sql), not today's users.preferences.
--
-- The load formulas (private.activity_training_load) are unchanged: what they are given is now
-- private.load_preferences(users.preferences, the settings' heart rates and sex, the FTP of
-- public.athlete_ftp_history in force on the activity's local date), where a setting that is
-- set wins over the preferences key and a key left unset falls back to the preferences (then
-- to the formulas' defaults). Every reader of the load follows: public.activity_loads,
-- public.weekly_compliance, the rollups' delta statement and their recomputation.
--
-- When the FTP history changes, the loads of the affected period only are recomputed, in one
-- set-based statement per rollup table: from the earliest effective date the statement touched
-- until the next FTP change after the latest one (open-ended when there is none), whole local
-- weeks for weekly_rollups (a week's row sums every activity of it). A change of the
-- settings' heart rates or sex recomputes the athlete's rollups (every activity's load may
-- change), as a change of preferences does.

create function private.load_preferences(
    p_preferences jsonb,
    p_max_heart_rate smallint,
    p_resting_heart_rate smallint,
    p_threshold_heart_rate smallint,
    p_sex text,
    p_ftp_w smallint
)
returns jsonb
language sql
-- stable, as jsonb_build_object is (it may call output functions): an immutable wrapper of a
-- stable expression would not be inlined.
stable
parallel safe
-- One expression: inlined into the load queries.
as $$
    select coalesce(p_preferences, '{}'::jsonb) || jsonb_strip_nulls(
        jsonb_build_object(
            'max_heart_rate', p_max_heart_rate,
            'resting_heart_rate', p_resting_heart_rate,
            'threshold_heart_rate', p_threshold_heart_rate,
            'sex', p_sex,
            'ftp', p_ftp_w
        )
    );
$$;
comment on function private.load_preferences(jsonb, smallint, smallint, smallint, text, smallint) is
    'The preferences the training load formulas read for one activity: users.preferences '
    'overlaid with the athlete''s settings (max, resting and threshold heart rate, sex) and the '
    'FTP in force on the activity''s date (public.athlete_ftp_history); a null argument keeps '
    'the preferences key.';

revoke all on function private.load_preferences(
    jsonb, smallint, smallint, smallint, text, smallint
) from public, anon;
-- Pure arithmetic on the caller's inputs: the invoker views evaluate it.
grant execute on function private.load_preferences(
    jsonb, smallint, smallint, smallint, text, smallint
) to authenticated, service_role;

-- Each activity's load ---------------------------------------------------------------------------

create or replace view public.activity_loads
with (security_invoker = true) as
select
    a.id as activity_id,
    a.user_id,
    a.activity_type,
    a.start_date,
    a.start_date_local::date as local_date,
    a.primary_activity_id is null as is_primary,
    (
        private.activity_training_load(
            a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
            a.weighted_average_watts, a.average_watts,
            private.load_preferences(
                u.preferences, s.max_heart_rate, s.resting_heart_rate, s.threshold_heart_rate,
                s.sex, f.ftp_w
            )
        )
    ).load as load,
    (
        private.activity_training_load(
            a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
            a.weighted_average_watts, a.average_watts,
            private.load_preferences(
                u.preferences, s.max_heart_rate, s.resting_heart_rate, s.threshold_heart_rate,
                s.sex, f.ftp_w
            )
        )
    ).method as method
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
where a.deleted_at is null;

comment on view public.activity_loads is
    'The training load of every live (not soft-deleted) activity, with the athlete''s settings '
    'and the FTP in force on the activity''s local date (private.load_preferences): load in '
    'training stress score units and the method (power, heart_rate, duration; '
    'private.activity_training_load). Runs as the caller: an athlete sees their own, a coach '
    'what RLS on activities lets the coach read (no private, no Strava-sourced rows).';

-- Planned vs completed ---------------------------------------------------------------------------

create or replace view public.weekly_compliance
with (security_invoker = true) as
select
    w.user_id,
    date_trunc('week', w.planned_date::timestamp)::date as week_start,
    count(*) as planned_count,
    count(a.id) as completed_count,
    coalesce(sum(w.planned_duration), 0) as planned_duration,
    coalesce(sum(coalesce(a.moving_time, a.elapsed_time)), 0) as completed_duration,
    coalesce(sum(w.planned_distance), 0) as planned_distance,
    coalesce(sum(a.distance), 0) as completed_distance,
    coalesce(sum(w.planned_load), 0) as planned_load,
    coalesce(
        sum(
            (
                private.activity_training_load(
                    a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
                    a.weighted_average_watts, a.average_watts,
                    private.load_preferences(
                        u.preferences, s.max_heart_rate, s.resting_heart_rate,
                        s.threshold_heart_rate, s.sex, f.ftp_w
                    )
                )
            ).load
        ),
        0
    ) as completed_load,
    round(count(a.id)::numeric / count(*), 4) as completion_rate
from public.workouts as w
left join public.activities as a
    on w.completed_activity_id = a.id and a.deleted_at is null
left join public.users as u on a.user_id = u.id
left join public.athlete_settings as s on a.user_id = s.user_id
left join lateral (
    select h.ftp_w
    from public.athlete_ftp_history as h
    where h.user_id = a.user_id and h.effective_from <= a.start_date_local::date
    order by h.effective_from desc
    limit 1
) as f on true
group by w.user_id, date_trunc('week', w.planned_date::timestamp)::date;

comment on view public.weekly_compliance is
    'Planned vs completed per athlete and local ISO week (of planned_date): planned and '
    'completed workout counts, durations (s), distances (m) and loads (training stress score '
    'units, with the FTP in force on each activity''s date), completion_rate = completed_count '
    '/ planned_count. A workout is completed when its completed_activity_id names a live '
    'activity the caller may read (set by hand or by public.match_workouts); completed figures '
    'are that activity''s. Runs as the caller: a coach counts as completed only workouts '
    'fulfilled by activities the coach may read.';

-- Rollups: the delta statement ----------------------------------------------------------------

create or replace function private.rollups_delta_sql(p_changes text)
returns text
language sql
immutable
parallel safe
as $$
    select format(
        $sql$
        with changes as (%1$s),
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
                sum(
                    c.sign * private.rollup_load(
                        c.activity_type, c.moving_time, c.elapsed_time, c.average_heartrate,
                        c.weighted_average_watts, c.average_watts,
                        private.load_preferences(
                            u.preferences, s.max_heart_rate, s.resting_heart_rate,
                            s.threshold_heart_rate, s.sex, f.ftp_w
                        )
                    )
                ) as load
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
    with contributions as (
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
            sum(
                private.rollup_load(
                    a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
                    a.weighted_average_watts, a.average_watts,
                    private.load_preferences(
                        u.preferences, s.max_heart_rate, s.resting_heart_rate,
                        s.threshold_heart_rate, s.sex, f.ftp_w
                    )
                )
            ) as load
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

-- The loads of one period ----------------------------------------------------------------------

create function private.recompute_loads(p_user_id uuid, p_from date, p_to date)
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
            sum(
                private.rollup_load(
                    a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
                    a.weighted_average_watts, a.average_watts,
                    private.load_preferences(
                        u.preferences, s.max_heart_rate, s.resting_heart_rate,
                        s.threshold_heart_rate, s.sex, f.ftp_w
                    )
                )
            ) as load
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
            sum(
                private.rollup_load(
                    a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
                    a.weighted_average_watts, a.average_watts,
                    private.load_preferences(
                        u.preferences, s.max_heart_rate, s.resting_heart_rate,
                        s.threshold_heart_rate, s.sex, f.ftp_w
                    )
                )
            ) as load
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

create function private.ftp_history_apply_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_touched text;
    v_period record;
begin
    -- Transition tables exist per event: old_rows is unknown to an INSERT trigger.
    v_touched := case tg_op
        when 'INSERT' then 'select n.user_id, n.effective_from from new_rows as n'
        when 'DELETE' then 'select o.user_id, o.effective_from from old_rows as o'
        else 'select n.user_id, n.effective_from from new_rows as n union all '
            || 'select o.user_id, o.effective_from from old_rows as o'
    end;
    -- Per athlete: from the earliest effective date the statement wrote or removed, until the
    -- next FTP change after the latest one (that change and later days keep their FTP).
    for v_period in execute format(
        $sql$
        select
            t.user_id,
            min(t.effective_from) as from_day,
            (
                select min(h.effective_from)
                from public.athlete_ftp_history as h
                where h.user_id = t.user_id and h.effective_from > max(t.effective_from)
            ) as to_day
        from (%s) as t
        group by t.user_id
        order by t.user_id
        $sql$,
        v_touched
    )
    loop
        perform private.recompute_loads(v_period.user_id, v_period.from_day, v_period.to_day);
    end loop;
    return null;
end;
$$;
comment on function private.ftp_history_apply_changes() is
    'Statement-level AFTER trigger on athlete_ftp_history (insert, update, delete): recomputes '
    'the loads of each touched athlete from the earliest touched effective date until the next '
    'FTP change (private.recompute_loads). Security definer: the athlete changing their FTP '
    'may not write rollups.';

create trigger athlete_ftp_history_loads_insert
after insert on public.athlete_ftp_history
referencing new table as new_rows
for each statement execute function private.ftp_history_apply_changes();

create trigger athlete_ftp_history_loads_update
after update on public.athlete_ftp_history
referencing old table as old_rows new table as new_rows
for each statement execute function private.ftp_history_apply_changes();

create trigger athlete_ftp_history_loads_delete
after delete on public.athlete_ftp_history
referencing old table as old_rows
for each statement execute function private.ftp_history_apply_changes();

-- Settings that change every load --------------------------------------------------------------

create function private.athlete_settings_apply_load_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_changed uuid[];
begin
    if tg_op = 'INSERT' then
        v_changed := array(
            select n.user_id
            from new_rows as n
            where num_nonnulls(
                n.max_heart_rate, n.resting_heart_rate, n.threshold_heart_rate, n.sex
            ) > 0
        );
    else
        execute $sql$
            select array(
                select n.user_id
                from new_rows as n
                inner join old_rows as o on n.user_id = o.user_id
                where
                    (n.max_heart_rate, n.resting_heart_rate, n.threshold_heart_rate, n.sex)
                    is distinct from
                    (o.max_heart_rate, o.resting_heart_rate, o.threshold_heart_rate, o.sex)
            )
        $sql$ into v_changed;
    end if;
    if cardinality(v_changed) > 0 then
        perform private.rollups_recompute(v_changed);
    end if;
    return null;
end;
$$;
comment on function private.athlete_settings_apply_load_changes() is
    'Statement-level AFTER trigger on athlete_settings (insert, update): a change of the heart '
    'rates or sex, which every heart-rate load depends on, recomputes the athlete''s rollups; '
    'time zone, units, pace and zones leave them alone. Security definer: the athlete may not '
    'write rollups.';

create trigger athlete_settings_loads_insert
after insert on public.athlete_settings
referencing new table as new_rows
for each statement execute function private.athlete_settings_apply_load_changes();

create trigger athlete_settings_loads_update
after update on public.athlete_settings
referencing old table as old_rows new table as new_rows
for each statement execute function private.athlete_settings_apply_load_changes();

revoke all on function private.rollups_delta_sql(text) from public, anon, authenticated;
revoke all on function private.rollups_recompute(uuid[]) from public, anon, authenticated;
revoke all on function private.recompute_loads(uuid, date, date)
from public, anon, authenticated;
revoke all on function private.ftp_history_apply_changes() from public, anon, authenticated;
revoke all on function private.athlete_settings_apply_load_changes()
from public, anon, authenticated;
grant execute on function private.rollups_recompute(uuid[]) to service_role;
grant execute on function private.recompute_loads(uuid, date, date) to service_role;
