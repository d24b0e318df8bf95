-- activities: every completed activity from every source, in one table, in SI units.
--
-- Every trigger a write to activities fires, in firing order, with the file that creates it:
-- supabase/migrations/README.md ("What a write to public.activities fires", checked by a test).
--
-- Provider rows are unique per (connection_id, external_id); rows without a connection
-- (manual entries, imported files) are unique per (user_id, external_id), where external_id is
-- a client id or a content hash, so every path is idempotent. The provider's raw payload sits
-- in activity_raw_payloads to keep this hot table narrow. Deleted provider activities are soft
-- deleted (deleted_at) so that a late update cannot resurrect them unnoticed.

create table public.activities (
    id bigint generated always as identity primary key,
    user_id uuid not null default auth.uid() references public.users (id) on delete cascade,
    connection_id bigint,
    provider public.provider_type,
    source public.activity_source not null default 'manual',
    external_id text not null default gen_random_uuid()::text,
    name text,
    description text,
    activity_type public.activity_type not null default 'other',
    provider_activity_type text,
    start_date timestamptz not null,
    timezone text,
    utc_offset integer not null default 0,
    start_date_local timestamp generated always as (
        (start_date at time zone 'UTC') + make_interval(secs => utc_offset)
    ) stored,
    elapsed_time integer,
    moving_time integer,
    distance double precision,
    average_speed double precision,
    max_speed double precision,
    pace double precision generated always as (
        case when average_speed > 0 then 1000.0 / average_speed end
    ) stored,
    average_heartrate real,
    max_heartrate real,
    average_watts real,
    max_watts real,
    weighted_average_watts real,
    average_cadence real,
    max_cadence real,
    elevation_gain real,
    elevation_loss real,
    calories real,
    is_manual boolean not null default true,
    is_private boolean not null default false,
    device_name text,
    activity_data jsonb not null default '{}'::jsonb,
    provider_updated_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint activities_connection_external_key unique (connection_id, external_id),
    -- A provider row names its connection, and the connection belongs to the same user and
    -- provider; rows without a connection carry no provider.
    constraint activities_connection_fkey foreign key (connection_id, user_id, provider)
    references public.provider_connections (id, user_id, provider),
    constraint activities_source_matches_connection check (
        (source = 'provider') = (connection_id is not null)
        and (connection_id is null) = (provider is null)
    ),
    constraint activities_manual_source_is_manual check (source <> 'manual' or is_manual),
    constraint activities_utc_offset_range check (utc_offset between -64800 and 64800),
    constraint activities_times_nonnegative check (
        elapsed_time >= 0 and moving_time >= 0
    ),
    constraint activities_distance_nonnegative check (distance >= 0),
    constraint activities_speeds_nonnegative check (average_speed >= 0 and max_speed >= 0),
    -- Written flat (no between): the expression then reads back the same after a dump.
    constraint activities_heartrate_range check (
        average_heartrate >= 0 and average_heartrate <= 300
        and max_heartrate >= 0 and max_heartrate <= 300
    ),
    constraint activities_power_nonnegative check (
        average_watts >= 0 and max_watts >= 0 and weighted_average_watts >= 0
    ),
    constraint activities_cadence_nonnegative check (average_cadence >= 0 and max_cadence >= 0),
    constraint activities_elevation_nonnegative check (elevation_gain >= 0 and elevation_loss >= 0),
    constraint activities_calories_nonnegative check (calories >= 0),
    constraint activities_data_is_object check (jsonb_typeof(activity_data) = 'object'),
    constraint activities_name_length check (char_length(name) <= 500),
    constraint activities_description_length check (char_length(description) <= 20000)
);

-- --- columns --------------------------------------------------------------------------------

alter table public.activities
add column primary_activity_id bigint references public.activities (id) on delete set null,
add column duplicate_override boolean not null default false;

-- --- finite numbers ---------------------------------------------------------------------------

