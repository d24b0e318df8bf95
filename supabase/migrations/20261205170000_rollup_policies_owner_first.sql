-- Rollup policies: the athlete's own rows first, the helper only for everyone else's.
--
-- Until now weekly_rollups_select and daily_loads_select read
--     user_id = any(array(select private.readable_user_ids())) and (shareable or ...)
-- The helper's initPlan is an index condition there, so every statement called
-- private.readable_user_ids() (a security definer PL/pgSQL function, 15 to 30 us per request on
-- the benchmark machine), the athlete's own weekly volume included, whose explicit user_id filter
-- (the frontend contract) already names the caller. On the faithful Supabase emulation that
-- call was most of what RLS cost the weekly volume as PostgREST runs it (bench/analytics.py,
-- prepared statements; see bench/README.md).
--
-- The policies now read
--     user_id = (select auth.uid())
--     or (array[user_id] && array_remove(array(select private.readable_user_ids()),
--                                        (select auth.uid()))
--         and (shareable or (select private.is_admin())))
-- The same rows for everyone: the first arm passes exactly the caller's own rows, which the old
-- policy passed too (readable_user_ids() returns the caller whenever auth.uid() is set, and the
-- caller's rows need no shareability); every other row needs the helper's ids and, unless the
-- caller is an admin, shareability, exactly as before (removing the caller from the helper's
-- ids changes nothing: those rows pass the first arm). A null caller passes neither arm.
--
-- Why it is cheaper: PostgreSQL evaluates an initPlan only when its value is first needed. With
-- the query's own user_id filter as the index condition, every row the scan returns is the
-- caller's, the first arm of the OR is true, and the helper's initPlan never runs ("never
-- executed" in EXPLAIN ANALYZE; tests/analytics/test_rollup_policy_plans.py). A coach reading an
-- athlete falls through to the second arm: one helper call per statement, as before.
--
-- Why `array[user_id] && array_remove(...)` and not `user_id = any(array(...))` (the same truth
-- value for a non-null user_id): with both arms indexable on user_id, the planner turns the OR
-- into a BitmapOr of two scans of the unique key, each also restricted by the query's user_id
-- filter, which it then estimates at one row each and prefers; a BitmapOr computes both arms'
-- index keys up front, the helper included (measured: no gain; 1.95 x in an earlier run).
-- `&&` on arrays is not a btree operator, so the key serves only the query's own filter. For a
-- query without a user_id filter (a coach's overview of their athletes, or a client that ignores
-- the frontend contract) the GIN indexes on array[user_id] below keep an index path - a BitmapOr
-- of the key (the caller's own rows, with the query's date range) and the GIN index (the other
-- readable athletes) - instead of a sequential scan of the whole table; the caller is removed
-- from the helper's ids so that the GIN side does not fetch all of the caller's own rows again.
-- The GIN indexes are small (one entry per athlete: ~5.5 MB each at 1,000,000 activities, 69 MB
-- for weekly_rollups_key) and leave the rollups' HOT updates alone (user_id never changes).

create index weekly_rollups_user_id_array on public.weekly_rollups using gin ((array[user_id]));
comment on index public.weekly_rollups_user_id_array is
    'Serves the second arm of weekly_rollups_select (array[user_id] && the readable ids) when a '
    'query does not filter by user_id; see migration 20261205170000.';

create index daily_loads_user_id_array on public.daily_loads using gin ((array[user_id]));
comment on index public.daily_loads_user_id_array is
    'Serves the second arm of daily_loads_select (array[user_id] && the readable ids) when a '
    'query does not filter by user_id; see migration 20261205170000.';

alter policy weekly_rollups_select on public.weekly_rollups
using (
    user_id = (select auth.uid())
    or (
        array[user_id] && array_remove(
            array(select private.readable_user_ids()), (select auth.uid())
        )
        and (shareable or (select private.is_admin()))
    )
);
comment on policy weekly_rollups_select on public.weekly_rollups is
    'An athlete reads their own rollups; a coach with an active grant reads the athlete''s '
    'shareable rows only (no private, no Strava-sourced activity in them); an admin reads all. '
    'The caller''s own rows pass the first arm, so a query filtered by the caller''s user_id '
    'never runs the helper (20261205170000).';

alter policy daily_loads_select on public.daily_loads
using (
    user_id = (select auth.uid())
    or (
        array[user_id] && array_remove(
            array(select private.readable_user_ids()), (select auth.uid())
        )
        and (shareable or (select private.is_admin()))
    )
);
comment on policy daily_loads_select on public.daily_loads is
    'An athlete reads their own daily loads; a coach with an active grant reads the athlete''s '
    'shareable rows only; an admin reads all. The caller''s own rows pass the first arm, so a '
    'query filtered by the caller''s user_id never runs the helper (20261205170000).';
