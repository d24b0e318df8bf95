"""DESIGN.md's database conventions, held for every object, present and future.

Each convention is a query over pg_catalog that returns the offending objects by name (never
a hard-coded list of tables), so a later migration that forgets one fails here with the name
of what it forgot. ``test_each_check_catches_a_deliberately_bad_object`` proves that every
check is able to fail: it creates one offender per convention (as the migrations' owner, in a
savepoint that is rolled back) and expects each check to name it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

Conn = psycopg.Connection[Any]

REPO = Path(__file__).resolve().parents[2]
OWNER = "trainlytics_owner"
API_ROLES = ("anon", "authenticated")
# Schemas the Data API serves (supabase/config.toml [api] schemas) and the internal one.
EXPOSED_SCHEMAS = tuple(
    tomllib.loads((REPO / "supabase" / "config.toml").read_text(encoding="utf-8"))["api"]["schemas"]
)
OUR_SCHEMAS = (*EXPOSED_SCHEMAS, "private")

# The security definer helpers that RLS policies call: the only functions `authenticated`
# may execute. A new function is internal (service_role only) unless added here on purpose.
POLICY_HELPERS = {
    "private.is_admin()",
    "private.has_role(uuid,user_role)",
    "private.own_user_ids()",
    "private.readable_user_ids()",
    "private.visible_profile_ids()",
    "private.coached_athlete_ids()",
    # Duplicate override (20261125130000): the athlete's security invoker wrappers and the
    # definer functions behind them, which check that the activity is the caller's.
    "public.set_primary_activity(bigint)",
    "public.split_duplicate(bigint)",
    "private.set_primary_activity(bigint)",
    "private.split_duplicate(bigint)",
    # Training load (20261125130100): pure arithmetic helpers evaluated by the security invoker
    # view public.activity_loads and by weekly_compliance, and the athlete's series function.
    "private.load_preference(jsonb,text)",
    "private.heart_rate_reserve(doubleprecision,jsonb)",
    "private.threshold_heart_rate_reserve(jsonb)",
    "private.trimp_weighting(jsonb)",
    "private.sport_ftp(activity_type,jsonb)",
    "private.activity_training_load(activity_type,integer,integer,real,real,real,jsonb)",
    # Issue 16 (20261205280000): that load with the settings overlaid once, per completed
    # workout of the security invoker view weekly_compliance.
    "private.activity_load_with_settings(activity_type,integer,integer,real,real,real,jsonb,"
    "smallint,smallint,smallint,text,smallint)",
    # Daily fitness (20261205200000): the time constants, read by training_load_series.
    "private.fitness_days(jsonb,text)",
    "public.training_load_series(uuid,date,date)",
    # Workout compliance (20261125130300): security invoker, runs under the caller's RLS.
    "public.match_workouts(uuid,date,date)",
    # Issue 18: zone settings read by the security invoker zone views, under the caller's RLS.
    "private.zone_bounds(jsonb,boolean)",
    "private.athlete_zone_settings(uuid,date)",
    # Issue 18: labels of best efforts, evaluated by the security invoker effort views.
    "private.effort_label(text,real)",
    "private.effort_is_standard(text,real)",
    # Issue 18: zones (security invoker functions under the caller's RLS, and their helpers).
    "private.scale_bounds(real[],real)",
    "private.zone_bounds_for(uuid,date,text,activity_type)",
    "public.activity_time_in_zones(bigint)",
    "public.weekly_time_in_zones(uuid,date,date)",
    # Issue 14: a coach's pending offers (names, no preferences), wrapper and definer helper.
    "public.pending_coach_offers()",
    "private.pending_coach_offers()",
    # Issue 18, athlete settings (20261205220000): security invoker RPCs under the caller's
    # RLS, the validators their CHECK constraints call, and the load's settings overlay
    # (pure, evaluated by the invoker views activity_loads and weekly_compliance).
    "public.set_athlete_settings(jsonb)",
    "public.set_ftp(integer,date)",
    "public.remove_ftp(date)",
    "public.get_athlete_settings(uuid)",
    "private.is_iana_time_zone(text)",
    "private.zone_overrides_problem(jsonb)",
    "private.load_preferences(jsonb,smallint,smallint,smallint,text,smallint)",
}

# Columns whose name says it all. Foreign keys (`<thing>_id` referencing a documented table)
# and columns of an enum type named after them (status: coach_grant_status, ...) are also
# exempt: the referenced table's and the type's comments document them.
SELF_EXPLANATORY_COLUMNS = {
    "id",
    "created_at",
    "updated_at",
    "user_id",
    "name",
    "description",
    "provider",
    "email",
    "first_name",
    "last_name",
    "occurred_at",
    "expires_at",
    "connected_at",
    "sync_started_at",
    "last_error_at",
    "access_token_expires_at",
}

SECRET_COLUMN = re.compile(
    r"(^|_)(access_token|refresh_token|id_token|token|secret|client_secret|password|passwd"
    r"|code_verifier|api_key|private_key|authorization_code)$"
)

# The one wall-clock column, by design: the athlete's local start time (calendar statistics).
LOCAL_TIME_COLUMNS = {"public.activities.start_date_local"}


def rows(conn: Conn, query: str, params: list[object] | None = None) -> list[tuple[Any, ...]]:
    # Always with parameters, so `%%` means `%` in every query of this file.
    return conn.execute(query.encode(), params or []).fetchall()


def names(conn: Conn, query: str, params: list[object] | None = None) -> list[str]:
    return sorted(str(row[0]) for row in rows(conn, query, params))


# --- the checks: each returns the offenders, by name --------------------------------------


def tables_without_rls(conn: Conn) -> list[str]:
    return names(
        conn,
        "select c.oid::regclass::text from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'p') and not c.relrowsecurity",
        [list(OUR_SCHEMAS)],
    )


def exposed_tables_without_policy(conn: Conn) -> list[str]:
    return names(
        conn,
        "select c.oid::regclass::text from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'p')"
        " and not exists (select from pg_policy as p where p.polrelid = c.oid)",
        [list(EXPOSED_SCHEMAS)],
    )


def policies_for_all_or_public(conn: Conn) -> list[str]:
    return names(
        conn,
        "select format('%%s.%%s on %%s.%%s (%%s to %%s)', schemaname, policyname, schemaname,"
        " tablename, cmd, array_to_string(roles, ','))"
        " from pg_policies where schemaname = any(%s)"
        " and (cmd = 'ALL' or 'public' = any(roles))",
        [list(OUR_SCHEMAS)],
    )


# What PostgreSQL prints for a wrapped call: `( SELECT auth.uid() AS uid)`.
_AUTH_CALL = r"(?:auth\.(?:uid|jwt|role|email)\(\)|current_setting\((?:[^()]|\([^()]*\))*\))"
_WRAPPED_AUTH_CALL = re.compile(
    r"\(\s*SELECT\s+" + _AUTH_CALL + r"(?:::[\w ]+)?(?:\s+AS\s+\w+)?\s*\)", re.IGNORECASE
)
_BARE_AUTH_CALL = re.compile(_AUTH_CALL, re.IGNORECASE)


def bare_auth_calls_in_policies(conn: Conn) -> list[str]:
    offenders = []
    for schema, table, policy, qual, check in rows(
        conn,
        "select schemaname, tablename, policyname, qual, with_check from pg_policies"
        " where schemaname = any(%s)",
        [list(OUR_SCHEMAS)],
    ):
        for clause, text in (("using", qual), ("with check", check)):
            if text and _BARE_AUTH_CALL.search(_WRAPPED_AUTH_CALL.sub("", text)):
                offenders.append(f"{schema}.{table} policy {policy} ({clause}): {text}")
    return sorted(offenders)


# A helper without arguments is the same for every row: it must run once per statement, i.e.
# be written `(select private.f())` or `array(select private.f())`.
_ZERO_ARG_CALL = re.compile(r"(?<![\w.])(private\.\w+\(\))", re.IGNORECASE)


def unwrapped_helper_calls_in_policies(conn: Conn) -> list[str]:
    offenders = []
    for schema, table, policy, qual, check in rows(
        conn,
        "select schemaname, tablename, policyname, qual, with_check from pg_policies"
        " where schemaname = any(%s)",
        [list(OUR_SCHEMAS)],
    ):
        for clause, text in (("using", qual), ("with check", check)):
            for match in _ZERO_ARG_CALL.finditer(text or ""):
                before = text[: match.start()].rstrip()
                if not before.upper().endswith("SELECT"):
                    offenders.append(f"{schema}.{table} policy {policy} ({clause}): {text}")
                    break
    return sorted(offenders)


def overlapping_permissive_policies(conn: Conn) -> list[str]:
    return names(
        conn,
        """
        with expanded as (
            select p.schemaname, p.tablename, p.policyname, role,
                   case when p.cmd = 'ALL' then c.cmd else p.cmd end as cmd
            from pg_policies as p
            cross join lateral unnest(p.roles) as role
            cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE')) as c (cmd)
            where p.permissive = 'PERMISSIVE' and p.schemaname = any(%s)
              and (p.cmd = 'ALL' or p.cmd = c.cmd)
        )
        select format('%%s.%%s %%s to %%s: %%s', schemaname, tablename, cmd, role,
                      string_agg(policyname, ', ' order by policyname))
        from expanded
        group by schemaname, tablename, cmd, role
        having count(*) > 1
        """,
        [list(OUR_SCHEMAS)],
    )


def _functions_query(where: str) -> str:
    return (
        "select format('%%s.%%s(%%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes))"
        " from pg_proc as p"
        " join pg_namespace as n on n.oid = p.pronamespace"
        f" where n.nspname = any(%s) and p.prokind in ('f', 'p') and {where}"
    )


def definer_functions_in_exposed_schemas(conn: Conn) -> list[str]:
    return names(
        conn,
        _functions_query("p.prosecdef and n.nspname = any(%s)"),
        [list(OUR_SCHEMAS), list(EXPOSED_SCHEMAS)],
    )


def definer_functions_without_empty_search_path(conn: Conn) -> list[str]:
    return names(
        conn,
        _functions_query(
            "p.prosecdef and not coalesce("
            """'search_path=""' = any(p.proconfig) or 'search_path=' = any(p.proconfig), false)"""
        ),
        [list(OUR_SCHEMAS)],
    )


def functions_without_pinned_search_path(conn: Conn) -> list[str]:
    # A function pins its search_path with a SET clause, or has no need to:
    # - a SQL-standard body (`begin atomic`) binds its names when the function is created;
    # - a `$$`-quoted SQL body of a security invoker function without SET (which the planner
    #   inlines: the safe casts of the ingest run per field of every activity) passes when it
    #   still validates with an empty search_path, i.e. every name in it is schema-qualified.
    #   (The Supabase CLI 2.x statement splitter cannot read `begin atomic` bodies holding
    #   `case ... end`, supabase/cli#3474, so migrations write SQL bodies this way.)
    unpinned = rows(
        conn,
        _functions_query(
            "not exists (select from unnest(p.proconfig) as s where s like 'search_path=%%')"
            " and p.prosqlbody is null"
        ).replace(
            "select format(",
            "select p.oid, p.prosecdef, p.prolang = "
            "(select oid from pg_language where lanname = 'sql'), format(",
            1,
        ),
        [list(OUR_SCHEMAS)],
    )
    offenders = []
    for oid, definer, is_sql, name in unpinned:
        if definer or not is_sql or not _validates_without_search_path(conn, oid):
            offenders.append(str(name))
    return sorted(offenders)


def _validates_without_search_path(conn: Conn, oid: int) -> bool:
    """Re-create the function (rolled back) with an empty search_path and body checks on."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("set local search_path = ''")
            conn.execute("set local check_function_bodies = on")
            definition = rows(conn, "select pg_get_functiondef(%s)", [oid])[0][0]
            conn.execute(definition.encode())
    except psycopg.Error:
        return False
    return True


