-- Issue 16 (writes stay cheap): private.activities_maintain_primary_hidden, on every UPDATE of
-- activities (a re-synced page touches all of its rows), found its changed rows by joining
-- new_rows to old_rows on id; transition tables have no statistics and the join ran as a
-- nested loop, quadratic in the rows of the statement. Same rows found by EXCEPT (hashed),
-- as the other statement triggers on activities already do. Behaviour unchanged.

create or replace function private.activities_maintain_primary_hidden()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        -- Rows inserted already pointing to a primary (rare: the grouping sets it by update).
        if not exists (select from new_rows as n where n.primary_activity_id is not null) then
            return null;
        end if;
        update public.activities as a
        set primary_hidden = coalesce(p.is_private or p.provider = 'strava', false)
        from new_rows as n
        inner join public.activities as p on n.primary_activity_id = p.id
        where
            a.id = n.id
            and a.primary_hidden
            is distinct from coalesce(p.is_private or p.provider = 'strava', false);
        return null;
    end if;
    -- Nothing that decides visibility changed (e.g. this trigger's own update): stop here,
    -- before issuing an update (statement triggers fire even for zero rows).
    -- Found by hashing (EXCEPT), not by joining the two transition tables: the planner knows
    -- nothing of their sizes and joined them by a nested loop, quadratic in the statement's
    -- rows (40,000 comparisons for a re-synced page of 200 that changed none of them).
    if not exists (
        select n.id, n.is_private, n.provider, n.primary_activity_id from new_rows as n
        except
        select o.id, o.is_private, o.provider, o.primary_activity_id from old_rows as o
    ) then
        return null;
    end if;
    -- A new version equal to no old version of its row (ids are never updated): changed.
    with changed as (
        select c.id, c.primary_activity_id
        from (
            select n.id, n.is_private, n.provider, n.primary_activity_id from new_rows as n
            except
            select o.id, o.is_private, o.provider, o.primary_activity_id from old_rows as o
        ) as c
    ),

    -- The rows whose primary changed, and the copies of rows whose own visibility changed.
    targets as (
        select c.id from changed as c
        union
        select m.id
        from changed as c
        cross join lateral (
            select rm.id from public.activities as rm
            where rm.primary_activity_id = c.id
            offset 0
        ) as m
    ),

    computed as (
        select
            t.id,
            coalesce(p.is_private or p.provider = 'strava', false) as hidden
        from targets as t
        inner join public.activities as a on t.id = a.id
        left join public.activities as p on a.primary_activity_id = p.id
    )

    update public.activities as a
    set primary_hidden = c.hidden
    from computed as c
    where a.id = c.id and a.primary_hidden is distinct from c.hidden;
    return null;
end;
$$;
