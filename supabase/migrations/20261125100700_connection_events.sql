-- connection_events: the audit trail of every connection (connected, refreshed, revoked, ...).
-- Written by the service and by triggers; the athlete reads their own, to see why a
-- connection stopped working.

create table public.connection_events (
    id bigint generated always as identity primary key,
    connection_id bigint not null,
    user_id uuid not null references public.users (id) on delete cascade,
    event public.connection_event_type not null,
    detail jsonb not null default '{}'::jsonb,
    occurred_at timestamptz not null default now(),
    constraint connection_events_connection_fkey foreign key (connection_id, user_id)
    references public.provider_connections (id, user_id) on delete cascade,
    constraint connection_events_detail_is_object check (jsonb_typeof(detail) = 'object')
);

create index connection_events_connection_id_idx
on public.connection_events (connection_id, occurred_at desc);
create index connection_events_user_id_idx on public.connection_events (user_id, occurred_at desc);

comment on table public.connection_events is
    'Audit trail of a provider connection (see type connection_event_type). Never holds a '
    'token, secret or authorization code.';
comment on column public.connection_events.detail is
    'What happened, e.g. {"reason": "invalid_grant", "scopes": [...]}; no secrets.';

-- A disconnect, whichever path it takes (the athlete through the Data API, or the service after
-- revoking at the provider), stamps the row, records the event and drops the tokens.
create function private.record_connection_status_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.status = 'disconnected' and old.status <> 'disconnected' then
        new.disconnected_at := now();
        delete from private.provider_tokens where connection_id = new.id;
        insert into public.connection_events (connection_id, user_id, event, detail)
        values (
            new.id, new.user_id, 'disconnected',
            jsonb_build_object('by', coalesce(auth.role(), 'database'))
        );
    end if;
    return new;
end;
$$;
comment on function private.record_connection_status_change() is
    'Trigger on provider_connections: on a disconnect, stamps disconnected_at, deletes the '
    'tokens and records a disconnected event. Security definer: athletes may neither delete '
    'tokens nor insert audit events themselves.';
revoke all on function private.record_connection_status_change() from public, anon, authenticated;

create trigger provider_connections_record_status_change
before update of status on public.provider_connections
for each row execute function private.record_connection_status_change();

alter table public.connection_events enable row level security;

revoke all on table public.connection_events from anon, authenticated;
grant select on table public.connection_events to authenticated;
grant all on table public.connection_events to service_role;

create policy connection_events_select on public.connection_events
for select to authenticated
using (user_id = any(array(select private.own_user_ids())));
comment on policy connection_events_select on public.connection_events is
    'An athlete reads the events of their own connections; an admin reads all.';
