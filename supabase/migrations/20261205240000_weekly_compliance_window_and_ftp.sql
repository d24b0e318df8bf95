-- public.weekly_compliance: both issue-16's window (grouped by the stored workouts.planned_week,
-- so that a filter on user_id and week_start is an index range of workouts_user_week_idx) and
-- issue-18's loads (the FTP in force on each activity's date). 20261205200100 and
-- 20261205220100 each replaced the view, the later one without the former's window.

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
group by w.user_id, w.planned_week;

comment on view public.weekly_compliance is
    'Planned vs completed per athlete and local ISO week (of planned_date): planned and '
    'completed workout counts, durations (s), distances (m) and loads (training stress score '
    'units, with the FTP in force on each activity''s date), completion_rate = completed_count '
    '/ planned_count. A workout is completed when its completed_activity_id names a live '
    'activity the caller may read (set by hand or by public.match_workouts); completed figures '
    'are that activity''s. Runs as the caller: a coach counts as completed only workouts '
    'fulfilled by activities the coach may read. A filter on user_id and week_start reads that '
    'window''s workouts only (index workouts_user_week_idx).';
