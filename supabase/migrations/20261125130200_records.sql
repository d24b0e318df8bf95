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

create table public.personal_record_entries (
    user_id uuid not null references public.users (id) on delete cascade,
    shareable_only boolean not null,
    activity_type public.activity_type not null,
    record text not null,
    standard_distance double precision,
    value double precision not null,
    activity_id bigint not null,
    start_date timestamptz not null,
    achieved_on date not null,
    constraint personal_record_entries_key unique nulls not distinct (
        user_id, activity_type, record, standard_distance, shareable_only
    ),
    constraint personal_record_entries_record_known check (
        record in ('longest_distance', 'longest_duration', 'biggest_climb', 'fastest')
    ),
    constraint personal_record_entries_value_finite check (
        value > '-Infinity' and value < 'Infinity'
    ),
    constraint personal_record_entries_standard_distance_finite check (
        standard_distance > '-Infinity' and standard_distance < 'Infinity'
    )
);

create index personal_record_entries_activity_id_idx
on public.personal_record_entries (activity_id);

comment on table public.personal_record_entries is
    'The personal records behind public.personal_records, per athlete, sport, record and '
    'scope, maintained incrementally by a trigger on activities. RLS: the athlete and admins '
    'read the all-activities scope, a coach with an active grant the shareable scope.';

comment on column public.personal_record_entries.shareable_only is
    'Scope: false = over every counted activity (the athlete''s view), true = over shareable '
    'activities only (not private, not Strava-sourced: the coach''s view).';

comment on column public.personal_record_entries.record is
    'longest_distance (m), longest_duration (s), biggest_climb (m) or fastest (s over '
    'standard_distance).';

comment on column public.personal_record_entries.standard_distance is
    'For fastest: the standard distance in m; null for the other records.';

comment on column public.personal_record_entries.value is
    'The record: m for distances and climbs, s for durations and times.';

comment on column public.personal_record_entries.activity_id is
    'The activity that holds the record (the earliest one on a tie); no foreign key: the '
    'trigger replaces the entry in the statement that deletes the activity.';

comment on column public.personal_record_entries.start_date is
    'Start of the record-holding activity (the tie-break: earlier wins).';

comment on column public.personal_record_entries.achieved_on is
    'Local calendar day the record-holding activity started.';

alter table public.personal_record_entries enable row level security;

revoke all on table public.personal_record_entries from anon, authenticated, service_role;

grant select on table public.personal_record_entries to authenticated, service_role;

create policy personal_record_entries_select on public.personal_record_entries
for select to authenticated
using (
    user_id = any(array(select private.readable_user_ids()))
    and shareable_only = not (user_id = (select auth.uid()) or (select private.is_admin()))
);

comment on policy personal_record_entries_select on public.personal_record_entries is
    'An athlete reads their own records over every activity; a coach with an active grant '
    'reads the athlete''s records over shareable activities only; an admin reads every '
    'athlete''s full records.';

-- The record candidates of some activities (static SQL: its plan is cached per session).
create function private.personal_record_candidates(p_ids bigint[])
returns table (
    user_id uuid,
    shareable_only boolean,
    activity_type public.activity_type,
    record text,
    standard_distance double precision,
    value double precision,
    lower_is_better boolean,
    activity_id bigint,
    start_date timestamptz,
    achieved_on date
)
language plpgsql
stable
set search_path = ''
as $$
begin
    return query
        select
            a.user_id,
            s.shareable_only,
            a.activity_type,
            r.record,
            r.standard_distance,
            r.value,
            r.lower_is_better,
            a.id,
            a.start_date,
            a.start_date_local::date
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
                'fastest',
                d.distance,
                coalesce(a.moving_time, a.elapsed_time) * d.distance / a.distance,
                true
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
            ) as d (family, distance)
            where
                a.distance >= d.distance
                and d.family = case
                    when a.activity_type in (
                        'run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run'
                    ) then 'run'
                    when a.activity_type in (
                        'ride', 'mountain_bike_ride', 'gravel_ride', 'virtual_ride',
                        'indoor_ride', 'handcycle', 'velomobile'
                    ) then 'ride'
                    when a.activity_type in ('swim', 'open_water_swim') then 'swim'
                end
        ) as r (record, standard_distance, value, lower_is_better)
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
            and r.value > 0;
