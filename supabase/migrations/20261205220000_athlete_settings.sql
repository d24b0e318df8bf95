-- The athlete's settings, changeable without SQL (issue 18): heart rates, threshold pace, zone
-- overrides, time zone, units, and the FTP with its history of effective dates.
--
-- Until now these were keys of users.preferences (documented only in migration
-- 20261125130100_training_load.sql). They stay readable there as a fallback: a key the settings
-- leave unset (null) is still taken from users.preferences, then from the documented default.
--
-- - public.athlete_settings: one row per athlete, every value nullable (null = not set).
-- - public.athlete_ftp_history: (user_id, effective_from, ftp_w); the FTP in force on a day is
--   the row with the latest effective_from on or before it. Training load uses the FTP in force
--   on the activity's local date (migration 20261205220100_load_uses_ftp_history.sql).
-- - public.set_athlete_settings(jsonb), public.set_ftp(integer, date), public.remove_ftp(date),
--   public.get_athlete_settings(uuid): the RPCs (security invoker, under RLS), validated with
--   one-line errors (SQLSTATE 22023, or 42501 for another athlete's settings).
--
-- Access: the athlete reads and writes their own rows; a coach with an active grant reads them
-- (zones and FTP are what a coach plans with); an admin reads them; anon and the analyst role
-- have nothing. Settings are the athlete's own data, never provider data, so Strava's rules do
-- not restrict them.

-- Validation -----------------------------------------------------------------------------------

create function private.is_iana_time_zone(p_zone text)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
    -- Region/City names (and UTC) that PostgreSQL knows; not POSIX strings or the posix/ and
    -- right/ copies of the tz database.
    return p_zone is not null
        and (
            p_zone = 'UTC'
            or (
                p_zone ~ '^[A-Za-z]+(/[A-Za-z0-9_+-]+)+$'
                and p_zone !~ '^(posix|right|SystemV)/'
                and exists (select from pg_catalog.pg_timezone_names as z where z.name = p_zone)
            )
        );
end;
$$;
comment on function private.is_iana_time_zone(text) is
    'True when p_zone is an IANA time zone name PostgreSQL knows (Region/City such as '
    'Europe/Paris, or UTC); false for abbreviations, POSIX strings and unknown names.';

create function private.zone_overrides_problem(p_zones jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_key text;
    v_bounds jsonb;
    v_previous double precision;
    v_value double precision;
    v_low double precision;
    v_high double precision;
    v_item jsonb;
begin
    if p_zones is null then
        return null;
    end if;
    if jsonb_typeof(p_zones) <> 'object' then
        return 'zones must be a JSON object with heart_rate, power and/or pace';
    end if;
    for v_key, v_bounds in select e.key, e.value from jsonb_each(p_zones) as e loop
        if v_key not in ('heart_rate', 'power', 'pace') then
            return format('zones.%s is not a zone kind (heart_rate, power, pace)', v_key);
        end if;
        if jsonb_typeof(v_bounds) <> 'array'
            or jsonb_array_length(v_bounds) not between 1 and 9 then
            return format('zones.%s must be an array of 1 to 9 zone boundaries', v_key);
        end if;
        v_low := case v_key when 'heart_rate' then 30 when 'power' then 1 else 120 end;
        v_high := case v_key when 'heart_rate' then 250 when 'power' then 3000 else 1200 end;
        v_previous := null;
        for v_item in select x.value from jsonb_array_elements(v_bounds) as x loop
            if jsonb_typeof(v_item) <> 'number' then
                return format('zones.%s holds %s, not a number', v_key, v_item::text);
            end if;
            v_value := (v_item #>> '{}')::double precision;
            if v_value not between v_low and v_high then
                return format(
                    'zones.%s boundary %s is outside %s..%s', v_key, v_item::text, v_low, v_high
                );
            end if;
            -- Intensity rises zone by zone: heart rate and power go up, pace (s/km) goes down.
            if v_previous is not null
                and (
                    (v_key <> 'pace' and v_value <= v_previous)
                    or (v_key = 'pace' and v_value >= v_previous)
                ) then
                return format(
                    'zones.%s boundaries must be strictly %s', v_key,
                    case when v_key = 'pace' then 'decreasing (s/km)' else 'increasing' end
                );
            end if;
            v_previous := v_value;
        end loop;
    end loop;
    return null;
end;
$$;
comment on function private.zone_overrides_problem(jsonb) is
    'Null when p_zones is a valid zone override object, else a one-line reason. Shape: '
    '{"heart_rate": [bpm], "power": [W], "pace": [s/km]}, each 1 to 9 zone boundaries (the '
    'upper bound of zone 1, 2, ...; the last zone is open), in order of rising intensity: '
    'heart rate and power strictly increasing, pace strictly decreasing.';

-- Tables ---------------------------------------------------------------------------------------

create table public.athlete_settings (
    user_id uuid primary key default auth.uid() references public.users (id) on delete cascade,
    max_heart_rate smallint,
    resting_heart_rate smallint,
    threshold_heart_rate smallint,
    threshold_pace real,
    sex text,
    zones jsonb not null default '{}'::jsonb,
    timezone text,
    units text not null default 'metric',
    updated_at timestamptz not null default now(),
    constraint athlete_settings_max_heart_rate_range check (max_heart_rate between 100 and 250),
    constraint athlete_settings_resting_heart_rate_range check (
        resting_heart_rate between 25 and 120
    ),
    constraint athlete_settings_threshold_heart_rate_range check (
        threshold_heart_rate between 60 and 240
    ),
    constraint athlete_settings_heart_rates_ordered check (
        resting_heart_rate < max_heart_rate
        and resting_heart_rate < threshold_heart_rate
        and threshold_heart_rate <= max_heart_rate
    ),
    -- NaN >= 0 is true in PostgreSQL: the finite bounds come first (issue 14's rule).
    constraint athlete_settings_threshold_pace_range check (
        threshold_pace > '-Infinity'::real and threshold_pace < 'Infinity'::real
        and threshold_pace between 120 and 1200
    ),
    constraint athlete_settings_sex_values check (sex in ('female', 'male')),
    constraint athlete_settings_zones_valid check (private.zone_overrides_problem(zones) is null),
    constraint athlete_settings_zones_size check (pg_column_size(zones) <= 2048),
    constraint athlete_settings_timezone_iana check (
        timezone is null or private.is_iana_time_zone(timezone)
    ),
    constraint athlete_settings_units_values check (units in ('metric', 'imperial'))
);

comment on table public.athlete_settings is
    'An athlete''s settings (one row per athlete; null = not set, then users.preferences and '
    'the documented defaults apply). Written by the athlete (public.set_athlete_settings or '
    'directly under RLS); read by the athlete, coaches with an active grant and admins. Heart '
    'rates feed the training load and the heart-rate zones. FTP lives in '
    'public.athlete_ftp_history.';
comment on column public.athlete_settings.max_heart_rate is
    'Maximum heart rate in bpm (100..250). Load default when unset: 190.';
comment on column public.athlete_settings.resting_heart_rate is
    'Resting heart rate in bpm (25..120). Load default when unset: 60.';
comment on column public.athlete_settings.threshold_heart_rate is
    'Lactate-threshold heart rate in bpm (60..240). Load default when unset: resting + 0.85 x '
    '(max - resting).';
comment on column public.athlete_settings.threshold_pace is
    'Threshold (about one-hour race) running pace in s per km (120..1200), the reference of '
    'the pace zones.';
comment on column public.athlete_settings.sex is
    'female or male: Banister''s TRIMP weighting (1.67 female, 1.92 male and default).';
comment on column public.athlete_settings.zones is
    'Zone overrides: {"heart_rate": [bpm], "power": [W], "pace": [s/km]}, the upper bound of '
    'each zone but the last, in order of rising intensity (private.zone_overrides_problem). A '
    'kind not given uses the default zones derived from the thresholds.';
comment on column public.athlete_settings.timezone is
    'IANA time zone (e.g. Europe/Paris): the local time of activities whose files carry no '
    'offset. Mirrored into users.preferences.timezone, which the file importers read.';
comment on column public.athlete_settings.units is
    'metric or imperial: how the report and CLI show distances, paces and elevations (the '
    'database keeps SI).';
comment on column public.athlete_settings.updated_at is 'Last change of the row.';

create table public.athlete_ftp_history (
    user_id uuid not null default auth.uid() references public.users (id) on delete cascade,
    effective_from date not null,
    ftp_w smallint not null,
    created_at timestamptz not null default now(),
    primary key (user_id, effective_from),
    constraint athlete_ftp_history_ftp_range check (ftp_w between 30 and 2000),
    constraint athlete_ftp_history_effective_from_range check (
        effective_from between date '1900-01-01' and date '2999-12-31'
    )
);

comment on table public.athlete_ftp_history is
    'An athlete''s cycling functional threshold power over time: each row is in force from '
    'effective_from until the next row''s effective_from. Training load uses the FTP in force on '
    'the activity''s local date; before the first row, users.preferences.ftp (if any). A change '
    'recomputes the loads of the affected period only. Written by the athlete (public.set_ftp, '
    'public.remove_ftp); read by the athlete, coaches with an active grant and admins.';
comment on column public.athlete_ftp_history.effective_from is
    'First local day on which this FTP applies.';
comment on column public.athlete_ftp_history.ftp_w is 'Functional threshold power in W (30..2000).';
comment on column public.athlete_ftp_history.created_at is 'When the row was written.';

create trigger athlete_settings_updated_at
before update on public.athlete_settings
for each row execute function private.set_updated_at();

alter table public.athlete_settings enable row level security;
alter table public.athlete_ftp_history enable row level security;

revoke all on table public.athlete_settings from anon, authenticated, service_role;
revoke all on table public.athlete_ftp_history from anon, authenticated, service_role;
grant select on table public.athlete_settings to authenticated;
grant insert (
    user_id, max_heart_rate, resting_heart_rate, threshold_heart_rate, threshold_pace, sex,
    zones, timezone, units
) on table public.athlete_settings to authenticated;
grant update (
    max_heart_rate, resting_heart_rate, threshold_heart_rate, threshold_pace, sex, zones,
    timezone, units
) on table public.athlete_settings to authenticated;
grant select on table public.athlete_ftp_history to authenticated;
grant insert (user_id, effective_from, ftp_w) on table public.athlete_ftp_history
to authenticated;
grant update (ftp_w) on table public.athlete_ftp_history to authenticated;
grant delete on table public.athlete_ftp_history to authenticated;
grant all on table public.athlete_settings to service_role;
grant all on table public.athlete_ftp_history to service_role;

-- Reads: the shape of activities_select (readable_user_ids() once, an initPlan).
create policy athlete_settings_select on public.athlete_settings
for select to authenticated
using (user_id = any(array(select private.readable_user_ids())));
comment on policy athlete_settings_select on public.athlete_settings is
    'The athlete, a coach with an active grant and an admin read the settings.';

create policy athlete_settings_insert on public.athlete_settings
for insert to authenticated
with check (user_id = (select auth.uid()));
comment on policy athlete_settings_insert on public.athlete_settings is
    'Only the athlete creates their settings row.';

create policy athlete_settings_update on public.athlete_settings
for update to authenticated
using (user_id = (select auth.uid()))
with check (user_id = (select auth.uid()));
comment on policy athlete_settings_update on public.athlete_settings is
    'Only the athlete changes their settings (a coach reads them, never writes).';

create policy athlete_ftp_history_select on public.athlete_ftp_history
for select to authenticated
using (user_id = any(array(select private.readable_user_ids())));
comment on policy athlete_ftp_history_select on public.athlete_ftp_history is
    'The athlete, a coach with an active grant and an admin read the FTP history.';

create policy athlete_ftp_history_insert on public.athlete_ftp_history
for insert to authenticated
with check (user_id = (select auth.uid()));
comment on policy athlete_ftp_history_insert on public.athlete_ftp_history is
    'Only the athlete adds to their FTP history.';

create policy athlete_ftp_history_update on public.athlete_ftp_history
for update to authenticated
using (user_id = (select auth.uid()))
with check (user_id = (select auth.uid()));
comment on policy athlete_ftp_history_update on public.athlete_ftp_history is
    'Only the athlete corrects their FTP history.';

create policy athlete_ftp_history_delete on public.athlete_ftp_history
for delete to authenticated
using (user_id = (select auth.uid()));
comment on policy athlete_ftp_history_delete on public.athlete_ftp_history is
    'Only the athlete removes entries of their FTP history.';

-- The time zone mirror -------------------------------------------------------------------------
-- The file importers (private.ingest_page, public.ingest_file_activities,
-- public.activity_timezone_candidates) read users.preferences.timezone; the setting keeps it
-- in step, so they need no change.

create function private.athlete_settings_mirror_timezone()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    update public.users as u
    set preferences = case
        when n.timezone is null then u.preferences - 'timezone'
        else jsonb_set(u.preferences, '{timezone}', to_jsonb(n.timezone))
    end
    from new_rows as n
    where
        u.id = n.user_id
        and (u.preferences ->> 'timezone') is distinct from n.timezone
        -- unset leaves an older preferences.timezone alone only when never set here
        and (n.timezone is not null or u.preferences ? 'timezone');
    return null;
end;
$$;
comment on function private.athlete_settings_mirror_timezone() is
    'Statement-level AFTER trigger on athlete_settings: copies the timezone setting into '
    'users.preferences.timezone, which the file importers read. Security definer: the athlete '
    'writing settings is allowed to, but the copy must not depend on the caller''s grants.';

create trigger athlete_settings_timezone_insert
after insert on public.athlete_settings
referencing new table as new_rows
for each statement execute function private.athlete_settings_mirror_timezone();

create trigger athlete_settings_timezone_update
after update on public.athlete_settings
referencing new table as new_rows
for each statement execute function private.athlete_settings_mirror_timezone();

-- A change of timezone or units in users.preferences does not change any training load: the
-- preferences trigger recomputes rollups only when another key changed.
create or replace function private.rollups_apply_preference_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    changed uuid[];
begin
    changed := array(
        select n.id
        from new_rows as n
        inner join old_rows as o on n.id = o.id
        where
            n.preferences - array['timezone', 'units']
            is distinct from o.preferences - array['timezone', 'units']
    );
    if cardinality(changed) > 0 then
        perform private.rollups_recompute(changed);
    end if;
    return null;
end;
$$;
comment on function private.rollups_apply_preference_changes() is
    'Statement-level AFTER UPDATE trigger on users: the training load of an activity depends '
    'on the athlete''s preferences (FTP, heart rates), so a change of preferences other than '
    'timezone and units recomputes that athlete''s rollups. Security definer: the athlete '
    'editing their profile may not write rollups.';

-- RPCs -----------------------------------------------------------------------------------------

create function public.set_athlete_settings(p_settings jsonb)
returns public.athlete_settings
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_caller uuid := (select auth.uid());
    v_key text;
    v_value jsonb;
    v_row public.athlete_settings;
    v_problem text;
begin
    if v_caller is null then
        raise exception 'set_athlete_settings needs a signed-in athlete' using errcode = '42501';
    end if;
    if p_settings is null or jsonb_typeof(p_settings) <> 'object' then
        raise exception 'settings must be a JSON object' using errcode = '22023';
    end if;
    select s.* into v_row from public.athlete_settings as s where s.user_id = v_caller;
    if not found then
        v_row.user_id := v_caller;
        v_row.zones := '{}'::jsonb;
        v_row.units := 'metric';
    end if;
    for v_key, v_value in select e.key, e.value from jsonb_each(p_settings) as e loop
        if v_key in ('max_heart_rate', 'resting_heart_rate', 'threshold_heart_rate') then
            if jsonb_typeof(v_value) not in ('number', 'null')
                or (jsonb_typeof(v_value) = 'number' and (v_value #>> '{}') !~ '^[0-9]{1,3}$') then
                raise exception '% must be a whole number of bpm, not %', v_key, v_value::text
                    using errcode = '22023';
            end if;
        end if;
        case v_key
            when 'max_heart_rate' then
                v_row.max_heart_rate := (v_value #>> '{}')::smallint;
                if v_row.max_heart_rate not between 100 and 250 then
                    raise exception 'max_heart_rate must be between 100 and 250 bpm'
                        using errcode = '22023';
                end if;
            when 'resting_heart_rate' then
                v_row.resting_heart_rate := (v_value #>> '{}')::smallint;
                if v_row.resting_heart_rate not between 25 and 120 then
                    raise exception 'resting_heart_rate must be between 25 and 120 bpm'
                        using errcode = '22023';
                end if;
            when 'threshold_heart_rate' then
                v_row.threshold_heart_rate := (v_value #>> '{}')::smallint;
                if v_row.threshold_heart_rate not between 60 and 240 then
                    raise exception 'threshold_heart_rate must be between 60 and 240 bpm'
                        using errcode = '22023';
                end if;
            when 'threshold_pace' then
                if jsonb_typeof(v_value) not in ('number', 'null') then
                    raise exception 'threshold_pace must be a number of seconds per km, not %',
                        v_value::text
                        using errcode = '22023';
                end if;
                v_row.threshold_pace := (v_value #>> '{}')::real;
                if v_row.threshold_pace not between 120 and 1200 then
                    raise exception 'threshold_pace must be between 120 and 1200 s/km'
                        using errcode = '22023';
                end if;
            when 'sex' then
                if v_value <> 'null'::jsonb
                    and (jsonb_typeof(v_value) <> 'string'
                        or (v_value #>> '{}') not in ('female', 'male')) then
                    raise exception 'sex must be female or male, not %', v_value::text
                        using errcode = '22023';
                end if;
                v_row.sex := v_value #>> '{}';
            when 'timezone' then
                if v_value <> 'null'::jsonb
                    and (jsonb_typeof(v_value) <> 'string'
                        or not private.is_iana_time_zone(v_value #>> '{}')) then
                    raise exception 'timezone % is not an IANA time zone (e.g. Europe/Paris)',
                        v_value::text
                        using errcode = '22023';
                end if;
                v_row.timezone := v_value #>> '{}';
            when 'units' then
                if jsonb_typeof(v_value) <> 'string'
                    or (v_value #>> '{}') not in ('metric', 'imperial') then
                    raise exception 'units must be metric or imperial, not %', v_value::text
                        using errcode = '22023';
                end if;
                v_row.units := v_value #>> '{}';
            when 'zones' then
                if v_value = 'null'::jsonb then
                    v_row.zones := '{}'::jsonb;
                else
                    v_problem := private.zone_overrides_problem(v_value);
                    if v_problem is not null then
                        raise exception '%', v_problem using errcode = '22023';
                    end if;
                    -- Kinds merge: setting power zones keeps the heart-rate zones; a kind
                    -- given as [] ... is refused above, so a kind is removed with null.
                    v_row.zones := v_row.zones || v_value;
                end if;
            else
                if v_key like 'zones.%' and v_value = 'null'::jsonb then
                    v_row.zones := v_row.zones - substr(v_key, 7);
                else
                    raise exception 'unknown setting % (known: max_heart_rate, '
                        'resting_heart_rate, threshold_heart_rate, threshold_pace, sex, zones, '
                        'timezone, units; FTP through set_ftp)', v_key
                        using errcode = '22023';
                end if;
        end case;
    end loop;
    if v_row.resting_heart_rate >= v_row.max_heart_rate
        or v_row.resting_heart_rate >= v_row.threshold_heart_rate
        or v_row.threshold_heart_rate > v_row.max_heart_rate then
        raise exception 'heart rates must satisfy resting < threshold <= max (resting %, '
            'threshold %, max %)',
            coalesce(v_row.resting_heart_rate::text, '-'),
            coalesce(v_row.threshold_heart_rate::text, '-'),
            coalesce(v_row.max_heart_rate::text, '-')
            using errcode = '22023';
    end if;
    insert into public.athlete_settings as s (
        user_id, max_heart_rate, resting_heart_rate, threshold_heart_rate, threshold_pace, sex,
        zones, timezone, units
    ) values (
        v_caller, v_row.max_heart_rate, v_row.resting_heart_rate, v_row.threshold_heart_rate,
        v_row.threshold_pace, v_row.sex, v_row.zones, v_row.timezone, v_row.units
    )
    on conflict (user_id) do update set
        max_heart_rate = excluded.max_heart_rate,
        resting_heart_rate = excluded.resting_heart_rate,
        threshold_heart_rate = excluded.threshold_heart_rate,
        threshold_pace = excluded.threshold_pace,
        sex = excluded.sex,
        zones = excluded.zones,
        timezone = excluded.timezone,
        units = excluded.units
    returning s.* into v_row;
    return v_row;
end;
$$;
comment on function public.set_athlete_settings(jsonb) is
    'Changes the caller''s settings: the keys given in p_settings (max_heart_rate, '
    'resting_heart_rate, threshold_heart_rate in bpm; threshold_pace in s/km; sex; zones, '
    'merged by kind; timezone, an IANA name; units, metric or imperial), null clearing one '
    '("zones.power": null clears one zone kind); other keys keep their value. Validates every '
    'value and raises one line with SQLSTATE 22023 on the first problem, nothing written. '
    'Returns the row. Security invoker: runs under the caller''s RLS, so it can only write '
    'the caller''s own row.';

create function public.set_ftp(p_ftp_w integer, p_effective_from date default null)
returns public.athlete_ftp_history
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_caller uuid := (select auth.uid());
    v_from date := coalesce(p_effective_from, current_date);
    v_row public.athlete_ftp_history;
begin
    if v_caller is null then
        raise exception 'set_ftp needs a signed-in athlete' using errcode = '42501';
    end if;
    if p_ftp_w is null or p_ftp_w not between 30 and 2000 then
        raise exception 'ftp must be between 30 and 2000 W, not %', coalesce(p_ftp_w::text, 'null')
            using errcode = '22023';
    end if;
    if v_from < date '1900-01-01' or v_from > current_date + 366 then
        raise exception 'effective date % must lie between 1900-01-01 and one year from today',
            v_from
            using errcode = '22023';
    end if;
    insert into public.athlete_ftp_history as h (user_id, effective_from, ftp_w)
    values (v_caller, v_from, p_ftp_w)
    on conflict (user_id, effective_from) do update set ftp_w = excluded.ftp_w
    returning h.* into v_row;
    return v_row;
end;
$$;
comment on function public.set_ftp(integer, date) is
    'Records the caller''s cycling FTP (30..2000 W) in force from p_effective_from (default '
    'today; at most a year ahead), replacing an entry of the same day. Training load of the '
    'activities from that day until the next FTP change is recomputed. One-line errors with '
    'SQLSTATE 22023. Security invoker: under the caller''s RLS, only their own history.';

create function public.remove_ftp(p_effective_from date)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_caller uuid := (select auth.uid());
begin
    if v_caller is null then
        raise exception 'remove_ftp needs a signed-in athlete' using errcode = '42501';
    end if;
    delete from public.athlete_ftp_history as h
    where h.user_id = v_caller and h.effective_from = p_effective_from;
    if not found then
        raise exception 'no FTP entry effective from %', coalesce(p_effective_from::text, 'null')
            using errcode = '22023';
    end if;
    return true;
end;
$$;
comment on function public.remove_ftp(date) is
    'Removes the caller''s FTP entry effective from p_effective_from (the previous entry then '
    'applies until the next one; loads of that period are recomputed). Raises 22023 when there '
    'is no such entry. Security invoker, under RLS.';

create function public.get_athlete_settings(p_user_id uuid default null)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    v_user uuid := coalesce(p_user_id, (select auth.uid()));
    v_preferences jsonb;
    v_settings public.athlete_settings;
    v_history jsonb;
    v_ftp jsonb;
    v_max double precision;
    v_rest double precision;
    v_result jsonb := '{}'::jsonb;
begin
    -- Under RLS: a user the caller may not read gives null, as if unknown.
    select u.preferences into v_preferences from public.users as u where u.id = v_user;
    if not found then
        return null;
    end if;
    -- A pending coach reads the profile, not the settings: the settings' own rule decides.
    if (select auth.uid()) is not null
        and not v_user = any(array(select private.readable_user_ids())) then
        return null;
    end if;
    select s.* into v_settings from public.athlete_settings as s where s.user_id = v_user;
    select coalesce(
        jsonb_agg(
            jsonb_build_object('effective_from', h.effective_from, 'ftp_w', h.ftp_w)
            order by h.effective_from
        ),
        '[]'::jsonb
    )
    into v_history
    from public.athlete_ftp_history as h
    where h.user_id = v_user;
    v_ftp := (
        select to_jsonb(h.ftp_w)
        from public.athlete_ftp_history as h
        where h.user_id = v_user and h.effective_from <= current_date
        order by h.effective_from desc
        limit 1
    );
    v_max := coalesce(
        v_settings.max_heart_rate, private.load_preference(v_preferences, 'max_heart_rate'), 190
    );
    v_rest := coalesce(
        v_settings.resting_heart_rate,
        private.load_preference(v_preferences, 'resting_heart_rate'),
        60
    );
    v_result := jsonb_build_object(
        'max_heart_rate', jsonb_build_object(
            'value', v_max,
            'source', case
                when v_settings.max_heart_rate is not null then 'settings'
                when private.load_preference(v_preferences, 'max_heart_rate') is not null
                    then 'preferences'
                else 'default'
            end
        ),
        'resting_heart_rate', jsonb_build_object(
            'value', v_rest,
            'source', case
                when v_settings.resting_heart_rate is not null then 'settings'
                when private.load_preference(v_preferences, 'resting_heart_rate') is not null
                    then 'preferences'
                else 'default'
            end
        ),
        'threshold_heart_rate', jsonb_build_object(
            'value', coalesce(
                v_settings.threshold_heart_rate::double precision,
                private.load_preference(v_preferences, 'threshold_heart_rate'),
                round((v_rest + 0.85 * (v_max - v_rest))::numeric)::double precision
            ),
            'source', case
                when v_settings.threshold_heart_rate is not null then 'settings'
                when private.load_preference(v_preferences, 'threshold_heart_rate') is not null
                    then 'preferences'
                else 'default'
            end
        ),
        'threshold_pace', jsonb_build_object(
            'value', v_settings.threshold_pace,
            'source', case when v_settings.threshold_pace is not null then 'settings' else 'unset' end
        ),
        'sex', jsonb_build_object(
            'value', coalesce(v_settings.sex, v_preferences ->> 'sex'),
            'source', case
                when v_settings.sex is not null then 'settings'
                when v_preferences ? 'sex' then 'preferences'
                else 'unset'
            end
        ),
        'zones', jsonb_build_object(
            'value', coalesce(v_settings.zones, '{}'::jsonb), 'source', 'settings'
        ),
        'timezone', jsonb_build_object(
            'value', coalesce(v_settings.timezone, v_preferences ->> 'timezone', 'UTC'),
            'source', case
                when v_settings.timezone is not null then 'settings'
                when v_preferences ? 'timezone' then 'preferences'
                else 'default'
            end
        ),
        'units', jsonb_build_object(
            'value', coalesce(v_settings.units, 'metric'),
            'source', case when v_settings.units is not null then 'settings' else 'default' end
        ),
        'ftp_w', jsonb_build_object(
            'value', coalesce(v_ftp, to_jsonb(private.load_preference(v_preferences, 'ftp'))),
            'source', case
                when v_ftp is not null then 'settings'
                when private.load_preference(v_preferences, 'ftp') is not null then 'preferences'
                else 'unset'
            end
        ),
        'ftp_history', v_history
    );
    return v_result;
end;
$$;
comment on function public.get_athlete_settings(uuid) is
    'The settings in effect for p_user_id (default: the caller), each as {"value", "source"} '
    'with source settings, preferences (the legacy users.preferences key), default or unset; '
    'ftp_w is today''s FTP and ftp_history every entry. Null when the caller may not read '
    'them (another athlete, a coach without an active grant). Security invoker, under RLS.';

revoke all on function private.is_iana_time_zone(text) from public, anon;
revoke all on function private.zone_overrides_problem(jsonb) from public, anon;
revoke all on function private.athlete_settings_mirror_timezone()
from public, anon, authenticated;
revoke all on function public.set_athlete_settings(jsonb) from public, anon;
revoke all on function public.set_ftp(integer, date) from public, anon;
revoke all on function public.remove_ftp(date) from public, anon;
revoke all on function public.get_athlete_settings(uuid) from public, anon;
-- The validators run inside the CHECK constraints and the RPCs, as the writing athlete.
grant execute on function private.is_iana_time_zone(text) to authenticated, service_role;
grant execute on function private.zone_overrides_problem(jsonb) to authenticated, service_role;
grant execute on function public.set_athlete_settings(jsonb) to authenticated;
grant execute on function public.set_ftp(integer, date) to authenticated;
grant execute on function public.remove_ftp(date) to authenticated;
grant execute on function public.get_athlete_settings(uuid) to authenticated, service_role;
