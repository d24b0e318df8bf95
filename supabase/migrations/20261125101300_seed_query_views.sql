-- The original design's three example queries, as views. They run as the caller
-- (security_invoker), so row-level security of the underlying tables applies: an athlete sees
-- their own rows, an admin everyone's.

create view public.activities_with_provider
with (security_invoker = true) as
select
    a.id,
    a.user_id,
    a.name,
    a.activity_type,
    a.start_date,
    a.distance,
    pc.provider,
    pc.provider_username
from public.activities as a
inner join public.provider_connections as pc on a.connection_id = pc.id
where a.deleted_at is null and a.primary_activity_id is null;

revoke all on public.activities_with_provider from anon, authenticated;

grant select on public.activities_with_provider to authenticated, service_role;

comment on view public.activities_with_provider is
    'Workouts with the provider and provider username their primary copy came from (the '
    'original design''s first example query), each workout once: copies of a workout held by '
    'other providers (primary_activity_id not null) are left out, as are manual and imported '
    'primaries (no connection) and soft-deleted rows. Runs as the caller: RLS applies.';

create view public.user_provider_connections
with (security_invoker = true) as
select
    u.id as user_id,
    u.email,
    pc.provider,
    pc.is_active,
    pc.last_sync_at
from public.users as u
left join public.provider_connections as pc on u.id = pc.user_id;

comment on view public.user_provider_connections is
    'Which providers each user connected, whether each connection is active and when it last '
    'synced (the second example query). A user without connections appears once with nulls. '
    'Runs as the caller: RLS applies.';

revoke all on public.user_provider_connections from anon, authenticated;

grant select on public.user_provider_connections to authenticated, service_role;

create view public.sync_statistics
with (security_invoker = true) as
select
    pc.provider,
    sh.sync_status,
    sum(sh.activities_created) as total_created,
    count(*) as sync_count
from public.sync_history as sh
inner join public.provider_connections as pc on sh.connection_id = pc.id
group by pc.provider, sh.sync_status;

comment on view public.sync_statistics is
    'Number of synchronisations and activities created, per provider and outcome (the third '
    'example query), over the sync history the caller may read. Runs as the caller: RLS '
    'applies.';

revoke all on public.sync_statistics from anon, authenticated;

grant select on public.sync_statistics to authenticated, service_role;
