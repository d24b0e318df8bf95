-- Rollup rows are deleted only when really empty (count and every sum zero).
--
-- Inserting a copy of a workout runs two statement-level AFTER triggers in name order: the
-- duplicate grouping first, whose UPDATE (the copy becomes another activity's duplicate) fires
-- the rollups' update delta, subtracting the copy's version before the insert's own delta has
-- added it. The rollup row of the copy's week, sport and source could then reach
-- activity_count 0 with other activities' sums still in it, and was deleted as empty: those
-- activities vanished from weekly_rollups and daily_loads (found by
-- tests/analytics/test_rollups.py's property test; regression test beside it).

create or replace function private.rollups_apply_activity_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    changes text;
    weekly_empty tid[];
    daily_empty tid[];
begin
    if tg_op = 'INSERT' then
        perform from new_rows limit 1;
        if not found then
            return null;
        end if;
        changes := format(
            'select 1 as sign, v.* from (%s) as v', private.rollups_versions_sql('new_rows')
        );
    elsif tg_op = 'DELETE' then
        perform from old_rows limit 1;
        if not found then
            return null;
        end if;
        changes := format(
            'select -1 as sign, v.* from (%s) as v', private.rollups_versions_sql('old_rows')
        );
    else
        perform from new_rows limit 1;
        if not found then
            return null;
        end if;
        -- Only versions that changed: a new version equal to its old one (a re-ingested,
        -- renamed or touched activity) is in neither difference.
        changes := format(
            'select 1 as sign, v.* from (%1$s except all %2$s) as v '
            'union all select -1 as sign, v.* from (%2$s except all %1$s) as v',
            private.rollups_versions_sql('new_rows'),
            private.rollups_versions_sql('old_rows')
        );
    end if;
    execute private.rollups_delta_sql(changes) into weekly_empty, daily_empty;
    -- The upserts hold these rows' locks until commit: nobody moved them since.
    if cardinality(weekly_empty) > 0 then
        -- Empty means every sum back to zero as well (numeric: exact). A row whose count
        -- reached 0 while a sum did not is mid-statement: a nested statement (the duplicate
        -- grouping's update, fired before this insert's own delta) subtracted a version that
        -- the outer statement has yet to add; deleting it would lose the other activities.
        delete from public.weekly_rollups as r
        where
            r.ctid = any(weekly_empty)
            and r.activity_count = 0
            and r.distance = 0
            and r.moving_time = 0
            and r.elapsed_time = 0
            and r.elevation_gain = 0
            and r.calories = 0
            and r.load = 0;
    end if;
    if cardinality(daily_empty) > 0 then
        delete from public.daily_loads as d
        where d.ctid = any(daily_empty) and d.activity_count = 0 and d.load = 0;
    end if;
    return null;
end;
$$;

comment on function private.rollups_apply_activity_changes() is
    'Statement-level AFTER trigger on activities (insert, update, delete; transition tables '
    'old_rows/new_rows): adds the new versions that count and subtracts the old versions that '
    'counted (primary, not deleted), only for rows whose rollup inputs changed, then drops '
    'rollup rows left with no activity and every sum zero (a nested statement may subtract '
    'before its outer statement adds). Security definer: whoever writes activities (an '
    'athlete''s manual entry, a worker) has no right to write the rollups.';
