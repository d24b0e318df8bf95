-- The select lists below follow their insert column lists, so they carry no aliases (AL03).
-- noqa: disable=AL03
-- Small demo data set: one athlete (Alice) with a Strava and a Garmin connection, six weeks of
-- activities from both, their sync history, and a coach (Bob) she granted access to.
-- Loaded by `supabase db reset` on a local Supabase, and by `trainlytics demo` on the embedded
-- database. Idempotent: re-running adds nothing.

-- The users, written as Supabase Auth's admin endpoint writes them (supabase/auth
-- internal/api/admin.go adminUserCreate; internal/models/user.go, identity.go): every column
-- GoTrue scans into a Go string is '' (never null: a null there makes Auth fail to read the
-- user, and its admin user list answer 500), email_verified is merged into the user metadata
-- on confirmation, and each user has its 'email' identity (provider_id = the user id). No
-- password is set (encrypted_password ''): they cannot sign in until one is set through
-- Supabase Auth (e.g. a password reset on a local Supabase). The on_auth_user_created
-- trigger creates their profiles.
insert into auth.users (
    instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
    confirmation_token, recovery_token, email_change_token_current, email_change_token_new,
    email_change, phone_change_token, phone_change, reauthentication_token,
    email_change_confirm_status, raw_app_meta_data, raw_user_meta_data, is_sso_user,
    is_anonymous, created_at, updated_at
)
values
(
    '00000000-0000-0000-0000-000000000000', 'a11ce000-0000-4000-8000-000000000001',
    'authenticated', 'authenticated', 'alice@example.com', '', now(),
    '', '', '', '', '', '', '', '', 0,
    '{"provider": "email", "providers": ["email"]}',
    '{"first_name": "Alice", "last_name": "Martin", "email_verified": true}', false, false,
    now(), now()
),
(
    '00000000-0000-0000-0000-000000000000', 'b0b00000-0000-4000-8000-000000000002',
    'authenticated', 'authenticated', 'bob.coach@example.com', '', now(),
    '', '', '', '', '', '', '', '', 0,
    '{"provider": "email", "providers": ["email"]}',
    '{"first_name": "Bob", "last_name": "Durand", "email_verified": true}', false, false,
    now(), now()
)
on conflict (id) do nothing;

insert into auth.identities (
    provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at
)
select
    u.id::text,
    u.id,
    jsonb_build_object(
        'sub', u.id::text, 'email', u.email, 'email_verified', false, 'phone_verified', false
    ),
    'email',
    now(),
    now(),
    now()
from auth.users as u
where u.id in ('a11ce000-0000-4000-8000-000000000001', 'b0b00000-0000-4000-8000-000000000002')
on conflict (provider_id, provider) do nothing;

update public.users
set role = 'coach'
where id = 'b0b00000-0000-4000-8000-000000000002' and role <> 'coach';

update public.users
set preferences = '{"units": "metric", "ftp": 250, "resting_heart_rate": 48, "max_heart_rate": 188}'
where id = 'a11ce000-0000-4000-8000-000000000001' and preferences = '{}';

-- Alice lives in Lyon: activities without a position (a class entered by hand) are in her zone.
update public.users
set preferences = preferences || '{"timezone": "Europe/Paris"}'
where id = 'a11ce000-0000-4000-8000-000000000001' and not preferences ? 'timezone';

insert into public.coach_athletes (athlete_id, coach_id, status, activated_at)
values (
    'a11ce000-0000-4000-8000-000000000001', 'b0b00000-0000-4000-8000-000000000002', 'active', now()
)
on conflict (athlete_id, coach_id) do nothing;

insert into public.provider_connections (
    user_id, provider, provider_user_id, provider_username, provider_profile, scopes,
    last_sync_at
)
values
(
    'a11ce000-0000-4000-8000-000000000001', 'strava', '12345678', 'alice_runs',
    '{"firstname": "Alice", "lastname": "Martin", "city": "Lyon"}',
    '{read,activity:read_all}', now() - interval '2 hours'
),
(
    'a11ce000-0000-4000-8000-000000000001', 'garmin', 'c0ffee00-garmin-user-0001', 'Alice M.',
    '{"userId": "c0ffee00-garmin-user-0001"}', '{ACTIVITY_EXPORT}', now() - interval '1 hour'
)
on conflict (user_id, provider) do nothing;