def definer_functions_not_saying_why(conn: Conn) -> list[str]:
    return names(
        conn,
        _functions_query(
            "p.prosecdef and coalesce(obj_description(p.oid, 'pg_proc'), '') !~* 'definer'"
        ),
        [list(OUR_SCHEMAS)],
    )


def functions_without_comment(conn: Conn) -> list[str]:
    return names(
        conn,
        _functions_query("coalesce(obj_description(p.oid, 'pg_proc'), '') = ''"),
        [list(OUR_SCHEMAS)],
    )


def functions_executable_by(conn: Conn, role: str) -> list[str]:
    return names(
        conn,
        _functions_query("has_function_privilege(%s, p.oid, 'execute')"),
        [list(OUR_SCHEMAS), role],
    )


def authenticated_executes_beyond_helpers(conn: Conn) -> list[str]:
    executable = functions_executable_by(conn, "authenticated")
    return sorted(f for f in executable if _normalised(f) not in POLICY_HELPERS)


def _normalised(signature: str) -> str:
    # regprocedure qualifies argument types only when they are off the search_path
    return re.sub(r"(?<=[(,])public\.|\s", "", signature)


def views_without_security_invoker(conn: Conn) -> list[str]:
    return names(
        conn,
        "select c.oid::regclass::text from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind = 'v'"
        " and not coalesce(lower((select split_part(o, '=', 2) from unnest(c.reloptions) as o"
        "   where o like 'security_invoker=%%')) in ('true', 'on', '1', 'yes'), false)",
        [list(EXPOSED_SCHEMAS)],
    )


