-- Issue 14 (HTTP): access events from webhooks (a deauthorisation, a permission change) are
-- confirmed with the provider before anything is revoked or deleted, and they concern every
-- connection of that provider account that is not disconnected: active, error or revoked
-- (Strava's API agreement requires deleting its data on deauthorisation whatever our status).
-- This lookup lists them for the webhook service, which queues one confirmation job each.
-- Service role only, like the other connection functions.

create function public.connection_find_all_by_provider_user(
    p_provider public.provider_type,
    p_provider_user_id text
)
returns table (connection_id bigint, user_id uuid, status public.connection_status)
language sql
stable
set search_path = ''
as $$
    select pc.id, pc.user_id, pc.status
    from public.provider_connections as pc
    where pc.provider = p_provider
        and pc.provider_user_id = p_provider_user_id
        and pc.status <> 'disconnected'
    order by pc.id;
$$;
comment on function public.connection_find_all_by_provider_user(public.provider_type, text) is
    'Every connection of a provider account that is not disconnected (active, error or revoked) '
    'and its user, for webhook events that claim the app lost access: each is confirmed with '
    'the provider before anything is revoked or deleted. Service role only.';

revoke all on function public.connection_find_all_by_provider_user(public.provider_type, text)
from public, anon, authenticated;
grant execute on function public.connection_find_all_by_provider_user(public.provider_type, text)
to service_role;
