-- private.caller_id() is auth.uid() now.
--
-- 20261125152000 gave the policy helpers their own copy of auth.uid()'s body because the local
-- emulation's auth.uid() carried `set search_path = ''`, which keeps PostgreSQL from inlining
-- it. Supabase Auth's auth.uid() has no SET clause (supabase/auth
-- migrations/20220224000811_update_auth_functions.up.sql): on a real project the planner inlines
-- it like any SQL function, and sql/supabase_compat.sql now defines it exactly so. The copy bought
-- nothing there and could drift from Supabase's definition, so the function keeps its name (the
-- helpers and later migrations call it) and returns auth.uid() itself, which the planner inlines
-- through both functions: the same expression as before, the same results.

create or replace function private.caller_id()
returns uuid
language sql
stable
parallel safe
as $$
    select auth.uid()
$$;
comment on function private.caller_id() is
    'The caller''s user id: auth.uid() (Supabase Auth''s own definition, inlined by the '
    'planner). The policy helpers read the caller through it.';
