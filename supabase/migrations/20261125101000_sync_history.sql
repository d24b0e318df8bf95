-- sync_history: one row per synchronisation run, from `running` to its outcome, so that
-- recurring failures are visible to the athlete, to operators and to analysts.

create table public.sync_history (
    id bigint generated always as identity primary key,
    connection_id bigint not null,
    user_id uuid not null references public.users (id) on delete cascade,
    sync_trigger public.sync_trigger not null,
    sync_status public.sync_status not null default 'running',
    sync_started_at timestamptz not null default now(),
    sync_completed_at timestamptz,
    window_start timestamptz,
    window_end timestamptz,
    activities_fetched integer not null default 0,
    activities_created integer not null default 0,
    activities_updated integer not null default 0,
    activities_skipped integer not null default 0,
    activities_deleted integer not null default 0,
    api_calls integer not null default 0,
    error_message text,
    error_details jsonb,
    constraint sync_history_connection_fkey foreign key (connection_id, user_id)
    references public.provider_connections (id, user_id) on delete cascade,
    constraint sync_history_completed_unless_running check (
        (sync_status = 'running') = (sync_completed_at is null)
    ),
    constraint sync_history_completed_after_start check (sync_completed_at >= sync_started_at),
    constraint sync_history_window_ordered check (window_end >= window_start),
    constraint sync_history_counts_nonnegative check (
        activities_fetched >= 0 and activities_created >= 0 and activities_updated >= 0
        and activities_skipped >= 0 and activities_deleted >= 0 and api_calls >= 0
    )
);

alter table public.sync_history
add constraint sync_history_error_details_size check (
    pg_column_size(error_details) <= 262144
);

alter table public.sync_history
add column activities_failed integer not null default 0;

alter table public.sync_history
add constraint sync_history_failed_nonnegative check (activities_failed >= 0);

create index sync_history_connection_id_idx
on public.sync_history (connection_id, sync_started_at desc);

create index sync_history_user_id_idx on public.sync_history (user_id, sync_started_at desc);

-- Finding runs left `running` by a dead worker.
create index sync_history_running_idx on public.sync_history (sync_started_at)
where sync_status = 'running';

comment on table public.sync_history is
    'One synchronisation run of one provider connection: why it ran, the window it covered, '
    'what it fetched and stored, the API calls it used, and how it ended.';

comment on column public.sync_history.sync_trigger is 'Why the run happened (type sync_trigger).';

comment on column public.sync_history.sync_status is
    'running until the run ends, then success, failed or partial (type sync_status).';

comment on column public.sync_history.sync_completed_at is
    'When the run ended; null while running.';

comment on column public.sync_history.window_start is
    'Start of the provider time window the run asked for (inclusive).';

comment on column public.sync_history.window_end is
    'End of the provider time window the run asked for (exclusive).';

comment on column public.sync_history.activities_fetched is
    'Activities received from the provider.';

comment on column public.sync_history.activities_created is 'New activities stored.';

comment on column public.sync_history.activities_updated is 'Stored activities changed.';

comment on column public.sync_history.activities_deleted is
    'Activities the provider deleted (soft deleted here).';

comment on column public.sync_history.api_calls is 'Provider API requests the run made.';

comment on column public.sync_history.error_message is 'What went wrong, in one line; no secrets.';

comment on column public.sync_history.error_details is
    'Structured error information (HTTP status, provider error code, skipped items and '
    'reasons); no secrets.';

alter table public.sync_history enable row level security;

revoke all on table public.sync_history from anon, authenticated;

grant select on table public.sync_history to authenticated;

grant all on table public.sync_history to service_role;

create policy sync_history_select on public.sync_history
for select to authenticated
using (user_id = any(array(select private.own_user_ids())));

comment on policy sync_history_select on public.sync_history is
    'An athlete reads the history of their own connections; an admin reads all.';

comment on column public.sync_history.activities_failed is
    'Activities received that could not be stored (malformed; their reasons are in '
    'error_details.skipped_items). For a finished run, activities_fetched = created + updated '
    '+ skipped + failed.';

comment on column public.sync_history.activities_skipped is
    'Valid activities received that changed nothing: unchanged, out of date, deleted or '
    'repeated in the page. Malformed ones are counted in activities_failed.';