alter table public.activities
add constraint activities_distance_finite check (
    distance > '-Infinity' and distance < 'Infinity'
),
add constraint activities_average_speed_finite check (
    average_speed > '-Infinity' and average_speed < 'Infinity'
),
add constraint activities_max_speed_finite check (
    max_speed > '-Infinity' and max_speed < 'Infinity'
),
add constraint activities_pace_finite check (
    pace > '-Infinity' and pace < 'Infinity'
),
add constraint activities_average_heartrate_finite check (
    average_heartrate > '-Infinity' and average_heartrate < 'Infinity'
),
add constraint activities_max_heartrate_finite check (
    max_heartrate > '-Infinity' and max_heartrate < 'Infinity'
),
add constraint activities_average_watts_finite check (
    average_watts > '-Infinity' and average_watts < 'Infinity'
),
add constraint activities_max_watts_finite check (
    max_watts > '-Infinity' and max_watts < 'Infinity'
),
add constraint activities_weighted_average_watts_finite check (
    weighted_average_watts > '-Infinity' and weighted_average_watts < 'Infinity'
),
add constraint activities_average_cadence_finite check (
    average_cadence > '-Infinity' and average_cadence < 'Infinity'
),
add constraint activities_max_cadence_finite check (
    max_cadence > '-Infinity' and max_cadence < 'Infinity'
),
add constraint activities_elevation_gain_finite check (
    elevation_gain > '-Infinity' and elevation_gain < 'Infinity'
),
add constraint activities_elevation_loss_finite check (
    elevation_loss > '-Infinity' and elevation_loss < 'Infinity'
),
add constraint activities_calories_finite check (
    calories > '-Infinity' and calories < 'Infinity'
),
add constraint activities_activity_data_size check (pg_column_size(activity_data) <= 65536);

alter table public.activities
add column user_edited_fields text[] not null default '{}',
add constraint activities_user_edited_fields_known check (
    user_edited_fields <@ array['name', 'description', 'is_private']::text[]
);

alter table public.activities
add column primary_hidden boolean not null default false;

-- Manual and imported rows are idempotent too.
create unique index activities_user_external_key
on public.activities (user_id, external_id)
where connection_id is null;

-- The frontend's main query (a page of recent activities) and every per-user aggregate.
create index activities_user_start_date_idx on public.activities (user_id, start_date desc);

comment on table public.activities is
    'Every completed activity of every source (provider, manual entry, imported file), with '
    'normalised metrics in SI units. Provider-specific fields stay in activity_data; the raw '
    'payload in activity_raw_payloads.';

comment on column public.activities.user_id is 'The athlete who did the activity.';

comment on column public.activities.connection_id is
    'The provider connection it came through; null for manual entries and imported files.';

comment on column public.activities.provider is
    'The provider it came from (equal to its connection''s); null for manual and file rows. '
    'Strava-sourced rows are shown to their athlete only.';

comment on column public.activities.source is 'provider, manual or file (type activity_source).';

comment on column public.activities.external_id is
    'The provider''s activity id; for rows without a connection, a client-chosen id (manual) or '
    'a content hash (file), which makes retries and re-imports idempotent.';

comment on column public.activities.activity_type is
    'Canonical sport (type activity_type); other when the provider''s type is unknown.';

comment on column public.activities.provider_activity_type is
    'The provider''s own sport value, kept verbatim (e.g. Strava sport_type, Garmin '
    'activityType).';

comment on column public.activities.start_date is 'Start instant (timestamptz, UTC).';

comment on column public.activities.timezone is
    'IANA time zone of the start (e.g. Europe/Paris), when the source tells it.';

comment on column public.activities.utc_offset is
    'Offset of local time from UTC at the start, in seconds (east positive).';

comment on column public.activities.start_date_local is
    'Local wall-clock start (start_date + utc_offset), the basis of calendar statistics; '
    'generated.';

comment on column public.activities.elapsed_time is 'Total duration including pauses, in s.';

comment on column public.activities.moving_time is 'Duration in motion, in s.';

comment on column public.activities.distance is 'Distance in m.';

comment on column public.activities.average_speed is 'Average speed in m/s.';

comment on column public.activities.max_speed is 'Maximum speed in m/s.';

comment on column public.activities.pace is
    'Average pace in s/km, derived from average_speed (generated); null when speed is 0 or '
    'unknown.';

comment on column public.activities.average_heartrate is 'Average heart rate in bpm.';

comment on column public.activities.max_heartrate is 'Maximum heart rate in bpm.';

comment on column public.activities.average_watts is 'Average power in W.';

comment on column public.activities.max_watts is 'Maximum power in W.';

comment on column public.activities.weighted_average_watts is
    'Weighted (normalised) average power in W, as the source computes it.';

comment on column public.activities.elevation_gain is 'Total ascent in m.';

comment on column public.activities.elevation_loss is 'Total descent in m.';

comment on column public.activities.calories is 'Energy expended in kcal.';

comment on column public.activities.is_manual is
    'Entered by hand rather than recorded by a device (at the provider or in Trainlytics).';

comment on column public.activities.is_private is
    'Hidden from coaches (and from anyone but the athlete).';

comment on column public.activities.device_name is 'Recording device as the source names it.';

comment on column public.activities.activity_data is
    'Provider-specific extra fields worth keeping in the hot table (JSON object).';

comment on column public.activities.provider_updated_at is
    'When the provider last changed this activity: an update older than this is ignored.';