def materialized_views_in_exposed_schemas(conn: Conn) -> list[str]:
    return names(
        conn,
        "select c.oid::regclass::text from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind = 'm'",
        [list(EXPOSED_SCHEMAS)],
    )


def unindexed_foreign_keys(conn: Conn) -> list[str]:
    """Foreign keys whose first column does not lead any (non-partial) index of the table.

    The project's rule: a composite key such as activities (connection_id, user_id, provider)
    is served by an index led by connection_id.
    """
    return names(
        conn,
        """
        select format('%%s.%%s (%%s)', con.conrelid::regclass::text, con.conname,
                      (select string_agg(a.attname, ', ' order by k.ord)
                       from unnest(con.conkey) with ordinality as k (attnum, ord)
                       join pg_attribute as a
                         on a.attrelid = con.conrelid and a.attnum = k.attnum))
        from pg_constraint as con
        join pg_class as c on c.oid = con.conrelid
        join pg_namespace as n on n.oid = c.relnamespace
        where con.contype = 'f' and n.nspname = any(%s)
          and not exists (
              select from pg_index as i
              where i.indrelid = con.conrelid and i.indpred is null
                and i.indkey[0] = con.conkey[1]
          )
        """,
        [list(OUR_SCHEMAS)],
    )


def relations_without_comment(conn: Conn) -> list[str]:
    return names(
        conn,
        "select format('%%s %%s', case c.relkind when 'v' then 'view' when 'm'"
        " then 'materialized view' else 'table' end, c.oid::regclass::text)"
        " from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')"
        " and coalesce(obj_description(c.oid, 'pg_class'), '') = ''",
        [list(OUR_SCHEMAS)],
    )