end;
$$;

comment on function private.personal_record_candidates(bigint[]) is
    'The record candidates (athlete, scope, sport, record, standard distance, value, activity) '
    'of the given activities as they are now, counted ones only (primary, not deleted); the '
    'shareable scope only for shareable activities.';

revoke all on function private.personal_record_candidates(bigint[])
from public, anon, authenticated;

create function private.personal_records_upsert(p_ids bigint[])
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    insert into public.personal_record_entries as e (
        user_id, shareable_only, activity_type, record, standard_distance, value,
        activity_id, start_date, achieved_on
    )
    select distinct on (c.user_id, c.activity_type, c.record, c.standard_distance, c.shareable_only)
        c.user_id, c.shareable_only, c.activity_type, c.record, c.standard_distance, c.value,
        c.activity_id, c.start_date, c.achieved_on
    from private.personal_record_candidates(p_ids) as c
    order by
        c.user_id, c.activity_type, c.record, c.standard_distance, c.shareable_only,
        case when c.lower_is_better then c.value else -c.value end,
        c.start_date,
        c.activity_id
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
    'The given activities compete with the stored personal records: the best candidate per '
    'key replaces the record where it is better (lower time for fastest, higher value '
    'otherwise; ties: earlier start, then lower id). Security definer: called by the '
    'activities trigger on behalf of any writer, it writes personal_record_entries.';

revoke all on function private.personal_records_upsert(bigint[])
from public, anon, authenticated;

create function private.personal_records_recompute(p_user_ids uuid[], p_types text[])
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_user uuid;
begin
    if p_user_ids is null then
        -- Everyone, athlete by athlete (bounded arrays).
        delete from public.personal_record_entries;
        for v_user in select u.id from public.users as u order by u.id loop
            perform private.personal_records_upsert(
                array(select a.id from public.activities as a where a.user_id = v_user)
            );
        end loop;
        return;
    end if;
    -- (athlete, sport) pairs given as parallel arrays.
    delete from public.personal_record_entries as e
    where (e.user_id, e.activity_type::text) in (select * from unnest(p_user_ids, p_types));
    perform private.personal_records_upsert(
        array(
            select a.id
            from public.activities as a
            inner join unnest(p_user_ids, p_types) as p (user_id, activity_type)
                on a.user_id = p.user_id and a.activity_type::text = p.activity_type
        )
    );
end;
$$;

comment on function private.personal_records_recompute(uuid[], text[]) is
    'Recomputes the personal records of the given (athlete, sport) pairs (parallel arrays; '
    'null: everyone) from their activities. Security definer: called by the activities trigger '
    'on behalf of any writer, it writes personal_record_entries, which no API role may.';

revoke all on function private.personal_records_recompute(uuid[], text[])
from public, anon, authenticated;

grant execute on function private.personal_records_recompute(uuid[], text[]) to service_role;

create function private.personal_records_apply_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_changed bigint[];
    v_users uuid[];
    v_types text[];