comment on column public.activities.deleted_at is
    'Soft delete: set when the provider deleted the activity; hidden from the API.';

create trigger activities_set_updated_at
before update on public.activities
for each row execute function private.set_updated_at();

alter table public.activities enable row level security;

revoke all on table public.activities from anon, authenticated;

grant select on table public.activities to authenticated;

grant insert (
    user_id, external_id, name, description, activity_type, start_date, timezone, utc_offset,
    elapsed_time, moving_time, distance, average_speed, max_speed, average_heartrate,
    max_heartrate, average_watts, max_watts, weighted_average_watts, average_cadence, max_cadence,
    elevation_gain, elevation_loss, calories, is_private, device_name, activity_data
) on table public.activities to authenticated;

grant update (name, description, is_private) on table public.activities to authenticated;

grant delete on table public.activities to authenticated;

grant all on table public.activities to service_role;

create policy activities_select on public.activities
for select to authenticated
using (
    user_id = any(array(select private.readable_user_ids()))
    and deleted_at is null
    and (
        user_id = (select auth.uid())
        or (select private.is_admin())
        or (not is_private and provider is distinct from 'strava' and not primary_hidden)
    )
);

comment on policy activities_select on public.activities is
    'An athlete reads their own activities; a coach with an active grant reads the athlete''s '
    'non-private activities that are not Strava-sourced (Strava API agreement) and whose '
    'primary copy is not hidden either (primary_hidden); an admin reads all. Soft-deleted rows '
    'are hidden.';

create policy activities_insert on public.activities
for insert to authenticated
with check (
    user_id = (select auth.uid())
    and source = 'manual'
    and connection_id is null
);

comment on policy activities_insert on public.activities is
    'An athlete creates manual activities for themselves only.';

create policy activities_update on public.activities
for update to authenticated
using (user_id = (select auth.uid()) and deleted_at is null)
with check (user_id = (select auth.uid()));

comment on policy activities_update on public.activities is
    'An athlete edits the name, description and privacy of their own activities (column grants '
    'limit the columns).';

create policy activities_delete on public.activities
for delete to authenticated
using (user_id = (select auth.uid()) and source = 'manual');

comment on policy activities_delete on public.activities is
    'An athlete deletes their own manual activities; provider and file rows stay.';

comment on column public.activities.primary_activity_id is
    'Cross-provider duplicates: null when this row is the primary (or only) copy of its workout; '
    'otherwise the id of the primary copy, which is itself a primary. Statistics count only rows '
    'with primary_activity_id is null (and deleted_at is null). Maintained by the duplicate '
    'grouping trigger and by public.set_primary_activity / public.split_duplicate.';

comment on column public.activities.duplicate_override is
    'True when the athlete chose this row''s grouping (set_primary_activity or split_duplicate): '
    'automatic regrouping never changes it again.';

-- The members of a group (the foreign key's index), and the closure step of the regrouping.
create index activities_primary_activity_id_idx
on public.activities (primary_activity_id);

comment on column public.activities.user_edited_fields is
    'The fields the athlete edited in Trainlytics (name, description, is_private), recorded by '
    'a trigger on their updates: a later sync or re-normalisation keeps the athlete''s value of '
    'each of them instead of the provider''s.';

comment on column public.activities.primary_hidden is
    'True when this row is a copy (primary_activity_id set) whose primary is hidden from '
    'coaches (private or Strava-sourced): the copy is hidden from coaches too. Maintained by a '
    'trigger on activities.';

-- Rows that still lack a zone ------------------------------------------------------------------

-- Small once derived: rows without a zone are few (Strava rows carry one, files get one).
-- Per athlete (after an import or a sync page), and in id order over everyone (the one-time
-- derivation pages through all rows by id without sorting them each time).
create index activities_timezone_missing_idx on public.activities (user_id, id)
where timezone is null and deleted_at is null;

create index activities_timezone_missing_id_idx on public.activities (id)
where timezone is null and deleted_at is null;

-- Issue 15's one cadence rule (private.is_foot_activity; Strava's and the files' single-leg
-- counts doubled, Garmin's already of both feet) covers every foot sport, not running only.
comment on column public.activities.average_cadence is
    'Average cadence per minute, one rule whatever the source: steps of both feet for the foot '
    'sports run, trail_run, treadmill_run, track_run, virtual_run, walk and hike (the '
    'single-leg counts of Strava and of activity files are doubled, see '
    'activity_data.cadence_doubled); crank revolutions for cycling, strokes for swimming and '
    'rowing, pushes for wheelchair sports; other sports as the source counts them.';

comment on column public.activities.max_cadence is
    'Maximum cadence per minute (same rule as average_cadence).';
