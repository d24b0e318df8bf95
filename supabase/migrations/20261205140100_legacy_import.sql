-- The legacy import: Trainlytics v1 users, Strava connections, activities and workouts into v2.
--
-- `trainlytics legacy import --from <v1 url>` reads the v1 database in one read-only
-- transaction and, per v1 user, in ONE v2 transaction: creates the Supabase Auth user (keeping
-- the v1 bcrypt hash; see functions_py/trainlytics/legacy_auth.py), then calls
-- public.legacy_import_user with the user's v1 rows as JSON (exactly as v1's to_jsonb gives
-- them). That function does the data work here, set-based: the profile, the Strava connection
-- and its encrypted tokens (sealed by Python), the activities through the same ingest and
-- Strava normaliser as synced data (public.ingest_activities; manual v1 entries through the
-- same normaliser into manual rows), the workouts, a sync_history row, and the v1-id mapping.
-- A user is imported whole or not at all, so the mapping row is also the resume point.

-- v1 id -> v2 user ---------------------------------------------------------------------------

create table private.legacy_users (
    v1_user_id integer primary key,
    user_id uuid not null references public.users (id) on delete cascade,
    v1_email text not null,
    v1_connection_id integer,
    imported_at timestamptz not null default now(),
    notes jsonb not null default '{}'::jsonb,
    constraint legacy_users_user_id_key unique (user_id),
    constraint legacy_users_notes_is_object check (jsonb_typeof(notes) = 'object'),
    constraint legacy_users_notes_size check (pg_column_size(notes) <= 262144)
);

comment on table private.legacy_users is
    'Which Trainlytics v1 user became which v2 user (legacy import). One row per imported v1 '
    'user, written in the same transaction as everything imported for that user, so a row '
    'means the user is complete and a re-run skips them. Not exposed: service_role only.';

comment on column private.legacy_users.v1_user_id is 'users.id in the v1 database.';

comment on column private.legacy_users.user_id is 'The v2 user (auth.users.id = public.users.id).';

comment on column private.legacy_users.v1_email is
    'The email exactly as v1 stored it (before trimming and lowercasing), for support.';

comment on column private.legacy_users.v1_connection_id is
    'strava_connections.id of the v1 row the v2 Strava connection was made from, if any.';

comment on column private.legacy_users.imported_at is
    'When the import of this v1 user committed.';

comment on column private.legacy_users.notes is
    'What the import changed or chose for this user (role read from a non-canonical value, '
    'preferences kept verbatim, ...), as in the closing report.';

alter table private.legacy_users enable row level security;

revoke all on table private.legacy_users from public, anon, authenticated;

grant select, insert, update, delete on table private.legacy_users to service_role;

-- An auth user the Supabase Auth admin API is creating for a v1 user: recorded (and committed)
-- before the HTTP call, so that an import interrupted between the call and the v1 user's
-- transaction resumes with the same auth user instead of creating a second one.
create table private.legacy_auth_pending (
    v1_user_id integer primary key,
    user_id uuid not null,
    created_at timestamptz not null default now(),
    constraint legacy_auth_pending_user_id_key unique (user_id)
);

comment on table private.legacy_auth_pending is
    'Auth users requested from the Supabase Auth admin API for v1 users whose import has not '
    'committed yet (the id is chosen before the call). No foreign key: the auth user may not '
    'exist yet. Deleted when the user''s import commits or is undone. service_role only.';

comment on column private.legacy_auth_pending.v1_user_id is 'users.id in the v1 database.';

comment on column private.legacy_auth_pending.created_at is
    'When the admin API was (about to be) asked for the auth user.';

comment on column private.legacy_auth_pending.user_id is
    'The id asked of the admin API (POST /admin/users accepts an id).';

alter table private.legacy_auth_pending enable row level security;

revoke all on table private.legacy_auth_pending from public, anon, authenticated;

grant select, insert, update, delete on table private.legacy_auth_pending to service_role;

-- v1 values -> v2 values ------------------------------------------------------------------------

create function private.legacy_timestamptz(p_value text)
returns timestamptz
language sql
immutable
set search_path = ''
as $$
    -- v1 timestamps are naive and hold UTC; to_jsonb writes them as ISO 8601 text.
    select private.try_timestamptz(p_value);
