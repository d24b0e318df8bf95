"""The schema against README "Scaling past one machine": the doc cannot drift.

On Citus, every per-user table (a table of ``public``/``private`` with a ``user_id`` column)
would be distributed by ``user_id``, colocated with ``users`` (distributed by ``id``); Citus
requires every primary key and unique constraint of a distributed table, and every foreign key
between distributed tables, to include the distribution column. The README lists, between the
``citus:exceptions`` markers, each key and foreign key of a per-user table that does not include
``user_id`` today (what must change before distribution). These tests hold the catalog to that
list both ways: a new per-user table or key that breaks the rule fails until it is documented
(or fixed), and a documented exception that was fixed fails until the doc says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

Conn = psycopg.Connection[Any]
README = Path(__file__).resolve().parents[2] / "README.md"

PER_USER_TABLES = """
select c.oid
from pg_class as c
join pg_namespace as n on n.oid = c.relnamespace
where n.nspname in ('public', 'private') and c.relkind in ('r', 'p')
  and exists (
      select 1 from pg_attribute as a
      where a.attrelid = c.oid and a.attname = 'user_id' and not a.attisdropped
  )
"""


def documented() -> dict[str, set[str]]:
    """{'keys': {'public.activities activities_pkey', ...}, 'foreign_keys': {...}, 'tables':
    {...}} from the README's marked blocks."""
    text = README.read_text()
    out: dict[str, set[str]] = {}
    for kind in ("tables", "keys", "foreign_keys"):
        match = re.search(
            rf"<!-- citus:{kind} -->(.*?)<!-- /citus:{kind} -->", text, flags=re.DOTALL
        )
        assert match, f"README lacks the citus:{kind} block"
        out[kind] = set(re.findall(r"^\s*[-|]\s*`([^`]+)`", match.group(1), flags=re.MULTILINE))
    return out


def per_user_tables(conn: Conn) -> set[str]:
    rows = conn.execute(
        f"select c.oid::regclass::text from pg_class as c where c.oid in ({PER_USER_TABLES})"
    ).fetchall()
    return {_qualified(r[0]) for r in rows}


def _qualified(name: str) -> str:
    return name if "." in name else f"public.{name}"


def keys_without_user_id(conn: Conn) -> set[str]:
    """Primary keys, unique constraints and unique indexes of per-user tables not on user_id."""
    rows = conn.execute(
        f"""
        select i.indrelid::regclass::text, i.indexrelid::regclass::text
        from pg_index as i
        where i.indisunique and i.indrelid in ({PER_USER_TABLES})
          and not exists (
              select 1 from unnest(i.indkey) as k (attnum)
              join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum
              where a.attname = 'user_id'
          )
        """
    ).fetchall()
    return {f"{_qualified(t)} {i.split('.')[-1]}" for t, i in rows}


def foreign_keys_without_user_id(conn: Conn) -> set[str]:
    """Foreign keys from a per-user table that do not carry user_id."""
    rows = conn.execute(
        f"""
        select con.conrelid::regclass::text, con.conname
        from pg_constraint as con
        where con.contype = 'f' and con.conrelid in ({PER_USER_TABLES})
          and not exists (
              select 1 from unnest(con.conkey) as k (attnum)
              join pg_attribute as a on a.attrelid = con.conrelid and a.attnum = k.attnum
              where a.attname = 'user_id'
          )
        """
    ).fetchall()
    return {f"{_qualified(t)} {name}" for t, name in rows}


def test_documented_per_user_tables_are_the_schemas(db: Conn) -> None:
    assert per_user_tables(db) == documented()["tables"]


def test_every_key_of_a_per_user_table_includes_user_id_or_is_documented(db: Conn) -> None:
    assert keys_without_user_id(db) == documented()["keys"]


def test_every_foreign_key_of_a_per_user_table_includes_user_id_or_is_documented(
    db: Conn,
) -> None:
    assert foreign_keys_without_user_id(db) == documented()["foreign_keys"]


def test_a_new_per_user_table_breaking_the_rule_is_caught(db: Conn) -> None:
    """The check itself: an undocumented per-user table with an id primary key fails it."""
    with db.transaction(force_rollback=True):
        db.execute("create table public.zz_scale_probe (id bigint primary key, user_id uuid)")
        assert "public.zz_scale_probe zz_scale_probe_pkey" in keys_without_user_id(db)
        assert "public.zz_scale_probe" in per_user_tables(db)