def types_without_comment(conn: Conn) -> list[str]:
    return names(
        conn,
        "select format('%%s %%s', case t.typtype when 'e' then 'enum' when 'd' then 'domain'"
        " else 'composite type' end, t.oid::regtype::text)"
        " from pg_type as t join pg_namespace as n on n.oid = t.typnamespace"
        " where n.nspname = any(%s) and (t.typtype in ('e', 'd')"
        "   or (t.typtype = 'c' and (select relkind from pg_class where oid = t.typrelid) = 'c'))"
        " and coalesce(obj_description(t.oid, 'pg_type'), '') = ''",
        [list(OUR_SCHEMAS)],
    )


def enums_not_documenting_every_value(conn: Conn) -> list[str]:
    """ "Enum values are documented in the enum's comment": each value's name appears in it."""
    offenders = []
    for type_name, comment, values in rows(
        conn,
        "select t.oid::regtype::text, coalesce(obj_description(t.oid, 'pg_type'), ''),"
        " array_agg(e.enumlabel::text order by e.enumsortorder)"
        " from pg_type as t join pg_namespace as n on n.oid = t.typnamespace"
        " join pg_enum as e on e.enumtypid = t.oid"
        " where n.nspname = any(%s) group by t.oid",
        [list(OUR_SCHEMAS)],
    ):
        missing = [v for v in values if not re.search(rf"(?<!\w){re.escape(v)}(?!\w)", comment)]
        if missing:
            offenders.append(f"enum {type_name}: {', '.join(missing)}")
    return sorted(offenders)


def columns_without_comment(conn: Conn) -> list[str]:
    return names(
        conn,
        """
        select format('%%s.%%s', c.oid::regclass::text, a.attname)
        from pg_attribute as a
        join pg_class as c on c.oid = a.attrelid
        join pg_namespace as n on n.oid = c.relnamespace
        join pg_type as t on t.oid = a.atttypid
        where n.nspname = any(%s) and c.relkind in ('r', 'p')
          and a.attnum > 0 and not a.attisdropped
          and coalesce(col_description(c.oid, a.attnum), '') = ''
          and a.attname <> all(%s)
          -- a foreign key column: the referenced table documents it
          and not exists (
              select from pg_constraint as con
              where con.conrelid = c.oid and con.contype = 'f' and a.attnum = any(con.conkey)
                and a.attname like '%%\\_id'
          )
          -- an enum column named after its documented type (status: coach_grant_status)
          and not (t.typtype = 'e' and t.typname like '%%' || a.attname || '%%')
        """,
        [list(OUR_SCHEMAS), sorted(SELF_EXPLANATORY_COLUMNS)],
    )