$$;

comment on function private.legacy_timestamptz(text) is
    'A v1 timestamp (naive, UTC, as ISO 8601 text from to_jsonb) as timestamptz; null when '
    'absent or not a time. Legacy import, service role only.';

revoke all on function private.legacy_timestamptz(text) from public, anon, authenticated;

grant execute on function private.legacy_timestamptz(text) to service_role;

create function private.legacy_try_jsonb(p_text text)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
    if p_text is null or btrim(p_text) = '' then
        return null;
    end if;
    return p_text::jsonb;
exception when others then
    return null;
end;
$$;

comment on function private.legacy_try_jsonb(text) is
    'JSON stored as text in v1 (preferences, athlete_data, raw_data) parsed to jsonb; null when '
    'empty or not valid JSON. Never raises. Legacy import, service role only.';

revoke all on function private.legacy_try_jsonb(text) from public, anon, authenticated;

grant execute on function private.legacy_try_jsonb(text) to service_role;

create function private.legacy_strava_payload(p_row jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    -- A v1 activity row (to_jsonb of public.activities in v1) in the shape of Strava's
    -- detailed activity (GET /activities/{id}), so that private.normalize_strava reads it as
    -- it reads synced data. v1 timestamps are naive UTC: start_date gets its Z; the local
    -- wall clock gets Strava's own misleading Z.
    select jsonb_strip_nulls(
        jsonb_build_object(
            'id', coalesce(nullif(btrim(p_row ->> 'strava_activity_id'), ''), p_row ->> 'id'),
            'resource_state', 3,
            'name', p_row -> 'name',
            'description', p_row -> 'description',
            'sport_type', p_row -> 'activity_type',
            'type', p_row -> 'activity_type',
            'start_date', to_char(
                (p_row ->> 'start_date')::timestamp, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
            ),
            'start_date_local', to_char(
                (p_row ->> 'start_date_local')::timestamp, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
            ),
            'timezone', p_row -> 'timezone',
            'distance', p_row -> 'distance',
            'moving_time', p_row -> 'moving_time',
            'elapsed_time', p_row -> 'elapsed_time',
            'total_elevation_gain', p_row -> 'total_elevation_gain',
            'average_speed', p_row -> 'average_speed',
            'max_speed', p_row -> 'max_speed',
            'average_heartrate', p_row -> 'average_heartrate',
            'max_heartrate', p_row -> 'max_heartrate',
            'average_watts', p_row -> 'average_watts',
            'max_watts', p_row -> 'max_watts',
            'weighted_average_watts', p_row -> 'weighted_average_watts',
            'average_cadence', p_row -> 'average_cadence',
            'calories', p_row -> 'calories',
            'manual', p_row -> 'is_manual',
            'private', p_row -> 'is_private'
        )
    );
$$;

comment on function private.legacy_strava_payload(jsonb) is
    'A v1 activities row (as JSON) rebuilt in the shape of a Strava detailed activity, for '
    'private.normalize_strava: used when v1 kept no raw_data, and for v1 manual entries. The id '
    'is the Strava activity id, else the v1 row id. Legacy import, service role only.';

revoke all on function private.legacy_strava_payload(jsonb) from public, anon, authenticated;

grant execute on function private.legacy_strava_payload(jsonb) to service_role;

-- One v1 user ------------------------------------------------------------------------------------

create function public.legacy_import_user(
    p_user_id uuid,
    p_v1_user jsonb,
    p_connection jsonb,
    p_activities jsonb,
    p_workouts jsonb
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_role_text text := p_v1_user ->> 'role';
    v_role public.user_role;
    v_prefs_text text := p_v1_user ->> 'preferences';
    v_prefs jsonb;
    v_notes jsonb := '{}'::jsonb;
    v_conn_id bigint;
    v_conn_status public.connection_status;
    v_conn_reason text;
    v_profile jsonb;
    v_ingest record;
    v_strava jsonb;
    v_page integer;
    v_strava_ids integer[];
    v_manual_created integer := 0;
    v_manual_errors jsonb := '[]'::jsonb;
    v_strava_errors jsonb := '[]'::jsonb;
    v_strava_created integer := 0;
    v_strava_duplicates integer := 0;
    v_strava_count integer := 0;
    v_unlinked jsonb := '[]'::jsonb;
    v_raw_fallbacks jsonb := '[]'::jsonb;
    v_workouts_created integer := 0;
    v_workout_notes jsonb := '[]'::jsonb;
    v_window_start timestamptz;
    v_window_end timestamptz;
    v_started timestamptz := clock_timestamp();
begin
    if not exists (select 1 from public.users as u where u.id = p_user_id) then
        raise exception 'no v2 user % (create the auth user first)', p_user_id
            using errcode = '22023';
    end if;
    if (p_v1_user ->> 'id') is null then
        raise exception 'the v1 user has no id' using errcode = '22023';
    end if;

    -- Profile ----------------------------------------------------------------------------------
    -- The three v1 roles in any case and spacing; but admin only from the exact value, so no
    -- messy row is promoted to admin. Anything else is an athlete. Both are reported.
    v_role := case
        when v_role_text = 'admin' then 'admin'
        when lower(btrim(v_role_text)) = 'coach' then 'coach'
        else 'athlete'
    end::public.user_role;
    if v_role_text is distinct from v_role::text then
        v_notes := v_notes || jsonb_build_object(
            'role', jsonb_build_object('v1', v_role_text, 'v2', v_role::text)
        );
    end if;

    v_prefs := private.legacy_try_jsonb(v_prefs_text);
    if v_prefs_text is null or btrim(v_prefs_text) = '' then
        v_prefs := '{}';
    elsif v_prefs is null or jsonb_typeof(v_prefs) <> 'object' then
        -- Kept verbatim under a documented key; the athlete's settings are otherwise empty.
        v_prefs := jsonb_build_object('legacy_v1_preferences', v_prefs_text);
        v_notes := v_notes || jsonb_build_object(
            'preferences', 'not a JSON object: kept verbatim as preferences.legacy_v1_preferences'
        );
    end if;

    update public.users as u set
        first_name = left(nullif(btrim(p_v1_user ->> 'first_name'), ''), 100),
        last_name = left(nullif(btrim(p_v1_user ->> 'last_name'), ''), 100),
        avatar_url = left(nullif(btrim(p_v1_user ->> 'avatar_url'), ''), 2048),
        role = v_role,
        is_active = coalesce((p_v1_user ->> 'is_active')::boolean, true),
        preferences = v_prefs,
        created_at = coalesce(private.legacy_timestamptz(p_v1_user ->> 'created_at'), u.created_at)
    where u.id = p_user_id;

    -- Strava connection ----------------------------------------------------------------------
    if p_connection is not null then
        v_conn_status := coalesce(p_connection ->> 'status', 'revoked')::public.connection_status;
        v_conn_reason := p_connection ->> 'reason';
        -- One Strava account, one live connection (webhooks are routed by the athlete id).
        if v_conn_status = 'active' and exists (
            select 1 from public.provider_connections as pc
            where pc.provider = 'strava'
                and pc.provider_user_id = btrim(p_connection ->> 'strava_athlete_id')
                and pc.is_active
        ) then
            v_conn_status := 'revoked';
            v_conn_reason := 'this Strava account is already connected to another Trainlytics '
                || 'account: reconnect Strava from the account that should own it';
        end if;
        -- Strava's athlete object, without anything token-like a v1 row may have kept with it.
        v_profile := private.legacy_try_jsonb(p_connection ->> 'athlete_data');
        if v_profile is null or jsonb_typeof(v_profile) <> 'object' then
            if nullif(btrim(p_connection ->> 'athlete_data'), '') is not null then
                v_notes := v_notes || jsonb_build_object(
                    'athlete_data', 'not a JSON object: provider_profile left empty'
                );
            end if;
            v_profile := '{}';
        end if;
        v_profile := v_profile - 'access_token' - 'refresh_token' - 'expires_at' - 'expires_in';

        insert into public.provider_connections as pc (
            user_id, provider, provider_user_id, provider_username, provider_profile, scopes,
            status, token_expires_at, last_sync_at, last_error, last_error_at, connected_at
        ) values (
            p_user_id,
            'strava',
            btrim(p_connection ->> 'strava_athlete_id'),
            nullif(btrim(p_connection ->> 'strava_username'), ''),
            v_profile,
            coalesce(
                (
                    select array_agg(distinct btrim(s) order by btrim(s))
                    from unnest(string_to_array(p_connection ->> 'scope', ',')) as s
                    where btrim(s) <> ''
                ),
                '{}'
            ),
            v_conn_status,
            case
                when v_conn_status = 'active'
                    then private.legacy_timestamptz(p_connection ->> 'token_expires_at')
            end,
            private.legacy_timestamptz(p_connection ->> 'last_sync_at'),
            case when v_conn_status <> 'active' then v_conn_reason end,
            case when v_conn_status <> 'active' then now() end,
            coalesce(private.legacy_timestamptz(p_connection ->> 'created_at'), now())
        )
        returning pc.id into v_conn_id;

        if v_conn_status = 'active' then
            insert into private.provider_tokens (
                connection_id, user_id, key_id, access_token_ciphertext,
                refresh_token_ciphertext, access_token_expires_at
            ) values (
                v_conn_id, p_user_id, p_connection ->> 'key_id',
                p_connection ->> 'access_token_ciphertext',
                p_connection ->> 'refresh_token_ciphertext',
                private.legacy_timestamptz(p_connection ->> 'token_expires_at')
            );
        end if;
        insert into public.connection_events (connection_id, user_id, event, detail)
        values (
            v_conn_id, p_user_id,
            case when v_conn_status = 'active' then 'connected' else 'revoked' end::public.connection_event_type,
            jsonb_strip_nulls(jsonb_build_object(
                'legacy_import', true,
                'v1_connection_id', p_connection -> 'id',
                'reason', case when v_conn_status <> 'active' then v_conn_reason end
            ))
        );
        v_notes := v_notes || jsonb_build_object(
            'connection', jsonb_strip_nulls(jsonb_build_object(
                'v1_connection_id', p_connection -> 'id',
                'status', v_conn_status::text,
                'reason', case when v_conn_status <> 'active' then v_conn_reason end
            ))
        );
    end if;

    -- Activities -----------------------------------------------------------------------------
    -- Each v1 row once: its kind (a Strava activity has a Strava id; the others are v1 manual
    -- entries), and its payload: Strava's own JSON from raw_data when v1 kept a usable one
    -- (with the Strava id of the row when it has none), else the row rebuilt in Strava's shape.
    -- The scratch table lives for the session (emptied at each commit), so the statements
    -- below keep their cached plans from one user to the next; only the payload is kept, not
    -- the v1 row (large JSON written to a table is compressed and read back, which costs).
    -- plpgsql_check (supabase db lint) cannot see a table created at run time: this pragma (a
    -- no-op string at run time) declares it.
    perform 'PRAGMA:TABLE: legacy_rows (v1_id integer, strava_id text, payload jsonb, raw_unusable boolean)';
    if to_regclass('pg_temp.legacy_rows') is null then
        create temporary table legacy_rows (
            v1_id integer primary key,
            strava_id text,
            payload jsonb,
            raw_unusable boolean
        ) on commit delete rows;
    end if;
    delete from pg_temp.legacy_rows;
    -- raw_data is parsed for the whole user in one statement; only when some row's text is
    -- not JSON does each row get a parse of its own (a subtransaction per row).
    begin
        insert into pg_temp.legacy_rows (v1_id, strava_id, payload, raw_unusable)
        select
            x.v1_id,
            x.strava_id,
            case
                when x.strava_id is not null and jsonb_typeof(x.parsed) = 'object'
                    then case
                        when x.parsed ? 'id' then x.parsed
                        else x.parsed || jsonb_build_object('id', x.strava_id)
                    end
                else private.legacy_strava_payload(x.r)
            end,
            x.strava_id is not null and x.raw_text is not null
            and jsonb_typeof(x.parsed) is distinct from 'object'
        from (
            select
                (i.r ->> 'id')::integer as v1_id,
                nullif(btrim(i.r ->> 'strava_activity_id'), '') as strava_id,
                nullif(btrim(i.r ->> 'raw_data'), '') as raw_text,
                nullif(btrim(i.r ->> 'raw_data'), '')::jsonb as parsed,
                i.r
            from jsonb_array_elements(coalesce(p_activities, '[]')) as i (r)
            offset 0  -- each text parsed once
        ) as x;
    exception when others then
        insert into pg_temp.legacy_rows (v1_id, strava_id, payload, raw_unusable)
        select
            x.v1_id,
            x.strava_id,
            case
                when x.strava_id is not null and jsonb_typeof(x.parsed) = 'object'
                    then case
                        when x.parsed ? 'id' then x.parsed
                        else x.parsed || jsonb_build_object('id', x.strava_id)
                    end
                else private.legacy_strava_payload(x.r)
            end,
            x.strava_id is not null and x.raw_text is not null
            and jsonb_typeof(x.parsed) is distinct from 'object'
        from (
            select
                (i.r ->> 'id')::integer as v1_id,
                nullif(btrim(i.r ->> 'strava_activity_id'), '') as strava_id,
                nullif(btrim(i.r ->> 'raw_data'), '') as raw_text,
                private.legacy_try_jsonb(i.r ->> 'raw_data') as parsed,
                i.r
            from jsonb_array_elements(coalesce(p_activities, '[]')) as i (r)
            offset 0  -- each text parsed once
        ) as x;
    end;

    select coalesce(jsonb_agg(jsonb_build_object(
        'v1_id', l.v1_id, 'reason', 'raw_data is not a JSON object: rebuilt from the columns'
    ) order by l.v1_id), '[]')
    into v_raw_fallbacks
    from pg_temp.legacy_rows as l
    where l.raw_unusable;

    -- Strava activities: the same ingest as a sync, in pages of 200 (v1 id order).
    v_strava_ids := array(
        select l.v1_id from pg_temp.legacy_rows as l where l.strava_id is not null
        order by l.v1_id
    );
    v_strava_count := cardinality(v_strava_ids);

    if v_conn_id is not null then
        for v_page, v_strava in
            select s.page_no, jsonb_agg(s.payload order by s.rn)
            from (
                select
                    l.payload,
                    row_number() over (order by l.v1_id) as rn,
                    (row_number() over (order by l.v1_id) - 1) / 200 as page_no
                from pg_temp.legacy_rows as l
                where l.strava_id is not null
            ) as s
            group by s.page_no
            order by s.page_no
        loop
            select * into v_ingest
            from public.ingest_activities(v_conn_id, v_strava, '{}', now());
            v_strava_created := v_strava_created + v_ingest.created;
            v_strava_duplicates := v_strava_duplicates + v_ingest.skipped + v_ingest.updated;
            -- The ingest's item errors (index within the page) as v1 ids and reasons.
            v_strava_errors := v_strava_errors || coalesce((
                select jsonb_agg(jsonb_build_object(
                    'v1_id', v_strava_ids[v_page * 200 + (e ->> 'index')::integer + 1],
                    'reason', e ->> 'reason'
                ))
                from jsonb_array_elements(v_ingest.errors) as e
            ), '[]');
        end loop;
    else
        select coalesce(jsonb_agg(jsonb_build_object(
            'v1_id', s.v1_id,
            'reason', 'Strava activity of a user without a v1 Strava connection: not imported '
                || '(Strava data is kept only with its connection)'
        ) order by s.v1_id), '[]')
        into v_unlinked
        from unnest(v_strava_ids) as s (v1_id);
    end if;

    -- v1 manual entries: the same normaliser, stored as manual activities (no connection),
    -- idempotent on (user_id, external_id).
    with manual as (
        select l.v1_id, l.payload
        from pg_temp.legacy_rows as l
        where l.strava_id is null
    ),
    normalized as (
        select m.v1_id, n.normalized as n
        from (
            select jsonb_agg(m.payload order by m.v1_id) as items, array_agg(m.v1_id order by m.v1_id) as ids
            from manual as m
        ) as page
        cross join lateral private.normalize_page('strava', page.items) as n
        cross join lateral (select page.ids[n.pos + 1] as v1_id) as m
    ),
    errors as (
        select coalesce(jsonb_agg(jsonb_build_object(
            'v1_id', x.v1_id,
            'reason', coalesce((x.n).error, 'normaliser returned nothing')
        ) order by x.v1_id), '[]') as list
        from normalized as x
        where (x.n).error is not null or (x.n).external_id is null
    ),
    written as (
        insert into public.activities (
            user_id, source, external_id, name, description, activity_type,
            provider_activity_type, start_date, timezone, utc_offset, elapsed_time,
            moving_time, distance, average_speed, max_speed, average_heartrate, max_heartrate,
            average_watts, max_watts, weighted_average_watts, average_cadence, max_cadence,
            elevation_gain, elevation_loss, calories, is_manual, is_private, device_name,
            activity_data
        )
        select
            p_user_id, 'manual', 'legacy-v1-activity:' || x.v1_id, (x.n).name, (x.n).description,
            coalesce((x.n).activity_type, 'other'), (x.n).provider_activity_type,
            (x.n).start_date, (x.n).timezone, coalesce((x.n).utc_offset, 0),
            (x.n).elapsed_time, (x.n).moving_time, (x.n).distance, (x.n).average_speed,
            (x.n).max_speed, (x.n).average_heartrate, (x.n).max_heartrate,
            (x.n).average_watts, (x.n).max_watts, (x.n).weighted_average_watts,
            (x.n).average_cadence, (x.n).max_cadence, (x.n).elevation_gain,
            (x.n).elevation_loss, (x.n).calories, true, coalesce((x.n).is_private, false),
            (x.n).device_name,
            coalesce((x.n).activity_data, '{}') - '_keep_stored'
            || jsonb_build_object('legacy_v1_activity_id', x.v1_id)
        from normalized as x
        where (x.n).error is null and (x.n).external_id is not null
        on conflict (user_id, external_id) where connection_id is null do nothing
        returning 1
    )
    select (select count(*) from written)::integer, (select e.list from errors as e)
    into v_manual_created, v_manual_errors;

    select min(a.start_date), max(a.start_date) + interval '1 second'
    into v_window_start, v_window_end
    from public.activities as a
    where a.connection_id = v_conn_id;

    -- Workouts -------------------------------------------------------------------------------
    -- The coach is the v2 user the v1 coach became (imported earlier in the run: coaches go
    -- first); the completed activity is the v2 row the v1 activity became.
    with w as (
        select
            x.r,
            (x.r ->> 'id')::integer as v1_id,
            (x.r ->> 'coach_id')::integer as v1_coach_id,
            (x.r ->> 'completed_activity_id')::integer as v1_activity_id
        from jsonb_array_elements(coalesce(p_workouts, '[]')) as x (r)
    ),
    resolved as (
        select
            w.*,
            lu.user_id as coach_id,
            coalesce(sa.id, ma.id) as activity_id
        from w
        left join private.legacy_users as lu on lu.v1_user_id = w.v1_coach_id
        left join pg_temp.legacy_rows as l on l.v1_id = w.v1_activity_id
        left join public.activities as sa
            on l.strava_id is not null and sa.connection_id = v_conn_id
            and sa.external_id = coalesce(l.payload ->> 'id', l.strava_id)
        left join public.activities as ma
            on l.strava_id is null and ma.user_id = p_user_id and ma.connection_id is null
            and ma.external_id = 'legacy-v1-activity:' || l.v1_id
    ),
    written as (
        insert into public.workouts (
            user_id, coach_id, planned_date, activity_type, name, description,
            planned_duration, planned_distance, completed_activity_id, created_at
        )
        select
            p_user_id,
            r.coach_id,
            (r.r ->> 'planned_date')::date,
            private.map_activity_type('strava', r.r ->> 'activity_type'),
            coalesce(left(nullif(btrim(r.r ->> 'title'), ''), 500), 'Workout'),
            nullif(r.r ->> 'description', ''),
            case when (r.r ->> 'planned_duration')::integer > 0
                then (r.r ->> 'planned_duration')::integer end,
            case when (r.r ->> 'planned_distance')::double precision > 0
                then (r.r ->> 'planned_distance')::double precision end,
            r.activity_id,
            coalesce(private.legacy_timestamptz(r.r ->> 'created_at'), now())
        from resolved as r
        returning 1
    )
    select
        (select count(*) from written)::integer,
        coalesce((
            select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                'v1_id', r.v1_id,
                'coach', case when r.v1_coach_id is not null and r.coach_id is null
                    then 'v1 coach #' || r.v1_coach_id || ' was not imported: kept without coach' end,
                'completed_activity', case when r.v1_activity_id is not null and r.activity_id is null
                    then 'v1 activity #' || r.v1_activity_id || ' was not imported: kept without it' end,
                'title', case when nullif(btrim(r.r ->> 'title'), '') is null
                    then 'blank v1 title: named "Workout"' end
            )) order by r.v1_id)
            from resolved as r
            where (r.v1_coach_id is not null and r.coach_id is null)
                or (r.v1_activity_id is not null and r.activity_id is null)
                or nullif(btrim(r.r ->> 'title'), '') is null
        ), '[]')
    into v_workouts_created, v_workout_notes;

    -- Where the athlete's history came from ---------------------------------------------------
    if v_conn_id is not null then
        insert into public.sync_history (
            connection_id, user_id, sync_trigger, sync_status, sync_started_at,
            sync_completed_at, window_start, window_end, activities_fetched,
            activities_created, activities_updated, activities_skipped, api_calls,
            error_message, error_details
        ) values (
            v_conn_id, p_user_id, 'legacy_import', case
                when jsonb_array_length(v_strava_errors) > 0 then 'partial' else 'success'
            end::public.sync_status,
            v_started, greatest(clock_timestamp(), v_started),
            v_window_start, v_window_end, v_strava_count, v_strava_created, 0,
            v_strava_count - v_strava_created, 0,
            case when jsonb_array_length(v_strava_errors) > 0 then
                jsonb_array_length(v_strava_errors)
                || ' Strava activities from Trainlytics v1 could not be read' end,
            jsonb_build_object(
                'source', 'Trainlytics v1',
                'v1_connection_id', p_connection -> 'id',
                'skipped', v_strava_errors
            )
        );
    end if;

    insert into private.legacy_users (v1_user_id, user_id, v1_email, v1_connection_id, notes)
    values (
        (p_v1_user ->> 'id')::integer, p_user_id, p_v1_user ->> 'email',
        (p_connection ->> 'id')::integer, v_notes
    );

    return jsonb_build_object(
        'notes', v_notes,
        'connection_id', v_conn_id,
        'activities', jsonb_build_object(
            'read', jsonb_array_length(coalesce(p_activities, '[]')),
            'created', v_strava_created + v_manual_created,
            'duplicates', v_strava_duplicates
                + (jsonb_array_length(coalesce(p_activities, '[]')) - v_strava_count
                   - v_manual_created - jsonb_array_length(v_manual_errors)),
            'skipped', v_strava_errors || v_manual_errors || v_unlinked,
            'rebuilt_from_columns', v_raw_fallbacks
        ),
        'workouts', jsonb_build_object(
            'read', jsonb_array_length(coalesce(p_workouts, '[]')),
            'created', v_workouts_created,
            'notes', v_workout_notes
        )
    );
