"""A database's catalog as comparable data: what two builds must agree on.

``catalog_of(conn)`` reads every object the migrations (or the schema snapshot) create in the
schemas the project owns or changes, each described version-neutrally by PostgreSQL itself
(``pg_get_functiondef``, ``pg_get_viewdef``, ``pg_get_constraintdef``, ``pg_get_indexdef``,
``pg_get_triggerdef``), with owners, ACLs, comments, RLS flags and options, plus the rows of
every table (the seed data; a freshly migrated database has no other rows).
``diff_catalogs(a, b)`` lists the differences, section by section, as readable lines.

Used by tests/db/test_schema_snapshot.py (migrations vs ``supabase/schema.sql``, old chain vs
folded chain) and by ``trainlytics.db.schema`` callers who need to compare two builds.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import TupleRow

Connection = psycopg.Connection[TupleRow]
Catalog = dict[str, list[tuple[Any, ...]]]


def _acl(column: str, kind: str, owner: str) -> str:
    """An ACL as a sorted text array, the built-in default spelt out: equal rights compare
    equal whatever the order of the grants and whether the default was written down."""
    return (
        f"(select array_agg(a::text order by a::text)"
        f" from unnest(coalesce({column}, acldefault('{kind}', {owner}))) as a)"
    )


# The schemas whose objects are compared: everything but PostgreSQL's own.
_SCHEMAS = (
    "n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')"
    " and n.nspname not like 'pg_temp%' and n.nspname not like 'pg_toast_temp%'"
)

QUERIES: dict[str, str] = {
    "schemas": f"""
        select n.nspname, pg_get_userbyid(n.nspowner), {_acl("n.nspacl", "n", "n.nspowner")},
               obj_description(n.oid, 'pg_namespace')
        from pg_namespace n where {_SCHEMAS}""",
    "extensions": "select extname, extnamespace::regnamespace::text from pg_extension",
    "relations": f"""
        select c.oid::regclass::text, c.relkind, pg_get_userbyid(c.relowner),
               case when c.relkind = 'S' then {_acl("c.relacl", "s", "c.relowner")}
                    else {_acl("c.relacl", "r", "c.relowner")} end,
               c.relrowsecurity, c.relforcerowsecurity, c.reloptions::text, c.relpersistence,
               obj_description(c.oid, 'pg_class')
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where {_SCHEMAS} and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f', 'c')""",
    "columns": f"""
        select c.oid::regclass::text,
               rank() over (partition by c.oid order by a.attnum),
               a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
               a.attcollation::regcollation::text,
               (select array_agg(x::text order by x::text) from unnest(a.attacl) as x),
               col_description(c.oid, a.attnum)
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where {_SCHEMAS} and c.relkind in ('r', 'p', 'v', 'm', 'f', 'c')
          and a.attnum > 0 and not a.attisdropped""",
    "constraints": f"""
        select coalesce(c.conrelid::regclass::text, ''), coalesce(c.contypid::regtype::text, ''),
               c.conname, c.contype, pg_get_constraintdef(c.oid), c.condeferrable,
               c.condeferred, obj_description(c.oid, 'pg_constraint')
        from pg_constraint c join pg_namespace n on n.oid = c.connamespace
        where {_SCHEMAS}""",
    "indexes": f"""
        select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
               obj_description(i.indexrelid, 'pg_class')
        from pg_index i join pg_class c on c.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace where {_SCHEMAS}""",
    "functions": f"""
        select p.oid::regprocedure::text, pg_get_functiondef(p.oid),
               pg_get_userbyid(p.proowner), {_acl("p.proacl", "f", "p.proowner")}, p.prosecdef,
               p.proconfig::text, obj_description(p.oid, 'pg_proc')
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where {_SCHEMAS} and p.prokind in ('f', 'p', 'w')""",
    "aggregates": f"""
        select p.oid::regprocedure::text, pg_get_userbyid(p.proowner),
               {_acl("p.proacl", "f", "p.proowner")}
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where {_SCHEMAS} and p.prokind = 'a'""",
    "views": f"""
        select c.oid::regclass::text, pg_get_viewdef(c.oid, true)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where {_SCHEMAS} and c.relkind in ('v', 'm')""",
    "triggers": f"""
        select t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled,
               obj_description(t.oid, 'pg_trigger')
        from pg_trigger t join pg_class c on c.oid = t.tgrelid
        join pg_namespace n on n.oid = c.relnamespace
        where {_SCHEMAS} and not t.tgisinternal""",
    "event_triggers": "select evtname, evtevent, evtfoid::regproc::text, evtenabled,"
    " evttags::text from pg_event_trigger",
    "policies": """
        select schemaname, tablename, policyname, permissive, roles::text, cmd, qual,
               with_check,
               obj_description((select p.oid from pg_policy p
                                where p.polname = pp.policyname
                                  and p.polrelid = format('%I.%I', pp.schemaname,
                                                          pp.tablename)::regclass),
                               'pg_policy')
        from pg_policies pp""",
    "types": f"""
        select t.oid::regtype::text, t.typtype, pg_get_userbyid(t.typowner),
               {_acl("t.typacl", "T", "t.typowner")},
               obj_description(t.oid, 'pg_type'),
               case t.typtype when 'd' then format_type(t.typbasetype, t.typtypmod) end,
               t.typnotnull, t.typdefault
        from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where {_SCHEMAS} and t.typtype in ('e', 'd', 'c', 'r')
          and (t.typrelid = 0 or (select relkind from pg_class where oid = t.typrelid) = 'c')""",
    "enum_values": f"""
        select t.oid::regtype::text, rank() over (partition by t.oid order by e.enumsortorder),
               e.enumlabel
        from pg_enum e join pg_type t on t.oid = e.enumtypid
        join pg_namespace n on n.oid = t.typnamespace where {_SCHEMAS}""",
    "sequences": f"""
        select s.seqrelid::regclass::text, format_type(s.seqtypid, null), s.seqstart,
               s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle
        from pg_sequence s join pg_class c on c.oid = s.seqrelid
        join pg_namespace n on n.oid = c.relnamespace where {_SCHEMAS}""",
    "default_acls": """
        select pg_get_userbyid(defaclrole), coalesce(defaclnamespace::regnamespace::text, ''),
               defaclobjtype,
               (select array_agg(a::text order by a::text) from unnest(defaclacl) as a)
        from pg_default_acl""",
    "roles": """
        select rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
               rolbypassrls, rolconfig::text
        from pg_roles where rolname not like 'pg\\_%'""",
    "publications": "select pubname, puballtables from pg_publication",
}

