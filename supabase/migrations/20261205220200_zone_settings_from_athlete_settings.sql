-- The zones read the athlete's settings (issue 18): private.athlete_zone_settings, the one place
-- the zone computations read settings from (migration 20261205210100), now takes them from
-- public.athlete_settings and the FTP from public.athlete_ftp_history as in force on p_on.
-- Same signature and columns. Each value falls back to the legacy users.preferences key when
-- the settings leave it unset (as the training load does, migration 20261205220100); run_ftp
-- has no setting yet and stays a preferences key.

create or replace function private.athlete_zone_settings(p_user_id uuid, p_on date)
returns table (
    ftp real,
    run_ftp real,
    max_heart_rate real,
    resting_heart_rate real,
    threshold_heart_rate real,
    threshold_pace real,
    heart_rate_zones real[],
    power_zones real[],
    pace_zones real[],
    units text,
    timezone text
)
language sql
stable
set search_path = ''
as $$
    select
        coalesce(
            (
                select h.ftp_w::real
                from public.athlete_ftp_history as h
                where h.user_id = p_user_id and h.effective_from <= coalesce(p_on, current_date)
                order by h.effective_from desc
                limit 1
            ),
            private.load_preference(p.prefs, 'ftp')::real
        ),
        private.load_preference(p.prefs, 'run_ftp')::real,
        coalesce(s.max_heart_rate::real, private.load_preference(p.prefs, 'max_heart_rate')::real),
        coalesce(
            s.resting_heart_rate::real, private.load_preference(p.prefs, 'resting_heart_rate')::real
        ),
        coalesce(
            s.threshold_heart_rate::real,
            private.load_preference(p.prefs, 'threshold_heart_rate')::real
        ),
        coalesce(s.threshold_pace, private.load_preference(p.prefs, 'threshold_pace')::real),
        coalesce(
            private.zone_bounds(s.zones -> 'heart_rate', true),
            private.zone_bounds(p.prefs -> 'heart_rate_zones', true)
        ),
        coalesce(
            private.zone_bounds(s.zones -> 'power', true),
            private.zone_bounds(p.prefs -> 'power_zones', true)
        ),
        coalesce(
            private.zone_bounds(s.zones -> 'pace', false),
            private.zone_bounds(p.prefs -> 'pace_zones', false)
        ),
        coalesce(
            s.units,
            case when p.prefs ->> 'units' in ('metric', 'imperial') then p.prefs ->> 'units' end
        ),
        coalesce(
            s.timezone,
            case
                when p.prefs ->> 'timezone' ~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,3}$'
                    then p.prefs ->> 'timezone'
            end
        )
    from (
        select coalesce(
            (select u.preferences from public.users as u where u.id = p_user_id),
            '{}'::jsonb
        ) as prefs
    ) as p
    left join public.athlete_settings as s on s.user_id = p_user_id;
$$;
comment on function private.athlete_zone_settings(uuid, date) is
    'The zone settings of athlete p_user_id in effect on day p_on, one row, null where unset or '
    'unusable: ftp (W, public.athlete_ftp_history in force on p_on, else preferences.ftp), '
    'run_ftp (W, preferences), max, resting and threshold heart rate (bpm), threshold_pace '
    '(s/km), zone overrides (heart_rate_zones bpm and power_zones W increasing, pace_zones s/km '
    'decreasing: boundaries between zones), units, timezone: from public.athlete_settings, each '
    'falling back to the users.preferences key. Runs under the caller''s RLS (the athlete, a '
    'coach with an active grant, an admin; anyone else gets nulls, i.e. defaults); the one '
    'place zones read settings from.';
