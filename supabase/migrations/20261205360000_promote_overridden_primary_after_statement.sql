-- A statement that hard-deletes an overridden group's primary together with one of its copies
-- (a purge, a listing reconciliation) failed with "tuple to be updated was already modified by
-- an operation triggered by the current command": the row-level BEFORE DELETE trigger promoted
-- the best remaining copy by updating the group's rows, one of which the same statement was
-- deleting. Now the BEFORE trigger only remembers the group (its primary, athlete and copies,
-- in a transaction-local setting) and a statement-level AFTER DELETE trigger promotes among the
-- copies still there, once every row of the statement is gone. The setting is only a hint: the
-- AFTER trigger acts on a primary this statement deleted (old_rows, overridden) and on that
-- athlete's rows only, so a forged value cannot regroup anyone else's activities.

create or replace function private.activities_promote_before_delete()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_members bigint[];
begin
    -- The group's copies, found by their pointer now: the foreign key (on delete set null)
    -- clears it before the statement's end.
    v_members := array(
        select m.id from public.activities as m where m.primary_activity_id = old.id
    );
    if cardinality(v_members) > 0 then
        perform set_config(
            'trainlytics.promote_groups',
            (
                coalesce(
                    nullif(current_setting('trainlytics.promote_groups', true), ''), '[]'
                )::jsonb
                || jsonb_build_array(
                    jsonb_build_object(
                        'primary', old.id, 'user_id', old.user_id, 'members', v_members
                    )
                )
            )::text,
            true
        );
    end if;
    return old;
end;
$$;

comment on function private.activities_promote_before_delete() is
    'Row-level BEFORE DELETE trigger on activities, for overridden primaries only: remembers the '
    'group (primary, athlete, copies) in the transaction-local setting trainlytics.promote_groups '
    'for private.activities_promote_after_delete, which promotes once the statement''s rows are '
    'gone (updating the copies here failed when the statement deleted one of them too). Security '
    'definer: fired by an athlete deleting a manual entry, it reads the group''s other rows.';

create function private.activities_promote_after_delete()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_groups jsonb;
    v_group record;
    v_new bigint;
begin
    v_groups := nullif(current_setting('trainlytics.promote_groups', true), '')::jsonb;
    if v_groups is null then
        return null;
    end if;
    perform set_config('trainlytics.promote_groups', '', true);
    -- Only primaries this statement deleted, only their athlete's rows.
    for v_group in
        select o.id, o.user_id, array(
            select x::bigint from jsonb_array_elements_text(g.value -> 'members') as x
        ) as members
        from jsonb_array_elements(v_groups) as g
        inner join old_rows as o
            on o.id = (g.value ->> 'primary')::bigint
            and o.user_id = (g.value ->> 'user_id')::uuid
        where o.duplicate_override and o.primary_activity_id is null
    loop
        -- An overridden group lost its primary: the best remaining copy takes over, so the
        -- workout keeps counting once and the athlete's grouping stands.
        select m.id into v_new
        from public.activities as m
        left join public.provider_priorities as pp
            on coalesce(m.provider::text, m.source::text) = pp.origin
        where
            m.id = any(v_group.members)
            and m.user_id = v_group.user_id
            and m.deleted_at is null
        order by coalesce(pp.priority, 1000), m.id
        limit 1;
        if v_new is not null then
            update public.activities as m
            set primary_activity_id = case when m.id <> v_new then v_new end
            where
                m.id = any(v_group.members)
                and m.user_id = v_group.user_id
                and m.primary_activity_id
                is distinct from case when m.id <> v_new then v_new end;
        end if;
    end loop;
    return null;
end;
$$;

comment on function private.activities_promote_after_delete() is
    'Statement-level AFTER DELETE trigger on activities: for each overridden primary the '
    'statement deleted (old_rows) whose group private.activities_promote_before_delete '
    'remembered, the best remaining copy (provider priority, then id; not soft-deleted) becomes '
    'the primary and the group''s other rows point to it again (the foreign key had cleared '
    'them). Acts only on that athlete''s rows. Security definer: fired by an athlete deleting a '
    'manual entry, it must update the group''s other rows.';

revoke all on function private.activities_promote_after_delete()
from public, anon, authenticated;

create trigger activities_promote_overridden_primary_after
after delete on public.activities
referencing old table as old_rows
for each statement execute function private.activities_promote_after_delete();
