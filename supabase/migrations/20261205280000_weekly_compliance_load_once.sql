-- public.weekly_compliance at the cost of its window (issue 16). Its completed_load called
-- private.activity_training_load with private.load_preferences(...) as an argument: both SQL
-- functions are inlined, so the planner copied the whole settings overlay (a jsonb concat of
-- jsonb_build_object, ~40 times: once per preference read) into the aggregate. That cost
-- ~2.5 ms of planning on every read and ~0.3 ms of execution per completed workout, so the
-- athlete who completes the most paid the most (the heaviest 10 ms vs the median 8 ms on
-- the 12-week window). The load of one fulfilling activity is now one call of a plpgsql
-- function (never inlined: its plans are cached per session) that builds the preferences
-- once; workouts without a live readable activity make no call (their load was 0, and the
-- sum of the others is the same). Same joins, same RLS, same columns and results.

create or replace function private.activity_load_with_settings(
    p_activity_type public.activity_type,
    p_moving_time integer,
    p_elapsed_time integer,
    p_average_heartrate real,
    p_weighted_average_watts real,
    p_average_watts real,
    p_preferences jsonb,
    p_max_heart_rate smallint,
    p_resting_heart_rate smallint,
    p_threshold_heart_rate smallint,
    p_sex text,
    p_ftp_w smallint
)
returns real
language plpgsql
stable
parallel safe
set search_path = ''
as $$
declare
    v_preferences jsonb := private.load_preferences(
        p_preferences, p_max_heart_rate, p_resting_heart_rate, p_threshold_heart_rate, p_sex,
        p_ftp_w
    );
begin
    return (
        private.activity_training_load(
            p_activity_type, p_moving_time, p_elapsed_time, p_average_heartrate,
            p_weighted_average_watts, p_average_watts, v_preferences
        )
    ).load;
end;
$$;

comment on function private.activity_load_with_settings(
    public.activity_type, integer, integer, real, real, real, jsonb, smallint, smallint,
    smallint, text, smallint
) is
    'Training load of one activity (private.activity_training_load) with the preferences '
    'overlaid once by private.load_preferences (users.preferences, the athlete settings, the '
    'FTP in force): the same value as inlining both, without copying the overlay into every '
    'preference the formulas read. Pure arithmetic on its arguments (reads no table), '
    'evaluated by the security invoker view public.weekly_compliance under the caller''s RLS.';

revoke all on function private.activity_load_with_settings(
    public.activity_type, integer, integer, real, real, real, jsonb, smallint, smallint,
    smallint, text, smallint
) from public;
grant execute on function private.activity_load_with_settings(
    public.activity_type, integer, integer, real, real, real, jsonb, smallint, smallint,
    smallint, text, smallint
) to authenticated, service_role;

create or replace view public.weekly_compliance
with (security_invoker = true) as
select
    w.user_id,
    w.planned_week as week_start,
    count(*) as planned_count,
    count(a.id) as completed_count,
    coalesce(sum(w.planned_duration), 0) as planned_duration,
    coalesce(sum(coalesce(a.moving_time, a.elapsed_time)), 0) as completed_duration,
    coalesce(sum(w.planned_distance), 0) as planned_distance,
    coalesce(sum(a.distance), 0) as completed_distance,
    coalesce(sum(w.planned_load), 0) as planned_load,
    coalesce(
        sum(
            case
                when a.id is not null
                    then private.activity_load_with_settings(
                        a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
                        a.weighted_average_watts, a.average_watts,
                        u.preferences, s.max_heart_rate, s.resting_heart_rate,
                        s.threshold_heart_rate, s.sex, f.ftp_w
                    )
            end
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
group by w.user_id, w.planned_week;

comment on view public.weekly_compliance is
    'Planned vs completed per athlete and local ISO week (of planned_date): planned and '
    'completed workout counts, durations (s), distances (m) and loads (training stress score '
    'units, with the FTP in force on each activity''s date), completion_rate = completed_count '
    '/ planned_count. A workout is completed when its completed_activity_id names a live '
    'activity the caller may read (set by hand or by public.match_workouts); completed figures '
    'are that activity''s. Runs as the caller: a coach counts as completed only workouts '
    'fulfilled by activities the coach may read. A filter on user_id and week_start reads that '
    'window''s workouts only (index workouts_user_week_idx); each completed workout''s load is '
    'one call of private.activity_load_with_settings.';