-- Six weeks: Strava runs on Tuesdays, Thursdays and Sundays; Garmin rides on Saturdays.
-- Alice lives in Lyon (UTC+1 in winter).
insert into public.activities (
    user_id, connection_id, provider, source, external_id, name, activity_type,
    provider_activity_type, start_date, timezone, utc_offset, elapsed_time, moving_time,
    distance, average_speed, max_speed, average_heartrate, max_heartrate, average_cadence,
    elevation_gain, calories, is_manual, is_private, device_name, provider_updated_at
)
select
    pc.user_id,
    pc.id,
    pc.provider,
    'provider',
    'seed-' || pc.provider || '-' || d.day,
    case pc.provider when 'strava' then 'Run ' || d.day else 'Ride ' || d.day end,
    case pc.provider when 'strava' then 'run' else 'ride' end::public.activity_type,
    case pc.provider when 'strava' then 'Run' else 'ROAD_BIKING' end,
    (current_date - d.day)::timestamp + interval '6 hours 30 minutes',
    'Europe/Paris',
    3600,
    case pc.provider when 'strava' then 2700 + d.day * 10 else 7200 + d.day * 30 end,
    case pc.provider when 'strava' then 2600 + d.day * 10 else 6900 + d.day * 30 end,
    case pc.provider when 'strava' then 8000.0 + d.day * 50 else 50000.0 + d.day * 250 end,
    case pc.provider when 'strava' then 3.1 else 7.3 end,
    case pc.provider when 'strava' then 4.2 else 14.8 end,
    case pc.provider when 'strava' then 148 else 132 end,
    case pc.provider when 'strava' then 171 else 165 end,
    case pc.provider when 'strava' then 172 else 88 end,
    case pc.provider when 'strava' then 60 + d.day else 450 + d.day * 5 end,
    case pc.provider when 'strava' then 620 else 1350 end,
    false,
    d.day % 13 = 0,
    case pc.provider when 'strava' then 'Garmin Forerunner 965' else 'Edge 840' end,
    now()
from public.provider_connections as pc
cross join generate_series(1, 42) as d (day)
where
    pc.user_id = 'a11ce000-0000-4000-8000-000000000001'
    and (
        (pc.provider = 'strava' and extract(isodow from current_date - d.day) in (2, 4, 7))
        or (pc.provider = 'garmin' and extract(isodow from current_date - d.day) = 6)
    )
on conflict (connection_id, external_id) do nothing;

-- One manual strength session.
insert into public.activities (
    user_id, source, external_id, name, activity_type, start_date, timezone, utc_offset,
    elapsed_time, moving_time, is_manual
)
values (
    'a11ce000-0000-4000-8000-000000000001', 'manual', 'seed-manual-1', 'Gym: legs',
    'weight_training', current_date - 3 + time '18:00', 'Europe/Paris', 3600, 3000, 2700, true
)
on conflict (user_id, external_id) where connection_id is null do nothing;

-- Sync history: daily runs for a week per connection, one failure and one partial run.
insert into public.sync_history (
    connection_id, user_id, sync_trigger, sync_status, sync_started_at, sync_completed_at,
    window_start, window_end, activities_fetched, activities_created, activities_updated,
    activities_skipped, api_calls, error_message
)
select
    pc.id,
    pc.user_id,
    case when d.day = 7 then 'initial' else 'scheduled' end::public.sync_trigger,
    case
        when pc.provider = 'garmin' and d.day = 3 then 'failed'
        when pc.provider = 'strava' and d.day = 2 then 'partial'
        else 'success'
    end::public.sync_status,
    now() - make_interval(days => d.day),
    now() - make_interval(days => d.day) + interval '40 seconds',
    now() - make_interval(days => d.day + 1),
    now() - make_interval(days => d.day),
    case when pc.provider = 'garmin' and d.day = 3 then 0 else 3 end,
    case when d.day = 7 then 12 when pc.provider = 'garmin' and d.day = 3 then 0 else 1 end,
    case when pc.provider = 'garmin' and d.day = 3 then 0 else 1 end,
    case when pc.provider = 'garmin' and d.day = 3 then 0 else 1 end,
    case when pc.provider = 'garmin' and d.day = 3 then 1 else 2 end,
    case
        when pc.provider = 'garmin' and d.day = 3 then 'Garmin API answered 503 Service Unavailable'
        when pc.provider = 'strava' and d.day = 2 then 'Strava rate limit reached after page 1'
    end
from public.provider_connections as pc
cross join generate_series(1, 7) as d (day)
where
    pc.user_id = 'a11ce000-0000-4000-8000-000000000001'
    and not exists (select 1 from public.sync_history as sh
where sh.connection_id = pc.id);