def api_role_privileges_in_private(conn: Conn) -> list[str]:
    """Nothing in a non-exposed schema of ours (private, queue, the migration ledger, and any
    later one the owner creates) is granted to anon or authenticated."""
    return names(
        conn,
        """
        with internal as (
            select n.oid, n.nspname from pg_namespace as n
            where n.nspname <> all(%s)
              and (n.nspname = 'private' or pg_get_userbyid(n.nspowner) = %s)
        )
        select format('%%s has %%s on %%s', r.role, p.privilege, c.oid::regclass::text)
        from pg_class as c
        join internal as n on n.oid = c.relnamespace
        cross join unnest(%s::text[]) as r (role)
        cross join (values ('select'), ('insert'), ('update'), ('delete'), ('truncate'),
                           ('references'), ('trigger')) as p (privilege)
        where c.relkind in ('r', 'p', 'v', 'm', 'f')
          and (has_table_privilege(r.role, c.oid, p.privilege)
               or (p.privilege in ('select', 'insert', 'update', 'references')
                   and has_any_column_privilege(r.role, c.oid, p.privilege)))
        union all
        select format('%%s has %%s on sequence %%s', r.role, p.privilege, c.oid::regclass::text)
        from pg_class as c
        join internal as n on n.oid = c.relnamespace
        cross join unnest(%s::text[]) as r (role)
        cross join (values ('usage'), ('select'), ('update')) as p (privilege)
        where c.relkind = 'S' and has_sequence_privilege(r.role, c.oid, p.privilege)
        union all
        select format('%%s may execute %%s.%%s(%%s)', r.role, n.nspname, p.proname,
                      oidvectortypes(p.proargtypes))
        from pg_proc as p
        join internal as n on n.oid = p.pronamespace
        cross join unnest(%s::text[]) as r (role)
        where n.nspname <> 'private'  -- private's policy helpers: see the allow-list test
          and has_function_privilege(r.role, p.oid, 'execute')
          and has_schema_privilege(r.role, n.oid, 'usage')
        """,
        [list(EXPOSED_SCHEMAS), OWNER, list(API_ROLES), list(API_ROLES), list(API_ROLES)],
    )


def anon_privileges_anywhere(conn: Conn) -> list[str]:
    """The frontend never reads anonymously: anon holds nothing on any of our relations."""
    return names(
        conn,
        """
        select format('anon has %%s on %%s', p.privilege, c.oid::regclass::text)
        from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        cross join (values ('select'), ('insert'), ('update'), ('delete'), ('truncate'),
                           ('references'), ('trigger')) as p (privilege)
        where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and (has_table_privilege('anon', c.oid, p.privilege)
               or (p.privilege in ('select', 'insert', 'update', 'references')
                   and has_any_column_privilege('anon', c.oid, p.privilege)))
        """,
        [list(OUR_SCHEMAS)],
    )


def api_roles_creating_objects(conn: Conn) -> list[str]:
    return names(
        conn,
        "select format('%%s may create in %%s', r.role, n.nspname) from pg_namespace as n"
        " cross join unnest(%s::text[]) as r (role)"
        " where n.nspname = any(%s) and has_schema_privilege(r.role, n.oid, 'create')",
        [list(API_ROLES), list(OUR_SCHEMAS)],
    )


def secret_columns_in_exposed_schemas(conn: Conn) -> list[str]:
    found = rows(
        conn,
        "select format('%%s.%%s', c.oid::regclass::text, a.attname), a.attname"
        " from pg_attribute as a join pg_class as c on c.oid = a.attrelid"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')"
        " and a.attnum > 0 and not a.attisdropped",
        [list(EXPOSED_SCHEMAS)],
    )
    return sorted(qualified for qualified, column in found if SECRET_COLUMN.search(column))


def objects_not_owned_by_owner(conn: Conn) -> list[str]:
    return names(
        conn,
        """
        select format('%%s %%s (owner %%s)', kind, object, owner) from (
            select case c.relkind when 'S' then 'sequence' when 'v' then 'view'
                   when 'm' then 'materialized view' else 'table' end as kind,
                   c.oid::regclass::text as object, pg_get_userbyid(c.relowner) as owner
            from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
            where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
            union all
            select 'function', p.oid::regprocedure::text, pg_get_userbyid(p.proowner)
            from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
            where n.nspname = any(%s)
            union all
            select 'type', t.oid::regtype::text, pg_get_userbyid(t.typowner)
            from pg_type as t join pg_namespace as n on n.oid = t.typnamespace
            where n.nspname = any(%s) and t.typtype in ('e', 'd')
        ) as o
        where owner <> %s
        """,
        [list(OUR_SCHEMAS), list(OUR_SCHEMAS), list(OUR_SCHEMAS), OWNER],
    )


def timestamps_without_time_zone(conn: Conn) -> list[str]:
    found = names(
        conn,
        "select format('%%s.%%s.%%s', n.nspname, c.relname, a.attname)"
        " from pg_attribute as a join pg_class as c on c.oid = a.attrelid"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')"
        " and a.attnum > 0 and not a.attisdropped"
        " and a.atttypid in ('timestamp'::regtype, 'timestamp[]'::regtype)",
        [list(OUR_SCHEMAS)],
    )
    return [column for column in found if column not in LOCAL_TIME_COLUMNS]


