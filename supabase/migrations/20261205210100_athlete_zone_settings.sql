-- The athlete's zone settings in effect on a date: one function every zone computation reads
-- (issue 18), so where settings live can change without touching the zones.
--
-- private.athlete_zone_settings(user_id, on_date) returns one row, every value null when the
-- athlete did not set it (or set something unusable); the zone functions apply the documented
-- defaults. Today it reads public.users.preferences, these keys (numbers or numeric strings,
-- as the training load reads them, migration 20261125130100):
--   ftp                    W, cycling functional threshold power
--   run_ftp                W, running power threshold (running power is on another scale)
--   max_heart_rate         bpm
--   resting_heart_rate     bpm
--   threshold_heart_rate   bpm, lactate threshold heart rate (LTHR)
--   threshold_pace         s/km, running threshold pace (about one hour race pace)
--   heart_rate_zones       JSON array of bpm, strictly increasing: the upper bounds of zones
--                          1 .. n-1 (n = length + 1 zones, at most 10), overriding the default
--   power_zones            W, the same shape, overriding the Coggan zones
--   pace_zones             s/km, strictly decreasing (from slow to fast): the fast ends of
--                          zones 1 .. n-1, overriding the default pace zones
--   units                  metric or imperial (display only)
--   timezone               IANA zone name
-- Preferences hold no history: the values are those of today whatever p_on. The settings
-- work (issue 18, item 4) points this function at a settings table with an FTP history; the
-- signature and columns stay.
-- Security invoker: it reads the athlete's profile under the caller's RLS (the athlete, a
-- coach with a grant, an admin); for anyone else every value is null (defaults apply).

create function private.zone_bounds(p_value jsonb, p_increasing boolean)
returns real []
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case
        when
            jsonb_typeof(p_value) = 'array'
            and jsonb_array_length(p_value) between 1 and 9
            and not jsonb_path_exists(p_value, 'strict $[*] ? (@.type() != "number")')
            and not jsonb_path_exists(p_value, 'strict $[*] ? (@ <= 0 || @ > 100000)')
            and (
                select bool_and(
                    case when p_increasing then v.b > v.a else v.b < v.a end
                )
                from (
                    select
                        e.value::real as b,
                        lag(e.value::real) over (order by e.ord) as a
                    from jsonb_array_elements_text(p_value) with ordinality as e (value, ord)
                ) as v
                where v.a is not null
            ) is not false
            then array(
                select e.value::real
                from jsonb_array_elements_text(p_value) with ordinality as e (value, ord)
                order by e.ord
            )
    end;
$$;
comment on function private.zone_bounds(jsonb, boolean) is
    'Zone boundaries from a settings value: a JSON array of 1 to 9 positive numbers (at most '
    '100000), strictly increasing (p_increasing) or decreasing, as real[]; null for anything '
    'else. Never raises.';
revoke all on function private.zone_bounds(jsonb, boolean) from public, anon;
grant execute on function private.zone_bounds(jsonb, boolean) to authenticated, service_role;

create function private.athlete_zone_settings(p_user_id uuid, p_on date)
returns table (
    ftp real,
    run_ftp real,
    max_heart_rate real,
    resting_heart_rate real,
    threshold_heart_rate real,
    threshold_pace real,
    heart_rate_zones real [],
    power_zones real [],
    pace_zones real [],
    units text,
    timezone text
)
language sql
stable
set search_path = ''
as $$
    select
        private.load_preference(p.prefs, 'ftp')::real,
        private.load_preference(p.prefs, 'run_ftp')::real,
        private.load_preference(p.prefs, 'max_heart_rate')::real,
        private.load_preference(p.prefs, 'resting_heart_rate')::real,
        private.load_preference(p.prefs, 'threshold_heart_rate')::real,
        private.load_preference(p.prefs, 'threshold_pace')::real,
        private.zone_bounds(p.prefs -> 'heart_rate_zones', true),
        private.zone_bounds(p.prefs -> 'power_zones', true),
        private.zone_bounds(p.prefs -> 'pace_zones', false),
        case when p.prefs ->> 'units' in ('metric', 'imperial') then p.prefs ->> 'units' end,
        case
            when p.prefs ->> 'timezone' ~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,3}$'
                then p.prefs ->> 'timezone'
        end
    from (
        select coalesce(
            (select u.preferences from public.users as u where u.id = p_user_id),
            '{}'::jsonb
        ) as prefs
    ) as p;
$$;
comment on function private.athlete_zone_settings(uuid, date) is
    'The zone settings of athlete p_user_id in effect on day p_on, one row, null where unset or '
    'unusable (p_on: today''s values until settings keep a history): ftp, run_ftp (W), max, '
    'resting and threshold heart rate (bpm), threshold_pace '
    '(s/km), zone overrides (heart_rate_zones bpm and power_zones W increasing, pace_zones s/km '
    'decreasing: boundaries between zones), units, timezone. Reads users.preferences (keys in '
    'migration 20261205210100_athlete_zone_settings.sql) under the caller''s RLS; the one place '
    'zones read settings from.';
revoke all on function private.athlete_zone_settings(uuid, date) from public, anon;
grant execute on function private.athlete_zone_settings(uuid, date)
to authenticated, service_role;