begin
    if tg_op = 'INSERT' then
        -- The rows as they are now, not as inserted: the duplicate grouping's trigger (which
        -- fires first) may already have made some of them copies.
        perform private.personal_records_upsert(array(select n.id from new_rows as n));
        return null;
    end if;
    if tg_op = 'DELETE' then
        -- Deleted record holders: their (athlete, sport) is recomputed.
        select array_agg(p.user_id), array_agg(p.activity_type)
        into v_users, v_types
        from (
            select distinct o.user_id, o.activity_type::text as activity_type
            from old_rows as o
            inner join public.personal_record_entries as e on o.id = e.activity_id
        ) as p;
        if v_users is not null then
            perform private.personal_records_recompute(v_users, v_types);
        end if;
        return null;
    end if;
    -- Rows whose record inputs changed, found by hashing (EXCEPT), not by joining the two
    -- transition tables: a re-sync touches every row of a page and changes none of them.
    select array_agg(c.id) into v_changed
    from (
        select
            n.id, n.user_id, n.activity_type, n.distance, n.moving_time, n.elapsed_time,
            n.elevation_gain, n.start_date, n.utc_offset, n.deleted_at, n.primary_activity_id,
            n.is_private, n.provider, n.primary_hidden
        from new_rows as n
        except
        select
            o.id, o.user_id, o.activity_type, o.distance, o.moving_time, o.elapsed_time,
            o.elevation_gain, o.start_date, o.utc_offset, o.deleted_at, o.primary_activity_id,
            o.is_private, o.provider, o.primary_hidden
        from old_rows as o
    ) as c;
    if v_changed is null then
        return null;
    end if;
    -- Changed record holders: their (athlete, sport) is recomputed.
    select array_agg(p.user_id), array_agg(p.activity_type)
    into v_users, v_types
    from (
        select distinct o.user_id, o.activity_type::text as activity_type
        from old_rows as o
        inner join public.personal_record_entries as e on o.id = e.activity_id
        where o.id = any(v_changed)
    ) as p;
    if v_users is not null then
        perform private.personal_records_recompute(v_users, v_types);
    end if;
    -- Changed rows compete with the records (a new best, or a row that now counts), as they
    -- are now (a later trigger of this statement may have changed them again).
    perform private.personal_records_upsert(v_changed);
    return null;
end;
$$;

comment on function private.personal_records_apply_changes() is
    'Statement-level AFTER trigger on activities: inserted and changed rows compete with the '
    'stored personal records; the records of an (athlete, sport) whose record holder changed or '
    'went are recomputed. Security definer: fired by any writer, it maintains '
    'personal_record_entries, which no API role may write.';

revoke all on function private.personal_records_apply_changes() from public, anon, authenticated;

create trigger activities_personal_records_insert
after insert on public.activities
referencing new table as new_rows
for each statement execute function private.personal_records_apply_changes();

create trigger activities_personal_records_update
after update on public.activities
referencing old table as old_rows new table as new_rows
for each statement execute function private.personal_records_apply_changes();

create trigger activities_personal_records_delete
after delete on public.activities
referencing old table as old_rows
for each statement execute function private.personal_records_apply_changes();

create function public.rebuild_personal_records(p_user_id uuid default null)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    if p_user_id is null then
        perform private.personal_records_recompute(null, null);
    else
        perform private.personal_records_recompute(
            array(select p_user_id from unnest(enum_range(null::public.activity_type))),
            array(select t::text from unnest(enum_range(null::public.activity_type)) as t)
        );
    end if;
end;
$$;

comment on function public.rebuild_personal_records(uuid) is
    'Rebuilds public.personal_record_entries from the activities: one athlete, or everyone '
    'when p_user_id is null (after a bulk load with triggers disabled). Service role only.';

revoke all on function public.rebuild_personal_records(uuid) from public, anon, authenticated;

grant execute on function public.rebuild_personal_records(uuid) to service_role;

create view public.personal_records
with (security_invoker = true) as
select
    e.user_id,
    e.activity_type,
    e.record,
    e.standard_distance,
    e.value,
    e.activity_id,
    e.achieved_on
from public.personal_record_entries as e
-- API callers get one scope per athlete from RLS; other roles (workers) the full records.
where not e.shareable_only or current_user = 'authenticated';

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

comment on view public.personal_records is
    'Personal records per athlete and sport (activity_type), from activity summaries over '
    'primary live activities: longest_distance, longest_duration, biggest_climb and fastest at '
    'standard distances (running 1, 5, 10, 21.0975, 42.195 km; cycling 20, 40, 100 km; '
    'swimming 400, 1500 m), where an activity at least that long counts with its average pace '
    '(time scaled linearly; migration 20261125130200_records.sql). Read from '
    'personal_record_entries, kept incrementally by triggers on activities. Runs as the '
    'caller: a coach''s records leave out private and Strava-sourced activities.';