def _columns_without_check(conn: Conn, types: list[str], pattern: str) -> list[str]:
    """Columns of our tables of one of ``types`` that no check constraint on that column alone
    matches ``pattern`` (a regular expression over pg_get_constraintdef)."""
    return names(
        conn,
        "select format('%%s.%%s.%%s', n.nspname, c.relname, a.attname)"
        " from pg_attribute as a join pg_class as c on c.oid = a.attrelid"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'p')"
        " and a.attnum > 0 and not a.attisdropped"
        " and a.atttypid = any(%s::regtype[])"
        " and not exists (select from pg_constraint as k"
        "   where k.conrelid = c.oid and k.contype = 'c' and k.conkey = array[a.attnum]"
        "   and pg_get_constraintdef(k.oid) ~ %s)"
        " order by 1",
        [list(OUR_SCHEMAS), types, pattern],
    )


def numeric_columns_accepting_non_finite(conn: Conn) -> list[str]:
    """Float and numeric columns without a check rejecting NaN and +-Infinity (issue 14:
    `'NaN' >= 0` is true in PostgreSQL, so range checks alone let NaN through)."""
    return _columns_without_check(
        conn,
        ["double precision", "real", "numeric"],
        r"> '-Infinity'::.* AND .*< 'Infinity'::",
    )


def json_columns_without_size_limit(conn: Conn) -> list[str]:
    """JSON columns without a size check (pg_column_size) on them."""
    return _columns_without_check(conn, ["jsonb", "json"], r"pg_column_size\(")


CHECKS: dict[str, Callable[[Conn], list[str]]] = {
    "rls_enabled": tables_without_rls,
    "policy_present": exposed_tables_without_policy,
    "no_for_all_or_public": policies_for_all_or_public,
    "no_bare_auth_calls": bare_auth_calls_in_policies,
    "helpers_wrapped": unwrapped_helper_calls_in_policies,
    "one_permissive_policy": overlapping_permissive_policies,
    "definer_not_exposed": definer_functions_in_exposed_schemas,
    "definer_empty_search_path": definer_functions_without_empty_search_path,
    "search_path_pinned": functions_without_pinned_search_path,
    "definer_says_why": definer_functions_not_saying_why,
    "function_comments": functions_without_comment,
    "anon_executes_nothing": lambda conn: functions_executable_by(conn, "anon"),
    "public_executes_nothing": lambda conn: functions_executable_by(conn, "public"),
    "authenticated_executes_helpers_only": authenticated_executes_beyond_helpers,
    "security_invoker_views": views_without_security_invoker,
    "no_exposed_matviews": materialized_views_in_exposed_schemas,
    "indexed_foreign_keys": unindexed_foreign_keys,
    "relation_comments": relations_without_comment,
    "type_comments": types_without_comment,
    "enum_values_documented": enums_not_documenting_every_value,
    "column_comments": columns_without_comment,
    "private_closed_to_api_roles": api_role_privileges_in_private,
    "anon_holds_nothing": anon_privileges_anywhere,
    "api_roles_create_nothing": api_roles_creating_objects,
    "no_secret_columns_exposed": secret_columns_in_exposed_schemas,
    "owned_by_owner": objects_not_owned_by_owner,
    "timestamptz": timestamps_without_time_zone,
    "finite_numbers": numeric_columns_accepting_non_finite,
    "json_size_limits": json_columns_without_size_limit,
}


@pytest.fixture
def tx(db: Conn) -> Conn:
    db.execute("select 1")  # open the test transaction (see test_rls_matrix.world)
    return db


def test_the_schema_is_there(tx: Conn) -> None:
    """The checks below are about something: our schemas hold tables, views and functions."""
    counts = rows(
        tx,
        "select (select count(*) from pg_class as c join pg_namespace as n"
        "        on n.oid = c.relnamespace where n.nspname = any(%s) and c.relkind = 'r'),"
        " (select count(*) from pg_class as c join pg_namespace as n"
        "        on n.oid = c.relnamespace where n.nspname = any(%s) and c.relkind = 'v'),"
        " (select count(*) from pg_policy),"
        " (select count(*) from pg_proc as p join pg_namespace as n"
        "        on n.oid = p.pronamespace where n.nspname = 'private')",
        [list(OUR_SCHEMAS), list(OUR_SCHEMAS)],
    )[0]
    assert counts[0] >= 10
    assert counts[1] >= 5
    assert counts[2] >= 15
    assert counts[3] >= 10
    assert "public" in EXPOSED_SCHEMAS
    assert "private" not in EXPOSED_SCHEMAS


def test_rls_is_enabled_on_every_table(tx: Conn) -> None:
    assert tables_without_rls(tx) == []


def test_every_exposed_table_has_a_policy(tx: Conn) -> None:
    assert exposed_tables_without_policy(tx) == []


def test_no_policy_is_for_all_or_applies_to_public(tx: Conn) -> None:
    assert policies_for_all_or_public(tx) == []


