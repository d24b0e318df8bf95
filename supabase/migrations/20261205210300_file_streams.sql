-- Streams of imported files (issue 18): the importer hands each file's samples after its
-- activity, found by the file's content hash (the activity's external_id), so a re-import of
-- the same file also fills the streams of an activity imported before streams existed.

create function public.ingest_file_streams(p_user_id uuid, p_sha256 text, p_streams jsonb)
returns table (activity_id bigint, sample_count integer)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_id bigint;
begin
    select a.id into v_id
    from public.activities as a
    where
        a.user_id = p_user_id
        and a.connection_id is null
        and a.source = 'file'
        and a.external_id in (lower(p_sha256), left(p_sha256, 200));
    if v_id is null then
        return;  -- the file gave no activity (refused by the normaliser)
    end if;
    return query select v_id, private.store_activity_streams(v_id, p_streams, 'file');
end;
$$;
comment on function public.ingest_file_streams(uuid, text, jsonb) is
    'Stores (replaces) the streams of the athlete''s activity imported from the file with this '
    'SHA-256 (private.store_activity_streams, source file); no row when there is no such '
    'activity. Service role only.';
revoke all on function public.ingest_file_streams(uuid, text, jsonb)
from public, anon, authenticated;
grant execute on function public.ingest_file_streams(uuid, text, jsonb) to service_role;
