-- Training load: one number per activity, then fitness (CTL), fatigue (ATL) and form (TSB) per
-- day. Formulas and what peers do: ../shared/docs/peers.md, section 5.
--
-- Load is in training-stress-score units (100 = one hour at threshold), the unit of
-- workouts.planned_load, whatever the method:
--
-- power       TSS (Coggan) from the activity's weighted (normalised) power NP, or its average
--             power when the source gives no weighted power, and the athlete's FTP:
--             IF = NP / FTP, TSS = t_s x NP x IF / (FTP x 3600) x 100 = t_s x IF^2 / 36.
--             Cycling uses preferences.ftp, running preferences.run_ftp (running power is on
--             another scale); other sports and e-bikes (motor power) never use power.
-- heart_rate  Banister TRIMP from the average heart rate, normalised to hrTSS (Dreeve):
--             HRR = (avg HR - resting) / (max - resting), clamped to [0, 1];
--             TRIMP = minutes x HRR x e^(k x HRR), k = 1.92 (male, and the default) or 1.67
--             (preferences.sex = 'female'); hrTSS = 100 x TRIMP / TRIMP_thr with
--             TRIMP_thr = 60 x HRR_thr x e^(k x HRR_thr), one hour at the threshold heart rate.
-- duration    neither of the above: a flat rate per hour, preferences.duration_load_per_hour,
--             default 50 (one hour at IF 0.71, steady endurance) or 25 for low-intensity sports
--             (walk, yoga, pilates, physical_therapy, golf, sail, e-bikes).
--
-- Preferences (users.preferences, numbers or numeric strings; anything else is ignored) and
-- their defaults when missing or unusable: ftp, run_ftp (W, no default: without them the power
-- method is skipped); resting_heart_rate 60 and max_heart_rate 190 bpm (both defaults when max
-- <= resting); threshold_heart_rate (bpm) default resting + 0.85 x (max - resting), i.e.
-- HRR_thr 0.85 (85 % of heart-rate reserve, Karvonen's usual threshold estimate); sex;
-- duration_load_per_hour; ctl_days 42 and atl_days 7 (time constants, >= 1 day).
-- The time of an activity is moving_time, else elapsed_time.

create type private.training_load as (
    load real,
    method text
);

comment on type private.training_load is
    'The training load of one activity: load in training stress score units (100 = one hour '
    'at threshold) and the method that produced it: power (TSS from weighted power and FTP), '
    'heart_rate (Banister TRIMP normalised to hrTSS) or duration (flat rate per hour).';

create function private.load_preference(p_preferences jsonb, p_key text)
returns double precision
language sql
immutable
parallel safe
-- SQL body: inlined into the load expression (no SET clause, names schema-qualified). The
-- pattern bounds the number, so the cast never raises.
as $$
    select case
        when
            jsonb_typeof(p_preferences -> p_key) in ('number', 'string')
            and (p_preferences ->> p_key) ~ '^\s*[0-9]{1,6}(\.[0-9]{1,9})?\s*$'
            -- the cast sits in the THEN branch, which the planner folds only when the
            -- pattern matched
            then nullif(btrim(p_preferences ->> p_key)::double precision, 0)
    end;
$$;

comment on function private.load_preference(jsonb, text) is
    'A positive number from an athlete''s preferences (a JSON number or numeric string, plain '
    'decimal notation below one million); null when missing, not such a number, or zero. '
    'Never raises.';

revoke all on function private.load_preference(jsonb, text) from public, anon;

-- Pure arithmetic on the caller's own inputs, no data access: public.activity_loads and
-- public.training_load_series run as the caller and evaluate it.
grant execute on function private.load_preference(jsonb, text) to authenticated, service_role;

create function private.heart_rate_reserve(p_heart_rate double precision, p_preferences jsonb)
returns double precision
language sql
immutable
parallel safe
as $$
    select least(1.0, greatest(0.0,
        (p_heart_rate - case
            when coalesce(private.load_preference(p_preferences, 'max_heart_rate'), 190)
                > coalesce(private.load_preference(p_preferences, 'resting_heart_rate'), 60)
                then coalesce(private.load_preference(p_preferences, 'resting_heart_rate'), 60)
            else 60
        end)
        / (case
            when coalesce(private.load_preference(p_preferences, 'max_heart_rate'), 190)
                > coalesce(private.load_preference(p_preferences, 'resting_heart_rate'), 60)
                then coalesce(private.load_preference(p_preferences, 'max_heart_rate'), 190)
                - coalesce(private.load_preference(p_preferences, 'resting_heart_rate'), 60)
            else 130
        end)
    ));
$$;

comment on function private.heart_rate_reserve(double precision, jsonb) is
    'Fraction of heart-rate reserve, (HR - resting) / (max - resting) clamped to [0, 1], with '
    'the athlete''s resting_heart_rate and max_heart_rate preferences (defaults 60 and 190 bpm, '
    'both used when max <= resting).';

revoke all on function private.heart_rate_reserve(double precision, jsonb) from public, anon;

grant execute on function private.heart_rate_reserve(double precision, jsonb)
to authenticated, service_role;

create function private.threshold_heart_rate_reserve(p_preferences jsonb)
returns double precision
language sql
immutable
parallel safe
as $$
    select case
        when private.heart_rate_reserve(
            private.load_preference(p_preferences, 'threshold_heart_rate'), p_preferences
        ) > 0
            then private.heart_rate_reserve(
                private.load_preference(p_preferences, 'threshold_heart_rate'), p_preferences
            )
        else 0.85
    end;
$$;

comment on function private.threshold_heart_rate_reserve(jsonb) is
    'Heart-rate reserve fraction at threshold (HRR_thr): from preferences.threshold_heart_rate '
    'when it lies above the resting heart rate, else 0.85.';

revoke all on function private.threshold_heart_rate_reserve(jsonb) from public, anon;

grant execute on function private.threshold_heart_rate_reserve(jsonb)
to authenticated, service_role;

create function private.trimp_weighting(p_preferences jsonb)
returns double precision
language sql
immutable
parallel safe
as $$
    select case
        when lower(btrim(p_preferences ->> 'sex')) in ('female', 'f') then 1.67
        else 1.92
    end;
$$;

comment on function private.trimp_weighting(jsonb) is
    'Banister''s weighting factor k: 1.67 when preferences.sex is female, else 1.92 (male, and '
    'the default when the sex is not given).';

revoke all on function private.trimp_weighting(jsonb) from public, anon;

grant execute on function private.trimp_weighting(jsonb) to authenticated, service_role;

create function private.sport_ftp(p_activity_type public.activity_type, p_preferences jsonb)
returns double precision
language sql
immutable
parallel safe
as $$
    select case
        when p_activity_type in (
            'ride', 'mountain_bike_ride', 'gravel_ride', 'virtual_ride', 'indoor_ride',
            'handcycle', 'velomobile'
        ) then private.load_preference(p_preferences, 'ftp')
        when p_activity_type in ('run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run')
            then private.load_preference(p_preferences, 'run_ftp')
    end;
$$;

comment on function private.sport_ftp(public.activity_type, jsonb) is
    'The functional threshold power (W) that applies to a sport: preferences.ftp for cycling '
    '(not e-bikes), preferences.run_ftp for running, null otherwise or when not set.';

revoke all on function private.sport_ftp(public.activity_type, jsonb) from public, anon;

grant execute on function private.sport_ftp(public.activity_type, jsonb)
to authenticated, service_role;

create function private.activity_training_load(
    p_activity_type public.activity_type,
    p_moving_time integer,
    p_elapsed_time integer,
    p_average_heartrate real,
    p_weighted_average_watts real,
    p_average_watts real,
    p_preferences jsonb
)
returns private.training_load
language sql
immutable
parallel safe
-- SQL body, one expression: the planner inlines it (and its helpers) into the rollup
-- and view queries. The FTP and power expressions are repeated rather than named; the planner
-- evaluates each cheaply.
as $$
    select row(
        case
            when coalesce(p_moving_time, p_elapsed_time, 0) <= 0 then 0
            -- power: t_s x IF^2 / 36
            when private.sport_ftp(p_activity_type, p_preferences) > 0
                and coalesce(nullif(p_weighted_average_watts, 0), nullif(p_average_watts, 0)) > 0
                then coalesce(p_moving_time, p_elapsed_time) * power(
                    coalesce(nullif(p_weighted_average_watts, 0), nullif(p_average_watts, 0))
                    / private.sport_ftp(p_activity_type, p_preferences),
                    2
                ) / 36.0
            -- heart rate: 100 x TRIMP / TRIMP_thr
            when p_average_heartrate > 0
                then 100.0 * (coalesce(p_moving_time, p_elapsed_time) / 60.0)
                * private.heart_rate_reserve(p_average_heartrate, p_preferences)
                * exp(
                    private.trimp_weighting(p_preferences)
                    * private.heart_rate_reserve(p_average_heartrate, p_preferences)
                )
                / (
                    60.0 * private.threshold_heart_rate_reserve(p_preferences)
                    * exp(
                        private.trimp_weighting(p_preferences)
                        * private.threshold_heart_rate_reserve(p_preferences)
                    )
                )
            -- duration: a flat rate per hour
            else coalesce(p_moving_time, p_elapsed_time) / 3600.0 * coalesce(
                private.load_preference(p_preferences, 'duration_load_per_hour'),
                case
                    when p_activity_type in (
                        'walk', 'yoga', 'pilates', 'physical_therapy', 'golf', 'sail',
                        'e_bike_ride', 'e_mountain_bike_ride'
                    ) then 25.0
                    else 50.0
                end
            )
        end,
        case
            when coalesce(p_moving_time, p_elapsed_time, 0) <= 0 then 'duration'
            when private.sport_ftp(p_activity_type, p_preferences) > 0
                and coalesce(nullif(p_weighted_average_watts, 0), nullif(p_average_watts, 0)) > 0
                then 'power'
            when p_average_heartrate > 0 then 'heart_rate'
            else 'duration'
        end
    )::private.training_load;
$$;

comment on function private.activity_training_load(
    public.activity_type, integer, integer, real, real, real, jsonb
) is
    'Training load of one activity (type, moving and elapsed time in s, average heart rate in '
    'bpm, weighted and average power in W, the athlete''s preferences): power TSS when the '
    'sport has an FTP in the preferences and the activity has power, else heart-rate TRIMP '
    'normalised to hrTSS when it has an average heart rate, else a flat rate per hour '
    '(formulas and defaults: migration 20261125130100_training_load.sql). No time gives 0.';

revoke all on function private.activity_training_load(
    public.activity_type, integer, integer, real, real, real, jsonb
) from public, anon;

grant execute on function private.activity_training_load(
    public.activity_type, integer, integer, real, real, real, jsonb
) to authenticated, service_role;

-- Each activity's load ---------------------------------------------------------------------

create view public.activity_loads
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
            a.weighted_average_watts, a.average_watts, u.preferences
        )
    ).load as load,
    (
        private.activity_training_load(
            a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,
            a.weighted_average_watts, a.average_watts, u.preferences
        )
    ).method as method