# The tables whose rows are not compared: the migration runner's own ledger (it records each
# file's statements, which differ by construction between two histories).
_IGNORED_TABLES = ("supabase_migrations.schema_migrations",)


def _table_rows(conn: Connection) -> list[tuple[Any, ...]]:
    tables = conn.execute(
        f"""select c.oid::regclass::text from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            where {_SCHEMAS} and c.relkind in ('r', 'p') order by 1"""
    ).fetchall()
    rows: list[tuple[Any, ...]] = []
    for (table,) in tables:
        if table in _IGNORED_TABLES:
            continue
        # The table name comes from the catalog (regclass text is already quoted).
        digest = conn.execute(
            f"select count(*), md5(coalesce(string_agg(t::text, ',' order by t::text), ''))"
            f" from {table} t"
        ).fetchone()
        assert digest is not None
        rows.append((table, digest[0], digest[1]))
    return rows


def catalog_of(conn: Connection) -> Catalog:
    """Every section of the catalog as a sorted list of rows."""
    catalog: Catalog = {}
    for section, query in QUERIES.items():
        rows = conn.execute(query.encode()).fetchall()
        catalog[section] = sorted(rows, key=repr)
    catalog["table_rows"] = _table_rows(conn)
    return catalog


def diff_catalogs(left: Catalog, right: Catalog, *, context: int = 400) -> list[str]:
    """Readable differences: ``- section: row`` only on the left, ``+`` only on the right."""
    lines: list[str] = []
    for section in sorted(left.keys() | right.keys()):
        a = {repr(row) for row in left.get(section, [])}
        b = {repr(row) for row in right.get(section, [])}
        lines += [f"- {section}: {row[:context]}" for row in sorted(a - b)]
        lines += [f"+ {section}: {row[:context]}" for row in sorted(b - a)]
    return lines
