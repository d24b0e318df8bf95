-- The job queue: procrastinate (a Postgres-backed job queue) keeps its tables and functions in
-- the schema `queue`, which the Data API does not expose (it is not in config.toml's schemas).
--
-- This migration creates the schema and public.enqueue_job; procrastinate's own schema is
-- installed into `queue` by `trainlytics db migrate` right after the migrations (idempotent),
-- from the installed procrastinate package, so it always matches the library the workers run.
-- enqueue_job is plpgsql, whose body is only resolved when it runs, so it may exist before
-- procrastinate's tables do. It lets both gateway transports (psycopg, and PostgREST rpc())
-- queue work with the service key. The jobs' consumers (the sync workers) come with the sync
-- engine; until then jobs wait in the queue.

create schema if not exists queue;

comment on schema queue is
    'Not exposed through the Data API: the procrastinate job queue (tables and functions '
    'installed by trainlytics db migrate). service_role only.';

revoke all on schema queue from public;

grant usage on schema queue to service_role;

create function public.enqueue_job(
    p_task_name text,
    p_args jsonb default '{}'::jsonb,
    p_queue_name text default 'default',
    p_queueing_lock text default null,
    p_lock text default null,
    p_priority integer default 0,
    p_scheduled_at timestamptz default null
)
returns table (job_id bigint, queued boolean)
language plpgsql
security invoker
set search_path = queue
as $$
declare
    new_ids bigint[];
begin
    if p_queueing_lock is not null then
        select j.id into job_id
        from queue.procrastinate_jobs as j
        where
            j.queueing_lock = p_queueing_lock
            and j.status in ('todo', 'doing')
        order by j.id
        limit 1;
        if found then
            queued := false;
            return next;
            return;
        end if;
    end if;

    begin
        new_ids := queue.procrastinate_defer_jobs_v1(
            array[
                row(
                    p_queue_name,
                    p_task_name,
                    p_priority,
                    p_lock,
                    p_queueing_lock,
                    coalesce(p_args, '{}'::jsonb),
                    p_scheduled_at
                )::queue.procrastinate_job_to_defer_v1
            ]
        );
    exception when unique_violation then
        -- A concurrent request queued the same lock between our check and our insert.
        select j.id into job_id
        from queue.procrastinate_jobs as j
        where j.queueing_lock = p_queueing_lock and j.status = 'todo'
        order by j.id
        limit 1;
        queued := false;
        return next;
        return;
    end;

    job_id := new_ids[1];
    queued := true;
    return next;
end;
$$;

comment on function public.enqueue_job(text, jsonb, text, text, text, integer, timestamptz) is
    'Queues a procrastinate job (p_task_name, p_args, p_queue_name, ...) in schema queue; '
    'service_role only. With p_queueing_lock, a job holding the same lock that is still '
    'waiting or running is not queued twice: the function then returns its id with queued = '
    'false (one sync per connection, no duplicate job for a replayed webhook). Security '
    'invoker: service_role holds the grants on schema queue; search_path is pinned to queue '
    'because procrastinate''s own functions and triggers name their tables unqualified.';

revoke all on function public.enqueue_job(
    text, jsonb, text, text, text, integer, timestamptz
) from public, anon, authenticated;

grant execute on function public.enqueue_job(
    text, jsonb, text, text, text, integer, timestamptz
) to service_role;