from public.activities as a
inner join public.users as u on a.user_id = u.id
where a.deleted_at is null;

comment on view public.activity_loads is
    'The training load of every live (not soft-deleted) activity, with the athlete''s current '
    'preferences: load in training stress score units and the method (power, heart_rate, '
    'duration; private.activity_training_load). Runs as the caller: an athlete sees their own, '
    'a coach what RLS on activities lets the coach read (no private, no Strava-sourced rows).';

comment on column public.activity_loads.local_date is
    'Local calendar day of the start (start_date_local), the day the load counts on.';

comment on column public.activity_loads.is_primary is
    'True for the copy that statistics count (activities.primary_activity_id is null); false '
    'for the other copies of a workout recorded by several providers.';

comment on column public.activity_loads.load is
    'Training load in training stress score units (100 = one hour at threshold).';

comment on column public.activity_loads.method is
    'How the load was computed: power (TSS), heart_rate (TRIMP as hrTSS) or duration (flat '
    'rate per hour).';

revoke all on public.activity_loads from anon, authenticated;

grant select on public.activity_loads to authenticated, service_role;

-- Fitness, fatigue and form ----------------------------------------------------------------
-- The recurrence (peers.md section 5; GoldenCheetah PMCData.cpp, Dreeve TrainingMetrics.php,
-- the intervals.icu constants): for each local day d with load L_d (the sum over the athlete's
-- primary, live activities that started on d; 0 on rest days),
--
--     CTL_d = CTL_{d-1} + (L_d - CTL_{d-1}) x (1 - e^(-1/ctl_days))
--     ATL_d = ATL_{d-1} + (L_d - ATL_{d-1}) x (1 - e^(-1/atl_days))
--     TSB_d = CTL_d - ATL_d
--
-- Why 1 - e^(-1/tau) rather than the simple 1/tau: it is the exact daily step of an exponential
-- decay with time constant tau (what "42-day fitness" means), it is what GoldenCheetah, Dreeve
-- and intervals.icu use (0.023528 and 0.133122 for 42 and 7 days), so an athlete comparing
-- numbers with those tools sees the same values; 1/tau overstates the daily weight by 1.2 % at
-- 42 days and 7.4 % at 7 days. TSB is the same day's CTL - ATL (Dreeve; form after the day's
-- training), not GoldenCheetah's default of showing it on the following day. CTL and ATL start
-- at 0 before the athlete's first load (GoldenCheetah; Dreeve seeds with the first day's load).
--
-- How: the state on p_from - 1 is computed in closed form,
-- CTL_{f-1} = alpha x sum over j < f of L_j x e^(-(f-1-j)/tau), over the 40 x tau days before
-- p_from (an older load weighs less than e^-40, below double precision), then a recursive CTE
-- steps the recurrence over p_from .. p_to. Daily loads come from the daily-load rollup
-- (public.daily_loads, migration 20261125130400_rollups.sql, maintained incrementally), read
-- under the caller's RLS: a coach reads only its shareable rows (no private, no Strava-sourced
-- activity), so the coach's series is the one the coach could sum row by row. The function is
-- plpgsql, so daily_loads (a later migration) is resolved when it first runs.

