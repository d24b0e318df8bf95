-- activity_raw_payloads: the provider's payload of each activity, exactly as received, kept
-- out of the hot activities table. It lets a better mapping re-normalise stored activities
-- inside the database, and lets the athlete export what the provider sent.

create table public.activity_raw_payloads (
    activity_id bigint primary key references public.activities (id) on delete cascade,
    user_id uuid not null references public.users (id) on delete cascade,
    payload jsonb not null,
    received_at timestamptz not null default now()
);

-- Raw payloads: no second foreign key per row -----------------------------------------------------
-- Each stored payload paid two foreign-key checks; the one on user_id proves nothing the
-- activity_id key does not: the payload's activity belongs to that user (private.ingest_page
-- writes the connection's user into both), and deleting the user deletes the activities, whose
-- cascade deletes the payloads. The index on user_id stays for the athlete's reads under RLS.
alter table public.activity_raw_payloads
drop constraint activity_raw_payloads_user_id_fkey;

alter table public.activity_raw_payloads
add constraint activity_raw_payloads_payload_size check (pg_column_size(payload) <= 4194304);

create index activity_raw_payloads_user_id_idx on public.activity_raw_payloads (user_id);

comment on table public.activity_raw_payloads is
    'The provider''s raw JSON of each provider activity (1:1 with activities), as last '
    'received. Readable by the athlete only.';

comment on column public.activity_raw_payloads.payload is
    'The activity document exactly as the provider returned it.';

comment on column public.activity_raw_payloads.received_at is 'When this payload was received.';

alter table public.activity_raw_payloads enable row level security;

revoke all on table public.activity_raw_payloads from anon, authenticated;

grant select on table public.activity_raw_payloads to authenticated;

grant all on table public.activity_raw_payloads to service_role;

create policy activity_raw_payloads_select on public.activity_raw_payloads
for select to authenticated
using (user_id = (select auth.uid()));

comment on policy activity_raw_payloads_select on public.activity_raw_payloads is
    'Only the athlete reads their raw provider payloads (not coaches, not admins).';