def test_policies_call_auth_functions_through_a_subquery(tx: Conn) -> None:
    assert bare_auth_calls_in_policies(tx) == []


def test_policies_call_argumentless_helpers_once_per_statement(tx: Conn) -> None:
    assert unwrapped_helper_calls_in_policies(tx) == []


def test_at_most_one_permissive_policy_per_table_command_and_role(tx: Conn) -> None:
    assert overlapping_permissive_policies(tx) == []


def test_security_definer_functions_are_internal_pinned_and_explained(tx: Conn) -> None:
    assert definer_functions_in_exposed_schemas(tx) == []
    assert definer_functions_without_empty_search_path(tx) == []
    assert definer_functions_not_saying_why(tx) == []


def test_every_function_pins_its_search_path(tx: Conn) -> None:
    assert functions_without_pinned_search_path(tx) == []


def test_every_function_has_a_comment(tx: Conn) -> None:
    assert functions_without_comment(tx) == []


def test_anon_and_public_execute_no_function(tx: Conn) -> None:
    assert functions_executable_by(tx, "anon") == []
    assert functions_executable_by(tx, "public") == []


def test_authenticated_executes_only_the_policy_helpers(tx: Conn) -> None:
    assert authenticated_executes_beyond_helpers(tx) == []
    # ... and each helper really is executable (a policy calling it would fail otherwise).
    executable = {_normalised(f) for f in functions_executable_by(tx, "authenticated")}
    assert executable == POLICY_HELPERS


def test_every_exposed_view_is_security_invoker(tx: Conn) -> None:
    assert views_without_security_invoker(tx) == []


def test_no_materialized_view_in_an_exposed_schema(tx: Conn) -> None:
    assert materialized_views_in_exposed_schemas(tx) == []


def test_every_foreign_key_is_indexed(tx: Conn) -> None:
    assert unindexed_foreign_keys(tx) == []


def test_every_table_view_and_type_has_a_comment(tx: Conn) -> None:
    assert relations_without_comment(tx) == []
    assert types_without_comment(tx) == []


def test_every_enum_comment_documents_each_value(tx: Conn) -> None:
    assert enums_not_documenting_every_value(tx) == []


def test_every_column_that_is_not_obvious_has_a_comment(tx: Conn) -> None:
    assert columns_without_comment(tx) == []


def test_api_roles_have_no_privilege_in_internal_schemas(tx: Conn) -> None:
    assert api_role_privileges_in_private(tx) == []


def test_anon_holds_no_privilege_on_any_relation(tx: Conn) -> None:
    assert anon_privileges_anywhere(tx) == []


def test_api_roles_cannot_create_objects_in_our_schemas(tx: Conn) -> None:
    assert api_roles_creating_objects(tx) == []


def test_no_exposed_column_is_named_like_a_secret(tx: Conn) -> None:
    assert secret_columns_in_exposed_schemas(tx) == []


def test_everything_is_owned_by_the_non_superuser_owner(tx: Conn) -> None:
    assert rows(tx, "select rolsuper, rolbypassrls from pg_roles where rolname = %s", [OWNER]) == [
        (False, True)
    ]
    assert objects_not_owned_by_owner(tx) == []


def test_timestamps_are_timestamptz_except_the_local_wall_clock(tx: Conn) -> None:
    assert timestamps_without_time_zone(tx) == []
    assert names(
        tx,
        "select format_type(atttypid, atttypmod) from pg_attribute"
        " where attrelid = 'public.activities'::regclass and attname = 'start_date_local'",
    ) == ["timestamp without time zone"]


def test_every_numeric_column_rejects_nan_and_infinity(tx: Conn) -> None:
    assert numeric_columns_accepting_non_finite(tx) == []


def test_every_json_column_has_a_size_limit(tx: Conn) -> None:
    assert json_columns_without_size_limit(tx) == []


def test_objects_created_later_are_closed_by_default(tx: Conn) -> None:
    """Default privileges: what a later migration creates is not granted to the API roles
    (the local bootstrap emulates Supabase's legacy grant-everything default)."""
    with tx.transaction(force_rollback=True):
        tx.execute(f"set local role {OWNER}")
        tx.execute("create table public.zz_later (id int)")
        tx.execute("create view public.zz_later_view with (security_invoker) as select 1 as x")
        tx.execute("create function public.zz_later_fn() returns int language sql as 'select 1'")
        tx.execute("create function private.zz_later_fn() returns int language sql as 'select 1'")
        tx.execute("create table private.zz_later (id int)")
        tx.execute("reset role")
        assert (
            names(
                tx,
                "select format('%%s: %%s', c.relname, r.role) from pg_class as c"
                " cross join unnest(array['anon', 'authenticated']) as r (role)"
                " where c.relname in ('zz_later', 'zz_later_view')"
                " and has_table_privilege(r.role, c.oid, 'select, insert, update, delete')",
            )
            == []
        )
        assert (
            names(
                tx,
                "select format('%%s: %%s', p.oid::regprocedure, r.role) from pg_proc as p"
                " cross join unnest(array['public', 'anon', 'authenticated']) as r (role)"
                " where p.proname = 'zz_later_fn'"
                " and has_function_privilege(r.role, p.oid, 'execute')",
            )
            == []
        )