create function public.training_load_series(p_user_id uuid, p_from date, p_to date)
returns table (
    day date,
    load double precision,
    ctl double precision,
    atl double precision,
    tsb double precision
)
language plpgsql
stable
set search_path = ''
as $$
declare
    v_preferences jsonb;
    v_ctl_days double precision;
    v_atl_days double precision;
    v_history_from date;
    v_days date[];
    v_loads double precision[];
    v_window double precision[];
    v_ctl0 double precision;
    v_atl0 double precision;
begin
    if p_user_id is null or p_from is null or p_to is null or p_to < p_from then
        raise exception 'training_load_series needs a user id and p_from <= p_to'
            using errcode = '22023';
    end if;
    if p_to - p_from >= 7305 then
        raise exception 'training_load_series covers at most 20 years (asked % days)',
            p_to - p_from + 1
            using errcode = '22023';
    end if;
    -- Under RLS: a user whose profile the caller cannot read has no series for the caller.
    select u.preferences into v_preferences from public.users as u where u.id = p_user_id;
    if not found then
        return;
    end if;
    v_ctl_days := case
        when private.load_preference(v_preferences, 'ctl_days') >= 1
            then private.load_preference(v_preferences, 'ctl_days')
        else 42
    end;
    v_atl_days := case
        when private.load_preference(v_preferences, 'atl_days') >= 1
            then private.load_preference(v_preferences, 'atl_days')
        else 7
    end;
    v_history_from := p_from - ceil(40 * greatest(v_ctl_days, v_atl_days))::integer;

    -- A day has a shareable and a non-shareable row; RLS on daily_loads gives a coach only
    -- the shareable one.
    select
        array_agg(t.day order by t.day),
        array_agg(t.total order by t.day)
    into v_days, v_loads
    from (
        select dl.day, sum(dl.load)::double precision as total
        from public.daily_loads as dl
        where dl.user_id = p_user_id and dl.day between v_history_from and p_to
        group by dl.day
    ) as t;

    select
        coalesce(sum(h.load * exp(greatest(-(p_from - 1 - h.day) / v_ctl_days, -700))), 0)
        * (1 - exp(-1 / v_ctl_days)),
        coalesce(sum(h.load * exp(greatest(-(p_from - 1 - h.day) / v_atl_days, -700))), 0)
        * (1 - exp(-1 / v_atl_days))
    into v_ctl0, v_atl0
    from unnest(v_days, v_loads) as h (day, load)
    where h.day < p_from;

    select array_agg(coalesce(h.load, 0) order by g.d)
    into v_window
    from generate_series(p_from, p_to, interval '1 day') as g (d)
    left join unnest(v_days, v_loads) as h (day, load) on h.day = g.d::date;

    return query
    with recursive series (n, ctl, atl) as (
        select 0, v_ctl0, v_atl0
        union all
        select
            s.n + 1,
            s.ctl + (v_window[s.n + 1] - s.ctl) * (1 - exp(-1 / v_ctl_days)),
            s.atl + (v_window[s.n + 1] - s.atl) * (1 - exp(-1 / v_atl_days))
        from series as s
        where s.n < cardinality(v_window)
    )
    select p_from + s.n - 1, v_window[s.n], s.ctl, s.atl, s.ctl - s.atl
    from series as s
    where s.n >= 1
    order by s.n;
end;
$$;

comment on function public.training_load_series(uuid, date, date) is
    'Daily training load, fitness (ctl), fatigue (atl) and form (tsb = ctl - atl) of an athlete '
    'from p_from to p_to (local days, at most 20 years), with the athlete''s time constants '
    '(preferences.ctl_days, default 42; atl_days, default 7): X_d = X_{d-1} + (load_d - '
    'X_{d-1}) x (1 - e^(-1/days)), starting from 0 before the first load; all history before '
    'p_from counts. Loads in training stress score units, primary live activities only. Runs '
    'as the caller: a coach''s series leaves out the private and Strava-sourced activities; a '
    'user the caller cannot read gives no rows.';

revoke all on function public.training_load_series(uuid, date, date) from public, anon;

grant execute on function public.training_load_series(uuid, date, date)
to authenticated, service_role;
