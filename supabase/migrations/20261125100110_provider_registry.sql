-- The provider registry: what the database knows of each provider, one row per provider, each
-- inserted by that provider's own migration (README, "Adding a provider"). Nothing else in
-- the schema lists the providers: the ingest dispatches to the normaliser named here
-- (private.normalize_page, private.normalize_activity), a disconnect deletes the provider's
-- activities when deletes_data_on_disconnect says so, and duplicate grouping ranks the copies
-- by public.provider_priorities (a provider's row there is its duplicate priority).

create table private.providers (
    provider public.provider_type primary key,
    normaliser regprocedure not null,
    deletes_data_on_disconnect boolean not null default false
);

comment on table private.providers is
    'The provider registry: one row per provider, inserted by the provider''s own migration. '
    'Adding a provider adds a row here (and its public.provider_priorities row and '
    'public.activity_type_mappings rows); no existing function or constraint lists providers.';

comment on column private.providers.provider is 'The provider_type value.';

comment on column private.providers.normaliser is
    'Its normaliser: a function (jsonb) returning setof private.normalized_activity, one row '
    'for a readable payload (private.normalize_page calls it through dynamic SQL, once per '
    'page; private.check_normalized then applies the common checks).';

comment on column private.providers.deletes_data_on_disconnect is
    'Whether a disconnect deletes the activities synchronised from this provider (Strava: its '
    'API agreement requires deleting Strava data when the athlete disconnects or deauthorises).';

alter table private.providers enable row level security;

revoke all on table private.providers from public, anon, authenticated;

grant select on table private.providers to service_role;

create function private.is_provider_name(p_name text)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select p_name = any(enum_range(null::public.provider_type)::text[]);
$$;

comment on function private.is_provider_name(text) is
    'Whether the text is a public.provider_type value (for CHECK constraints over origins that '
    'mix providers with file and manual). Immutable in practice: enum values are only added.';

revoke all on function private.is_provider_name(text) from public, anon, authenticated;

grant execute on function private.is_provider_name(text) to service_role;

create table public.provider_priorities (
    origin text primary key,
    priority smallint not null unique,
    upload_origin_pattern text,
    constraint provider_priorities_origin_known check (
        origin in ('file', 'manual') or private.is_provider_name(origin)
    )
);

comment on table public.provider_priorities is
    'Reference data for duplicate grouping: which copy of a workout is the primary. The origin '
    'of a row is its provider, or its source (file, manual) when it has no connection; the '
    'lowest priority wins. Device clouds first (they hold the recording device''s own file: '
    'garmin, coros, polar, wahoo, fitbit), then imported files, then Strava (a re-upload, '
    'possibly cropped by privacy zones, and shown to the athlete only), then manual entries. '
    'Ties: the richer record (power, heart rate, device known), then the older row.';

comment on column public.provider_priorities.origin is
    'A provider_type value, or file / manual for rows without a connection. Each provider''s '
    'migration inserts its own row (README, Adding a provider).';

comment on column public.provider_priorities.priority is
    'Rank of the origin: the lowest wins the primary role.';

comment on column public.provider_priorities.upload_origin_pattern is
    'Case-insensitive regular expression matched against another copy''s upload origin '
    '(activities.activity_data ->> ''external_id'', e.g. Strava''s garmin_push_12345678901): a '
    'match tells that copy was forwarded by this origin, which widens the tolerances; when the '
    'digits of the upload origin equal this row''s external_id, the link is certain.';

insert into public.provider_priorities (origin, priority, upload_origin_pattern) values
('file', 60, null),
('manual', 80, null);

alter table public.provider_priorities enable row level security;

revoke all on table public.provider_priorities from anon, authenticated;

grant select on table public.provider_priorities to authenticated;

grant all on table public.provider_priorities to service_role;

create policy provider_priorities_select on public.provider_priorities
for select to authenticated
using (true);

comment on policy provider_priorities_select on public.provider_priorities is
    'Reference data: every signed-in user reads the provider priorities (no personal data).';
