-- Planned vs completed: planned workouts matched to the activities that fulfilled them, and
-- compliance figures per local week.
--
-- Matching (public.match_workouts): a workout without a completed_activity_id is matched to an
-- activity of the same athlete that started on the workout's planned_date (local calendar),
-- in a compatible sport (the same family in public.sport_families, the duplicate grouping's
-- reference table; family generic, i.e. other and workout, is compatible with all), primary
-- and live, and not already linked to another workout. Among candidates the nearest duration
-- wins: the cost of a pair is the relative difference |activity time - planned_duration| /
-- planned_duration (time = moving time, else elapsed time), or of distances when the workout
-- has no planned duration, or 0 when it has neither; ties go to the earlier activity. Pairs are
-- taken greedily by cost over all of the athlete's open workouts, one activity per workout and
-- one workout per activity.
-- A completed_activity_id already set (by the athlete, the coach or an earlier match) is never
-- changed: re-matching only fills the workouts still open, e.g. after new activities arrived.
-- The function runs as the caller, so a coach matches only activities the coach may read.

create function public.match_workouts(
    p_user_id uuid, p_from date default null, p_to date default null
)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_pair record;
    v_used_workouts bigint[] := '{}'::bigint[];
    v_used_activities bigint[] := '{}'::bigint[];
    v_linked integer := 0;
    v_rows integer;
begin
    if p_user_id is null then
        raise exception 'match_workouts needs a user id' using errcode = '22023';
    end if;
    for v_pair in
        select w.id as workout_id, a.id as activity_id
        from public.workouts as w
        inner join public.activities as a
            on
                a.user_id = w.user_id
                -- local and UTC dates differ by at most 18 h: keeps the start_date index usable
                and a.start_date >= w.planned_date - interval '1 day'
                and a.start_date < w.planned_date + interval '2 days'
                and a.start_date_local::date = w.planned_date
        left join public.sport_families as fw on w.activity_type = fw.activity_type
        left join public.sport_families as fa on a.activity_type = fa.activity_type
        where
            w.user_id = p_user_id
            and w.completed_activity_id is null
            and (p_from is null or w.planned_date >= p_from)
            and (p_to is null or w.planned_date <= p_to)
            and a.deleted_at is null
            and a.primary_activity_id is null
            and (
                coalesce(fw.sport_family, w.activity_type::text)
                = coalesce(fa.sport_family, a.activity_type::text)
                or fw.sport_family = 'generic'
                or fa.sport_family = 'generic'
            )
            and not exists (
                select from public.workouts as o
                where o.user_id = a.user_id and o.completed_activity_id = a.id
            )
        order by
            coalesce(
                abs(coalesce(a.moving_time, a.elapsed_time, 0) - w.planned_duration)
                / w.planned_duration::double precision,
                abs(coalesce(a.distance, 0) - w.planned_distance) / w.planned_distance,
                0
            ),
            a.start_date,
            a.id,
            w.id
    loop
        if v_pair.workout_id = any(v_used_workouts)
            or v_pair.activity_id = any(v_used_activities) then
            continue;
        end if;
        update public.workouts as w
        set completed_activity_id = v_pair.activity_id
        where w.id = v_pair.workout_id and w.completed_activity_id is null;
        get diagnostics v_rows = row_count;
        if v_rows > 0 then
            v_linked := v_linked + v_rows;
            v_used_workouts := v_used_workouts || v_pair.workout_id;
            v_used_activities := v_used_activities || v_pair.activity_id;
        end if;
    end loop;
    return v_linked;
end;
$$;

comment on function public.match_workouts(uuid, date, date) is
    'Links the athlete''s open planned workouts (planned_date between p_from and p_to, null '
    'for no bound) to the activities that fulfilled them: same local date, compatible sport '
    '(public.sport_families), primary and live, nearest duration (relative difference; distance '
    'when no duration is planned), one to one; an existing completed_activity_id is kept. '
    'Returns how many workouts it linked. Runs as the caller: the athlete or an active coach '
    'may match, a coach only with activities the coach may read.';

revoke all on function public.match_workouts(uuid, date, date) from public, anon;

grant execute on function public.match_workouts(uuid, date, date) to authenticated, service_role;

-- Compliance per local week ------------------------------------------------------------------

create view public.weekly_compliance
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
                    a.weighted_average_watts, a.average_watts, u.preferences
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
group by w.user_id, date_trunc('week', w.planned_date::timestamp)::date;

comment on view public.weekly_compliance is
    'Planned vs completed per athlete and local ISO week (of planned_date): planned and '
    'completed workout counts, durations (s), distances (m) and loads (training stress score '
    'units), completion_rate = completed_count / planned_count. A workout is completed when its '
    'completed_activity_id names a live activity the caller may read (set by hand or by '
    'public.match_workouts); completed figures are that activity''s. Runs as the caller: a '
    'coach counts as completed only workouts fulfilled by activities the coach may read.';

comment on column public.weekly_compliance.week_start is
    'Monday of the local ISO week of the workouts'' planned_date.';

comment on column public.weekly_compliance.planned_count is 'Workouts planned that week.';

comment on column public.weekly_compliance.completed_count is
    'Of those, workouts fulfilled by an activity the caller may read.';

comment on column public.weekly_compliance.planned_duration is
    'Sum of planned durations in s (workouts without one count 0).';

comment on column public.weekly_compliance.completed_duration is
    'Sum of the fulfilling activities'' moving time (else elapsed time) in s.';

comment on column public.weekly_compliance.planned_distance is 'Sum of planned distances in m.';

comment on column public.weekly_compliance.completed_distance is
    'Sum of the fulfilling activities'' distances in m.';

comment on column public.weekly_compliance.planned_load is
    'Sum of planned loads in training stress score units.';

comment on column public.weekly_compliance.completed_load is
    'Sum of the fulfilling activities'' loads (private.activity_training_load), same units.';

comment on column public.weekly_compliance.completion_rate is
    'completed_count / planned_count, rounded to 4 decimals.';

revoke all on public.weekly_compliance from anon, authenticated;

grant select on public.weekly_compliance to authenticated, service_role;
