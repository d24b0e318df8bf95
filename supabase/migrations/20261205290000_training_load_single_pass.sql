-- The training load of one activity computed in one pass (issue 16). The SQL definition
-- (20261125130100_training_load.sql) is one expression: inlined, its helpers repeat every
-- intermediate, so a heart-rate load worked out the heart-rate reserve 6 times and made ~46
-- preference reads (a jsonb lookup, a pattern match and a cast each: the resting heart rate
-- 24 times, the maximum 18) per activity. Where the preferences argument is an expression
-- (the settings overlay private.load_preferences(...), as in the rollups and
-- public.activity_loads) the planner cannot inline it and runs it as a SQL function per row:
-- the same expression behind a per-call executor start. Rollup maintenance on every ingest,
-- public.rebuild_rollups(), the daily loads and public.weekly_compliance evaluate it per
-- activity.
--
-- Now a plpgsql function reads each preference its branch needs once (the sport's FTP; then
-- the resting, maximum and threshold heart rates and sex; or duration_load_per_hour) and works
-- out each intermediate once. Same formulas written as the same SQL expressions on the same
-- types, so the result is bit-for-bit the previous one for every input: the numeric minutes
-- and hours as before (100.0 x (t / 60.0) and t / 3600.0 in numeric, then double precision),
-- double precision for the reserve, the weighting and the exponentials, the load cast to
-- real at the end; the same defaults, the same NULL and NaN handling (a NaN heart rate or
-- power counts as positive, as `> 0` says), the same errors (a load beyond real raises as it
-- did). tests/analytics/test_load_single_pass.py holds it equal to the previous definition
-- over random inputs; bench/load_function.py measures both (500k activities: 12.2 -> 3.9
-- us per call with the preferences column, 102 -> 5.8 us with the settings overlay).
--
-- Signature, volatility and grants are unchanged: callers keep working. A caller reading both
-- .load and .method of one call evaluates it twice (as it already did when not inlined); a
-- lateral call, or (f(...)).* over a subquery with offset 0, evaluates it once.

create or replace function private.activity_training_load(
    p_activity_type public.activity_type,
    p_moving_time integer,
    p_elapsed_time integer,
    p_average_heartrate real,
    p_weighted_average_watts real,
    p_average_watts real,
    p_preferences jsonb
)
returns private.training_load
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
    v_time integer := coalesce(p_moving_time, p_elapsed_time);
    v_ftp double precision;
    v_watts real;
    v_resting double precision;
    v_range double precision;
    v_reserve double precision;
    v_threshold double precision;
    v_weighting double precision;
begin
    if coalesce(v_time, 0) <= 0 then
        return row(0::real, 'duration'::text)::private.training_load;
    end if;
    -- power: t_s x IF^2 / 36, with the sport's FTP (cycling ftp, running run_ftp)
    v_ftp := case
        when p_activity_type in (
            'ride', 'mountain_bike_ride', 'gravel_ride', 'virtual_ride', 'indoor_ride',
            'handcycle', 'velomobile'
        ) then private.load_preference(p_preferences, 'ftp')
        when p_activity_type in ('run', 'trail_run', 'treadmill_run', 'track_run', 'virtual_run')
            then private.load_preference(p_preferences, 'run_ftp')
    end;
    if v_ftp > 0 then
        v_watts := coalesce(nullif(p_weighted_average_watts, 0), nullif(p_average_watts, 0));
        if v_watts > 0 then
            return row(
                (v_time * power(v_watts / v_ftp, 2) / 36.0)::real, 'power'::text
            )::private.training_load;
        end if;
    end if;
    -- heart rate: 100 x TRIMP / TRIMP_thr
    if p_average_heartrate > 0 then
        -- resting and reserve (max - resting); both defaults when max <= resting
        v_resting := coalesce(private.load_preference(p_preferences, 'resting_heart_rate'), 60);
        v_range := coalesce(private.load_preference(p_preferences, 'max_heart_rate'), 190);
        if v_range > v_resting then
            v_range := v_range - v_resting;
        else
            v_resting := 60;
            v_range := 130;
        end if;
        v_reserve := least(1.0, greatest(0.0,
            (p_average_heartrate::double precision - v_resting) / v_range
        ));
        v_threshold := least(1.0, greatest(0.0,
            (private.load_preference(p_preferences, 'threshold_heart_rate') - v_resting)
            / v_range
        ));
        if not coalesce(v_threshold > 0, false) then
            v_threshold := 0.85;
        end if;
        v_weighting := case
            when lower(btrim(p_preferences ->> 'sex')) in ('female', 'f') then 1.67
            else 1.92
        end;
        return row(
            (
                100.0 * (v_time / 60.0) * v_reserve * exp(v_weighting * v_reserve)
                / (60.0 * v_threshold * exp(v_weighting * v_threshold))
            )::real,
            'heart_rate'::text
        )::private.training_load;
    end if;
    -- duration: a flat rate per hour
    return row(
        (
            v_time / 3600.0 * coalesce(
                private.load_preference(p_preferences, 'duration_load_per_hour'),
                case
                    when p_activity_type in (
                        'walk', 'yoga', 'pilates', 'physical_therapy', 'golf', 'sail',
                        'e_bike_ride', 'e_mountain_bike_ride'
                    ) then 25.0
                    else 50.0
                end
            )
        )::real,
        'duration'::text
    )::private.training_load;
end;
$$;

comment on function private.activity_training_load(
    public.activity_type, integer, integer, real, real, real, jsonb
) is
    'Training load of one activity (type, moving and elapsed time in s, average heart rate in '
    'bpm, weighted and average power in W, the athlete''s preferences): power TSS when the '
    'sport has an FTP in the preferences and the activity has power, else heart-rate TRIMP '
    'normalised to hrTSS when it has an average heart rate, else a flat rate per hour '
    '(formulas and defaults: migration 20261125130100_training_load.sql). No time gives 0. '
    'One pass, each preference read once (migration 20261205290000).';
