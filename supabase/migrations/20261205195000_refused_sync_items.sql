-- Integration fixes (webhooks): items a provider step received but refused before the ingest.
--
-- Garmin ping callbacks are checked against the connection's Garmin user: an item carrying
-- another userId is never ingested. Such items were received, so a run's counts must still
-- add up (activities_fetched = created + updated + skipped + failed): they count as fetched
-- and failed, their reasons join error_details.skipped_items (the first 100, as the ingest's).

create function public.sync_refuse_items(
    p_sync_id bigint,
    p_holder text,
    p_refused jsonb
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_refused jsonb := coalesce(p_refused, '[]'::jsonb);
begin
    if jsonb_typeof(v_refused) <> 'array' then
        raise exception 'p_refused must be a JSON array' using errcode = '22023';
    end if;
    if exists (
        select 1 from jsonb_array_elements(v_refused) as r (item)
        where jsonb_typeof(r.item) <> 'object' or not (r.item ? 'reason')
    ) then
        raise exception 'each refused item is an object with a reason' using errcode = '22023';
    end if;
    perform 1 from private.sync_leases as l
    where l.sync_history_id = p_sync_id and l.holder = p_holder
    for update;
    if not found then
        return false;
    end if;
    if jsonb_array_length(v_refused) = 0 then
        return true;
    end if;
    update public.sync_history as h set
        activities_fetched = h.activities_fetched + jsonb_array_length(v_refused),
        error_details = coalesce(h.error_details, '{}'::jsonb) || jsonb_build_object(
            'skipped_items',
            (
                select coalesce(jsonb_agg(e.value), '[]'::jsonb)
                from (
                    select x.value
                    from jsonb_array_elements(
                        coalesce(h.error_details -> 'skipped_items', '[]'::jsonb)
                        || (
                            select jsonb_agg(
                                jsonb_build_object(
                                    'index', null,
                                    'external_id', left(r.item ->> 'external_id', 200),
                                    'reason', left(r.item ->> 'reason', 500)
                                )
                            )
                            from jsonb_array_elements(v_refused) as r (item)
                        )
                    ) as x
                    limit 100
                ) as e
            )
        )
    where h.id = p_sync_id;
    return true;
end;
$$;
comment on function public.sync_refuse_items(bigint, text, jsonb) is
    'Records items a running sync received from its provider but refused before the ingest '
    '(e.g. a Garmin callback item whose userId is not the connection''s Garmin user): they '
    'count as fetched (the worker counts them as failed, so fetched = created + updated + '
    'skipped + failed still holds) and their reasons join error_details.skipped_items (the '
    'first 100; external_id and reason only, never a payload). Returns false (and records '
    'nothing) when p_holder no longer holds the run. Service role only.';
revoke all on function public.sync_refuse_items(bigint, text, jsonb)
from public, anon, authenticated;
grant execute on function public.sync_refuse_items(bigint, text, jsonb) to service_role;
