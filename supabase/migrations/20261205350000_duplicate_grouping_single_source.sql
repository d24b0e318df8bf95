-- Issue 16: an inserted page of an athlete whose activities all come from one provider connection
-- skips the duplicate grouping's matching statement.
--
-- Copies are rows of different sources (a connection; all manual entries; each file row), so an
-- athlete with at most one connection and no row without a connection has no pair to match, and
-- no group either: groups are only ever formed by matching (set_primary_activity and the
-- promotion on delete move the primary within one), and a row that leaves a group by a hard
-- delete clears the pointers to it (foreign key on delete set null). The full matching of such
-- a page (the first sync of nearly every athlete) found nothing, at ~1.5 ms a page of 200.
-- The regrouping's advisory lock is taken before the check, as the matching takes it: a second
-- source's rows committed meanwhile are seen by whichever of the two writers locks second.

create function private.duplicate_grouping_needed(p_user_ids uuid[])
returns uuid[]
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid;
    v_needed uuid[] := '{}'::uuid[];
begin
    -- Locks in a fixed order (as private.group_activity_duplicates takes them): no deadlock.
    for v_user in
        select distinct u.user_id from unnest(p_user_ids) as u (user_id)
        where u.user_id is not null
        order by u.user_id
    loop
        perform pg_advisory_xact_lock(
            hashtext('trainlytics.activity_duplicates'), hashtext(v_user::text)
        );
        -- One connection per provider (unique key), never deleted while it has rows; rows
        -- without one (manual entries, files) read through their partial unique index.
        if (
            select count(*) from public.provider_connections as c where c.user_id = v_user
        ) > 1
        or exists (
            select from public.activities as a
            where a.user_id = v_user and a.connection_id is null
        ) then
            v_needed := v_needed || v_user;
        end if;
    end loop;
    return v_needed;
end;
$$;

comment on function private.duplicate_grouping_needed(uuid[]) is
    'Of the given athletes, those whose activities may hold copies of one workout: more than one '
    'provider connection, or a row without a connection (manual entries, imported files). Takes '
    'each athlete''s regrouping lock first (in user order), as private.group_activity_duplicates '
    'does, so a second source committed meanwhile is seen. The others have a single source, '
    'hence no pair and no group. Security definer: called by the activities insert trigger on '
    'behalf of any writer; it reads connections and rows the writer may not.';

revoke all on function private.duplicate_grouping_needed(uuid[]) from public, anon, authenticated;

create or replace function private.activities_group_inserted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_needed uuid[];
    v_users uuid[];
    v_starts timestamptz[];
begin
    v_needed := private.duplicate_grouping_needed(
        array(select distinct n.user_id from new_rows as n)
    );
    if cardinality(v_needed) = 0 then
        return null;
    end if;
    select array_agg(n.user_id), array_agg(n.start_date)
    into v_users, v_starts
    from new_rows as n
    where n.user_id = any(v_needed);
    if v_users is not null then
        perform private.group_activity_duplicates(v_users, v_starts);
    end if;
    return null;
end;
$$;

comment on function private.activities_group_inserted() is
    'Statement-level AFTER INSERT trigger on activities: regroups duplicates around the new '
    'rows of the athletes who may have copies (private.duplicate_grouping_needed: more than one '
    'source); a single-source athlete''s rows have none. Security definer: fired by any writer, '
    'it must read and update rows the writer may not (the grouping columns are not granted to '
    'athletes).';
