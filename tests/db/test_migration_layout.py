"""Where each object is defined, and what a write to activities fires (issue 11).

- Release 0.1.0's migrations (the folded history, every file before ``FOLDED_BEFORE``) define
  each function, view, policy and trigger in exactly one file: its current definition is found
  there. Later migrations are append-only and may replace an object; ``supabase/schema.sql``
  then holds every object's current definition (tests/db/test_schema_snapshot.py).
- ``supabase/migrations/README.md`` lists, in firing order, every trigger that an insert, an
  update or a delete on ``public.activities`` fires; the list is checked against pg_trigger
  (the failure message prints the block to paste).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import psycopg

from trainlytics.db import migrations
from trainlytics.db.sql_splitter import split_statements

Conn = psycopg.Connection[Any]

#: Release 0.1.0 is every migration before this version (the folded history). Helpers and
#: later releases add migrations at or after it; those may `create or replace` an object.
FOLDED_BEFORE = "20261205200000"
README = migrations.MIGRATIONS_DIR / "README.md"
BEGIN = "<!-- activities-triggers:begin (checked by tests/db/test_migration_layout.py) -->"
END = "<!-- activities-triggers:end -->"

_DEFINITIONS = (
    ("function", re.compile(r"create\s+(?:or\s+replace\s+)?function\s+([\w.\"]+)\s*\(", re.I)),
    (
        "view",
        re.compile(r"create\s+(?:or\s+replace\s+)?(?:materialized\s+)?view\s+([\w.\"]+)", re.I),
    ),
    ("policy", re.compile(r"create\s+policy\s+(\w+)\s+on\s+([\w.\"]+)", re.I)),
    (
        "trigger",
        re.compile(
            r"create\s+(?:or\s+replace\s+)?trigger\s+(\w+)\s.*?\son\s+([\w.\"]+)", re.I | re.S
        ),
    ),
)
_REDEFINITIONS = re.compile(
    r"^(drop\s+(function|view|policy|trigger)|alter\s+(policy|function)|create\s+or\s+replace)\b",
    re.I,
)


def _code(statement: str) -> str:
    """The statement without its leading comments."""
    return re.sub(r"\A(\s*(--[^\n]*\n|/\*.*?\*/))*\s*", "", statement, flags=re.S)


def folded_files() -> list[migrations.MigrationFile]:
    return [m for m in migrations.discover_migrations() if m.version < FOLDED_BEFORE]


def definitions(files: list[migrations.MigrationFile]) -> dict[tuple[str, str], list[str]]:
    """(kind, name) -> the files whose statements create it, once per statement."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for migration in files:
        for statement in migration.statements:
            code = _code(statement)
            for kind, pattern in _DEFINITIONS:
                match = pattern.match(code)
                if match:
                    name = (
                        ".".join(match.groups()[::-1])
                        if kind in ("policy", "trigger")
                        else match[1]
                    )
                    found[(kind, name.lower())].append(migration.filename)
    return found


def test_the_folded_release_defines_each_object_in_one_statement_of_one_file() -> None:
    files = folded_files()
    assert len(files) > 30
    found = definitions(files)
    assert ("function", "private.ingest_page") in found  # the parser reads the files
    restated = {key: where for key, where in found.items() if len(where) != 1}
    assert restated == {}


def test_the_folded_release_never_drops_or_alters_what_it_defines() -> None:
    offending = [
        (m.filename, _code(s).split("\n", 1)[0])
        for m in folded_files()
        for s in m.statements
        if _REDEFINITIONS.match(_code(s))
    ]
    assert offending == []


def test_the_definition_scanner_counts_a_restatement() -> None:
    """The check above can fail: two files creating one function are both reported."""
    files = folded_files()[:2]
    twice = [
        migrations.MigrationFile(
            m.version,
            m.name,
            m.path,
            m.statements
            + split_statements(
                "create function private.twice() returns int language sql as $$ select 1 $$"
            ),
        )
        for m in files
    ]
    assert definitions(twice)[("function", "private.twice")] == [m.filename for m in files]


# -- The triggers a write to activities fires --------------------------------------------------

_EVENTS = ((4, "INSERT"), (16, "UPDATE"), (8, "DELETE"), (32, "TRUNCATE"))
_PHASES = (
    (2, 0, "before statement"),
    (2, 1, "before row"),
    (0, 1, "after row"),
    (0, 0, "after statement"),
)


def trigger_block(conn: Conn) -> str:
    """The README block: per event, the triggers in PostgreSQL's firing order (before
    statement, before row, after row, after statement; alphabetical within each), with the
    function each runs and the migration that creates it."""
    rows = conn.execute(
        "select t.tgname, t.tgtype, p.oid::regprocedure::text,"
        " pg_get_triggerdef(t.oid) ~ ' WHEN ' as conditional"
        " from pg_trigger t join pg_proc p on p.oid = t.tgfoid"
        " where t.tgrelid = 'public.activities'::regclass and not t.tgisinternal"
        ' order by t.tgname collate "C"'
    ).fetchall()
    files = {
        name.split(".")[-1]: where[0]
        for (kind, name), where in definitions(list(migrations.discover_migrations())).items()
        if kind == "trigger"
    }
    lines = [BEGIN, "```text"]
    for bit, event in _EVENTS:
        fired = [
            (phase, name, function, conditional)
            for before, row_level, phase in _PHASES
            for name, tgtype, function, conditional in rows
            if tgtype & bit and bool(tgtype & 2) == bool(before) and (tgtype & 1) == row_level
        ]
        if not fired:
            continue
        lines.append(f"{event} on public.activities")
        for number, (phase, name, function, conditional) in enumerate(fired, 1):
            when = " (when its condition holds)" if conditional else ""
            lines.append(f"  {number}. {phase:<16} {name}{when}")
            lines.append(f"       runs {function}, created in {files.get(name.lower(), '?')}")
    lines += ["```", END]
    return "\n".join(lines)


def test_the_readme_lists_every_trigger_a_write_to_activities_fires_in_order(db: Conn) -> None:
    expected = trigger_block(db)
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text
    assert END in text
    written = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert written == expected, f"paste into {README}:\n{expected}"
