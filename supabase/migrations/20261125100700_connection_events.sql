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

alter table public.connection_events
add constraint connection_events_detail_size check (pg_column_size(detail) <= 16384);

create index connection_events_connection_id_idx
on public.connection_events (connection_id, occurred_at desc);

create index connection_events_user_id_idx on public.connection_events (user_id, occurred_at desc);

comment on table public.connection_events is
    'Audit trail of a provider connection (see type connection_event_type). Never holds a '
    'token, secret or authorization code.';

comment on column public.connection_events.detail is
    'What happened, e.g. {"reason": "invalid_grant", "scopes": [...]}; no secrets.';

create function private.record_connection_status_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_queued integer;
begin
    if new.status = 'disconnected' and old.status <> 'disconnected' then
        new.disconnected_at := now();
        new.token_expires_at := null;
        -- The tokens go to the revocation queue (the workers revoke them at the provider).
        with moved as (
            delete from private.provider_tokens as t
            where t.connection_id = new.id
            returning t.*
        )
        insert into private.token_revocations (
            connection_id, user_id, provider, provider_user_id, key_id,
            access_token_ciphertext, refresh_token_ciphertext, access_token_expires_at
        )
        select
            m.connection_id, m.user_id, new.provider, new.provider_user_id, m.key_id,
            m.access_token_ciphertext, m.refresh_token_ciphertext, m.access_token_expires_at
        from moved as m;
        get diagnostics v_queued = row_count;
        if v_queued > 0 and to_regclass('queue.procrastinate_jobs') is not null then
            perform public.enqueue_job(
                'trainlytics:revoke_tokens',
                jsonb_build_object('connection_id', new.id),
                'revocations',
                'revoke_tokens:' || new.id::text
            );
        end if;
        if private.provider_deletes_data_on_disconnect(new.provider) then
            delete from public.activities as a where a.connection_id = new.id;
            -- The data is gone: a reconnect backfills from the beginning.
            new.sync_cursor := '{}'::jsonb;
            new.last_sync_at := null;
        end if;
        insert into public.connection_events (connection_id, user_id, event, detail)
        values (
            new.id, new.user_id, 'disconnected',
            jsonb_build_object(
                'by', coalesce(auth.role(), 'database'),
                'revocation_queued', v_queued > 0
            )
        );
    elsif new.status = 'active' and old.status = 'disconnected' then
        -- Reconnected before a worker revoked the old tokens: revoking them now could end the
        -- new authorisation too (Strava deauthorises the app for the athlete), so they go.
        delete from private.token_revocations as r where r.connection_id = new.id;
    end if;
    return new;
end;
$$;

revoke all on function private.record_connection_status_change() from public, anon, authenticated;

comment on function private.record_connection_status_change() is
    'Trigger on provider_connections, the one place a disconnect happens (Data API or '
    'service): stamps disconnected_at, moves the tokens to private.token_revocations and queues '
    'a trainlytics:revoke_tokens job, deletes the activities when the provider''s terms require '
    'it (Strava) and resets the cursor, and records a disconnected event; a reconnect drops the '
    'revocations still queued for the connection. Security definer: '
    'athletes may neither touch tokens, the queue, provider rows nor audit events themselves.';

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
