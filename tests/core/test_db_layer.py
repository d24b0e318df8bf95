"""The typed database layer is the only Python that reaches SQL (issue 11).

Threats ruled out: a module outside ``trainlytics/db`` running SQL of its own (a query nobody
reviews with the others, outside the allow-list); a SQL function called by name that the
allow-list does not know; the allow-list drifting from what the typed layer calls; a gateway
calling a function the typed layer does not declare (e.g. one the API roles use).
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

import trainlytics
from trainlytics import db as db_layer
from trainlytics.db.gateway import PsycopgGateway, SupabaseGateway

Conn = psycopg.Connection[Any]

PACKAGE = Path(trainlytics.__file__).parent
DB_PACKAGE = PACKAGE / "db"

# SQL as a statement starts: keyword pairs no English message of the package begins with.
SQL_TEXT = re.compile(
    r"^\s*(select\s+\S|insert\s+into\s|update\s+[\w.]+\s+set\s|delete\s+from\s|with\s+\w+\s+as\s*\("
    r"|set\s+local\s|set\s+role\s|reset\s+role|create\s+(table|schema|database|function|index|"
    r"or\s+replace|extension|role|policy|trigger|view)\s|alter\s+(table|function|role|schema)\s"
    r"|drop\s+(table|database|schema|function|role)\s|grant\s+\w+(\s*,\s*\w+)*\s+on\s|do\s+\$)",
    re.IGNORECASE,
)
DB_CALLS = {"execute", "executemany", "cursor", "copy", "call"}


def _python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "_sql" not in p.parts)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def sql_uses(path: Path) -> list[str]:
    """Where ``path`` calls a database method or holds SQL text (docstrings aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in DB_CALLS
        ):
            found.append(f"{path.name}:{node.lineno} .{node.func.attr}(")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docs
            and SQL_TEXT.match(node.value)
        ):
            found.append(f"{path.name}:{node.lineno} SQL {node.value.strip()[:40]!r}")
    return sorted(found)


def called_functions(path: Path) -> set[str]:
    """The SQL function names ``path`` passes, as literals, to a gateway's ``call`` (or to
    ``ConnectionStore._one``, which passes its ``function`` on)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("call", "_one")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def test_no_module_outside_the_db_package_runs_sql() -> None:
    offenders = [
        use
        for path in _python_files(PACKAGE)
        if DB_PACKAGE not in path.parents
        for use in sql_uses(path)
    ]
    assert offenders == []


def test_the_scan_finds_inline_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'def f(conn):\n    """Select the rows: a docstring, not SQL."""\n'
        '    conn.execute("select 1")\n    q = "insert into public.x values (1)"\n'
        '    m = "set SUPABASE_URL first"\n',
        encoding="utf-8",
    )
    assert sql_uses(sample) == [
        "sample.py:3 .execute(",
        "sample.py:3 SQL 'select 1'",
        "sample.py:4 SQL 'insert into public.x values (1)'",
    ]


def test_the_allow_list_is_what_the_typed_modules_call() -> None:
    declared: set[str] = set()
    for module in db_layer.TYPED_MODULES:
        path = Path(module.__file__ or "")
        assert called_functions(path) == set(module.FUNCTIONS), module.__name__
        declared |= module.FUNCTIONS
    assert declared == db_layer.ALLOWED_FUNCTIONS


def test_every_module_calling_sql_functions_is_a_typed_module() -> None:
    typed = {Path(m.__file__ or "").resolve() for m in db_layer.TYPED_MODULES}
    for path in _python_files(PACKAGE):
        if called_functions(path) and path.resolve() not in typed:
            module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
            importlib.import_module(module)  # importable, yet not part of the allow-list
            pytest.fail(f"{module} calls SQL functions but is not in db.TYPED_MODULES")


def test_a_gateway_refuses_functions_outside_the_typed_layer() -> None:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=[])

    gateway = SupabaseGateway(
        "https://project.example", "key", httpx.Client(transport=httpx.MockTransport(handle))
    )
    # ingest_activities exists and service_role may run it, but no Python calls it directly.
    with pytest.raises(ValueError, match="allow-list"):
        gateway.call("ingest_activities", {"p_connection_id": 1, "p_items": []})
    assert sent == []
    gateway.call("tokens_get", {"p_connection_id": 1})
    assert len(sent) == 1


def test_every_allowed_function_is_callable_by_service_role(tx: Conn) -> None:
    rows = tx.execute(
        "select p.proname::text from pg_proc as p"
        " where p.pronamespace = 'public'::regnamespace and p.proname = any(%s)"
        " and has_function_privilege('service_role', p.oid, 'execute')",
        [sorted(db_layer.ALLOWED_FUNCTIONS)],
    ).fetchall()
    assert {r[0] for r in rows} == db_layer.ALLOWED_FUNCTIONS
    # And the default gateway reaches one of them (the role switch included).
    assert PsycopgGateway(tx, role="service_role").call("tokens_get", {"p_connection_id": -1}) == []


def test_no_module_restates_the_gateway_protocol() -> None:
    """One ``Gateway`` protocol (``trainlytics.db.gateway``): no private copies with a ``call``."""
    copies = []
    for path in _python_files(PACKAGE):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ClassDef)
                and any(getattr(base, "id", None) == "Protocol" for base in node.bases)
                and any(
                    isinstance(item, ast.FunctionDef) and item.name == "call" for item in node.body
                )
            ):
                copies.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert copies == ["db/gateway.py:Gateway"]