end;
$$;

comment on function public.legacy_import_user(uuid, jsonb, jsonb, jsonb, jsonb) is
    'Imports one Trainlytics v1 user into the existing v2 user p_user_id (whose auth user the '
    'caller created in the same transaction, or through the Supabase Auth admin API): the '
    'profile (role: coach in any case, admin only from exactly ''admin'', anything else athlete; '
    'preferences that are not a JSON object kept verbatim under legacy_v1_preferences), the '
    'chosen v1 Strava connection (p_connection: the v1 row plus status, reason and the tokens '
    'sealed by the caller; active, or revoked with its reason), the v1 activities through '
    'public.ingest_activities and private.normalize_strava (raw_data when it is a JSON object, '
    'else the columns rebuilt in Strava''s shape; v1 manual entries become manual activities), '
    'the workouts with their coach and completed activity, a sync_history row (trigger '
    'legacy_import) and the private.legacy_users mapping row. Arguments are v1 rows as to_jsonb '
    'gives them. Returns what it did as JSON. Service role only.';

revoke all on function public.legacy_import_user(uuid, jsonb, jsonb, jsonb, jsonb)
from public, anon, authenticated;

grant execute on function public.legacy_import_user(uuid, jsonb, jsonb, jsonb, jsonb)
to service_role;
