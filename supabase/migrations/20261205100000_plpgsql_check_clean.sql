-- plpgsql_check clean: `supabase db lint --level warning` (plpgsql_check) reports nothing.
--
-- Two functions initialised typed variables from untyped literals (`jsonb := '[]'`,
-- `bigint[] := '{}'`), which plpgsql_check reports as a text value cast to another type. Their
-- definitions are repeated unchanged but for the typed literals (`'[]'::jsonb`,
-- `'{}'::bigint[]`); `create or replace` keeps their grants and comments.

create or replace function public.ingest_activities(
    p_connection_id bigint,
    p_items jsonb,
    p_deleted_external_ids text[] default '{}',
    p_received_at timestamptz default now()
)
returns table (created integer, updated integer, skipped integer, deleted integer, errors jsonb)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    conn public.provider_connections;
    received timestamptz := coalesce(p_received_at, now());
    n_created integer := 0;
    n_updated integer := 0;
    n_skipped integer := 0;
    n_deleted integer;
    v_errors jsonb := '[]'::jsonb;
    v_item jsonb;
    v_index integer;
    r record;
begin
    select pc.* into conn
    from public.provider_connections as pc
    where pc.id = p_connection_id;
    if not found then
        raise exception 'unknown connection %', p_connection_id using errcode = '22023';
    end if;
    if p_items is not null and jsonb_typeof(p_items) <> 'array' then
        raise exception 'p_items must be a JSON array of activity payloads, got %',
            jsonb_typeof(p_items) using errcode = '22023';
    end if;

    -- The fast path: the whole page in one statement.
    begin
        select * into r
        from private.ingest_page(
            p_connection_id, conn.user_id, conn.provider, p_items, received, 0
        );
        n_created := r.created;
        n_updated := r.updated;
        n_skipped := r.skipped;
        v_errors := r.errors;
    exception when others then
        -- Something in the page made the statement raise (normalisers never should): redo
        -- the page item by item, each in its own subtransaction, and report the items that
        -- still raise, so the rest of the page is stored.
        for v_item, v_index in
            select i.payload, (i.ord - 1)::integer
            from jsonb_array_elements(p_items) with ordinality as i (payload, ord)
        loop
            begin
                select * into r
                from private.ingest_page(
                    p_connection_id, conn.user_id, conn.provider, jsonb_build_array(v_item),
                    received, v_index
                );
                n_created := n_created + r.created;
                n_updated := n_updated + r.updated;
                n_skipped := n_skipped + r.skipped;
                v_errors := v_errors || r.errors;
            exception when others then
                v_errors := v_errors || jsonb_build_array(
                    jsonb_build_object(
                        'index', v_index,
                        'external_id', null,
                        'reason', left('item could not be ingested: ' || sqlerrm, 500)
                    )
                );
            end;
        end loop;
    end;

    -- Deletions last, so a page that both updates and deletes an activity leaves it deleted.
    -- Only when there are any: an UPDATE of no rows still fires the statement triggers on
    -- activities (duplicate grouping, rollups).
    n_deleted := 0;
    if cardinality(p_deleted_external_ids) > 0 then
        update public.activities as a set
            deleted_at = received
        where
            a.connection_id = p_connection_id
            and a.external_id = any(p_deleted_external_ids)
            and a.deleted_at is null;
        get diagnostics n_deleted = row_count;
    end if;

    return query select n_created, n_updated, n_skipped, n_deleted, v_errors;
end;
$$;

create or replace function public.match_workouts(
    p_user_id uuid, p_from date default null, p_to date default null
)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_pair record;
    v_used_workouts bigint[] := '{}'::bigint[];
    v_used_activities bigint[] := '{}'::bigint[];
    v_linked integer := 0;
    v_rows integer;
begin
    if p_user_id is null then
        raise exception 'match_workouts needs a user id' using errcode = '22023';
    end if;
    for v_pair in
        select w.id as workout_id, a.id as activity_id
        from public.workouts as w
        inner join public.activities as a
            on
                a.user_id = w.user_id
                -- local and UTC dates differ by at most 18 h: keeps the start_date index usable
                and a.start_date >= w.planned_date - interval '1 day'
                and a.start_date < w.planned_date + interval '2 days'
                and a.start_date_local::date = w.planned_date
        left join public.sport_families as fw on w.activity_type = fw.activity_type
        left join public.sport_families as fa on a.activity_type = fa.activity_type
        where
            w.user_id = p_user_id
            and w.completed_activity_id is null
            and (p_from is null or w.planned_date >= p_from)
            and (p_to is null or w.planned_date <= p_to)
            and a.deleted_at is null
            and a.primary_activity_id is null
            and (
                coalesce(fw.sport_family, w.activity_type::text)
                = coalesce(fa.sport_family, a.activity_type::text)
                or fw.sport_family = 'generic'
                or fa.sport_family = 'generic'
            )
            and not exists (
                select from public.workouts as o
                where o.user_id = a.user_id and o.completed_activity_id = a.id
            )
        order by
            coalesce(
                abs(coalesce(a.moving_time, a.elapsed_time, 0) - w.planned_duration)
                / w.planned_duration::double precision,
                abs(coalesce(a.distance, 0) - w.planned_distance) / w.planned_distance,
                0
            ),
            a.start_date,
            a.id,
            w.id
    loop
        if v_pair.workout_id = any(v_used_workouts)
            or v_pair.activity_id = any(v_used_activities) then
            continue;
        end if;
        update public.workouts as w
        set completed_activity_id = v_pair.activity_id
        where w.id = v_pair.workout_id and w.completed_activity_id is null;
        get diagnostics v_rows = row_count;
        if v_rows > 0 then
            v_linked := v_linked + v_rows;
            v_used_workouts := v_used_workouts || v_pair.workout_id;
            v_used_activities := v_used_activities || v_pair.activity_id;
        end if;
    end loop;
    return v_linked;
end;
$$;