def _create_offenders(conn: Conn) -> None:
    """One deliberate breach of each convention, as the migrations' owner."""
    conn.execute(f"set local role {OWNER}")
    for statement in (
        # no RLS, no policy, no comments, unindexed FK, secret column, naive timestamp
        "create table public.zz_bad (id int primary key, owner_id uuid references public.users,"
        " refresh_token text, happened timestamp, weirdness int,"
        " ratio double precision check (ratio >= 0),"
        " blob jsonb check (jsonb_typeof(blob) = 'object'))",
        "create table public.zz_bad_policies (id int, owner uuid, secret_id int)",
        "alter table public.zz_bad_policies enable row level security",
        "create policy zz_all on public.zz_bad_policies using (owner = auth.uid())",
        "create policy zz_read_a on public.zz_bad_policies for select to authenticated"
        " using (owner = (select auth.uid()) and private.is_admin())",
        "create policy zz_read_b on public.zz_bad_policies for select to authenticated"
        " using (current_setting('request.jwt.claims', true) is not null)",
        "create function public.zz_definer() returns int language sql security definer"
        " as 'select 1'",
        "grant execute on function public.zz_definer() to public, anon, authenticated",
        "create function private.zz_definer() returns int language sql security definer"
        " set search_path = public as 'select 1'",
        "comment on function private.zz_definer() is 'no reason given'",
        "create function private.zz_unqualified() returns bigint language sql stable"
        " as 'select count(*) from users'",
        "create view public.zz_view as select 1 as x",
        "create materialized view public.zz_matview as select 1 as x",
        "create type public.zz_mood as enum ('happy', 'grumpy')",
        "create type public.zz_silent as enum ('a', 'b')",
        "comment on type public.zz_mood is 'Only happy is documented.'",
        "create table private.zz_leaky (id int)",
        "alter table private.zz_leaky enable row level security",
        "grant select on private.zz_leaky to authenticated",
        "grant select on public.zz_view to anon",
        "grant create on schema private to authenticated",
    ):
        conn.execute(statement.encode())
    conn.execute("reset role")
    conn.execute("create table public.zz_superuser_owned (id int)")


EXPECTED_OFFENDERS: dict[str, str] = {
    "rls_enabled": "zz_bad",
    "policy_present": "zz_bad",
    "no_for_all_or_public": "zz_all",
    "no_bare_auth_calls": "zz_all",
    "helpers_wrapped": "zz_read_a",
    "one_permissive_policy": "zz_read_a, zz_read_b",
    "definer_not_exposed": "public.zz_definer()",
    "definer_empty_search_path": "zz_definer()",
    "search_path_pinned": "private.zz_unqualified()",
    "definer_says_why": "private.zz_definer()",
    "function_comments": "public.zz_definer()",
    "anon_executes_nothing": "public.zz_definer()",
    "public_executes_nothing": "public.zz_definer()",
    "authenticated_executes_helpers_only": "public.zz_definer()",
    "security_invoker_views": "zz_view",
    "no_exposed_matviews": "zz_matview",
    "indexed_foreign_keys": "zz_bad",
    "relation_comments": "zz_bad",
    "type_comments": "zz_silent",
    "enum_values_documented": "grumpy",
    "column_comments": "zz_bad.weirdness",
    "private_closed_to_api_roles": "authenticated has select on private.zz_leaky",
    "anon_holds_nothing": "anon has select on zz_view",
    "api_roles_create_nothing": "authenticated may create in private",
    "no_secret_columns_exposed": "zz_bad.refresh_token",
    "owned_by_owner": "zz_superuser_owned",
    "timestamptz": "zz_bad.happened",
    "finite_numbers": "zz_bad.ratio",
    "json_size_limits": "zz_bad.blob",
}


def test_each_check_catches_a_deliberately_bad_object(tx: Conn) -> None:
    assert EXPECTED_OFFENDERS.keys() == CHECKS.keys()
    missed = {}
    with tx.transaction(force_rollback=True):
        _create_offenders(tx)
        for check, function in CHECKS.items():
            found = function(tx)
            if not any(EXPECTED_OFFENDERS[check] in offender for offender in found):
                missed[check] = found
    assert missed == {}
