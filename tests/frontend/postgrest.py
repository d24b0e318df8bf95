"""The frontend's requests (supabase/frontend/screens.json), run the way PostgREST runs them.

``expand`` turns a screen and its argument values into concrete requests (exactly as
``src/contract.test.ts`` does for the TypeScript side, which holds the functions of
``src/queries.ts`` to the same file). ``run`` executes one request as PostgREST would for a
signed-in user: one transaction (read only for GET), ``role`` and ``request.jwt.claims`` set
with ``set_config(..., true)``, the statement built from the request — table or view, select
list (columns, ``alias:column``, a one-level ``alias:table!fk(columns)`` embed through a foreign
key), filters (``eq``, ``neq``, ``gt``, ``gte``, ``lt``, ``lte``, ``is``, ``in``), ``order``,
``limit``, ``offset``; ``rpc/<function>`` with named arguments — and the rows returned as the
JSON PostgREST sends (``json_agg`` of the rows), so dates, numbers and nulls arrive as the
frontend receives them.

Only the PostgREST subset the screens use is supported; anything else raises, so a new kind of
request cannot be silently mistranslated.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.helpers import act_as_user

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_FILE = REPO_ROOT / "supabase" / "frontend" / "screens.json"
QUERIES_FILE = REPO_ROOT / "supabase" / "frontend" / "src" / "queries.ts"
TYPES_FILE = REPO_ROOT / "supabase" / "types" / "database.types.ts"

Conn = psycopg.Connection[Any]

_OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_EMBED = re.compile(r"^(?:(\w+):)?(\w+)!(\w+)\((.*)\)$")
_ALIASED = re.compile(r"^(\w+):(\w+)$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: Any
    http: bool = False
    single: bool = False

    @property
    def relation(self) -> str:
        return self.path.removeprefix("rpc/")

    @property
    def is_rpc(self) -> bool:
        return self.path.startswith("rpc/")


def load_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    return manifest


def _substitute(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        if whole:
            return values[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: _text(values[m.group(1)]), value)
    if isinstance(value, list):
        return [_substitute(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, values) for key, item in value.items()}
    return value


def _text(value: Any) -> str:
    # As JavaScript's String(value) for the JSON values the manifest holds.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def expand(manifest: dict[str, Any], screen: str, values: dict[str, Any]) -> list[Request]:
    """The concrete requests ``screen`` makes for these argument values."""
    requests: list[Request] = []
    for item in manifest["screens"][screen]["requests"]:
        if "use" in item:
            requests += expand(manifest, item["use"], _substitute(item["args"], values))
            continue
        requests.append(
            Request(
                method=item["method"],
                path=_substitute(item["path"], values),
                query=tuple(
                    (key, _text(_substitute(value, values))) for key, value in item.get("query", [])
                ),
                body=_substitute(item.get("body"), values),
                http=bool(item.get("http")),
                single=bool(item.get("single")),
            )
        )
    return requests


def _ident(name: str) -> sql.Identifier:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain PostgREST identifier: {name!r}")
    return sql.Identifier(name)


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _foreign_key(conn: Conn, table: str, name: str) -> tuple[str, list[str], list[str]]:
    """(referenced table, local columns, referenced columns) of the constraint ``name``."""
    row = conn.execute(
        """
        select
            c.confrelid::regclass::text,
            array(select a.attname from unnest(c.conkey) with ordinality as k (n, i)
                  join pg_attribute as a on a.attrelid = c.conrelid and a.attnum = k.n
                  order by k.i)::text[],
            array(select a.attname from unnest(c.confkey) with ordinality as k (n, i)
                  join pg_attribute as a on a.attrelid = c.confrelid and a.attnum = k.n
                  order by k.i)::text[]
        from pg_constraint as c
        where c.contype = 'f' and c.conname = %s and c.conrelid = %s::regclass
        """,
        [name, f"public.{table}"],
    ).fetchone()
    if row is None:
        raise ValueError(f"no foreign key {name} on public.{table}")
    return str(row[0]).removeprefix("public."), list(row[1]), list(row[2])


def _select_list(conn: Conn, table: str, select: str) -> sql.Composable:
    items: list[sql.Composable] = []
    for item in _split_top_level(select):
        embed = _EMBED.match(item)
        if embed:
            alias, target, fk, columns = embed.groups()
            referenced, local, remote = _foreign_key(conn, table, fk)
            if referenced != target:
                raise ValueError(f"{fk} references {referenced}, not {target}")
            join = sql.SQL(" and ").join(
                sql.SQL("_e.{} = _base.{}").format(_ident(r), _ident(lc))
                for lc, r in zip(local, remote, strict=True)
            )
            # PostgREST: a to-one embed is row_to_json of the related row (null when RLS
            # hides it or there is none).
            items.append(
                sql.SQL(
                    "(select row_to_json(_r) from (select {cols} from public.{target} as _e"
                    " where {join}) as _r) as {alias}"
                ).format(
                    cols=_select_list(conn, target, columns),
                    target=_ident(target),
                    join=join,
                    alias=_ident(alias or target),
                )
            )
            continue
        aliased = _ALIASED.match(item)
        if aliased:
            items.append(
                sql.SQL("{} as {}").format(_ident(aliased.group(2)), _ident(aliased.group(1)))
            )
        elif item == "*":
            items.append(sql.SQL("*"))
        else:
            items.append(_ident(item))
    return sql.SQL(", ").join(items)


def _filter(column: str, expression: str) -> tuple[sql.Composable, list[Any]]:
    operator, _, value = expression.partition(".")
    if operator in _OPERATORS:
        return sql.SQL("{} " + _OPERATORS[operator] + " %s").format(_ident(column)), [value]
    if operator == "is" and value in ("null", "true", "false", "unknown"):
        return sql.SQL("{} is " + value).format(_ident(column)), []
    if operator == "in" and value.startswith("(") and value.endswith(")"):
        members = [m.strip().strip('"') for m in value[1:-1].split(",")]
        placeholders = sql.SQL(", ").join(sql.Placeholder() for _ in members)
        return sql.SQL("{} in ({})").format(_ident(column), placeholders), members
    raise ValueError(f"unsupported PostgREST filter {column}={expression}")


def _order(expression: str) -> sql.Composable:
    terms = []
    for term in expression.split(","):
        column, *modifiers = term.split(".")
        parts: list[sql.Composable] = [_ident(column)]
        for modifier in modifiers:
            keyword = {
                "asc": "asc",
                "desc": "desc",
                "nullsfirst": "nulls first",
                "nullslast": "nulls last",
            }.get(modifier)
            if keyword is None:
                raise ValueError(f"unsupported order modifier {modifier!r}")
            parts.append(sql.SQL(keyword))
        terms.append(sql.SQL(" ").join(parts))
    return sql.SQL(", ").join(terms)


def statement(conn: Conn, request: Request) -> tuple[sql.Composable, list[Any]]:
    """The SQL PostgREST would run for ``request`` (rows only; see :func:`run`)."""
    params: list[Any] = []
    if request.is_rpc:
        if request.method != "POST" or request.query:
            raise ValueError("only POST rpc calls without query parameters are supported")
        arguments = sql.SQL(", ").join(
            sql.SQL("{} := %s").format(_ident(name)) for name in request.body
        )
        params = [None if v is None else _text(v) for v in request.body.values()]
        query = sql.SQL("select * from public.{}({})").format(_ident(request.relation), arguments)
        return query, params
    if request.method != "GET" or request.body is not None:
        raise ValueError("only GET reads are supported")
    select: sql.Composable = sql.SQL("*")
    where: list[sql.Composable] = []
    order: sql.Composable | None = None
    limit: int | None = None
    offset: int | None = None
    for key, value in request.query:
        if key == "select":
            select = _select_list(conn, request.relation, value)
        elif key == "order":
            order = _order(value)
        elif key == "limit":
            limit = int(value)
        elif key == "offset":
            offset = int(value)
        else:
            condition, values = _filter(key, value)
            where.append(condition)
            params += values
    query = sql.SQL("select {} from public.{} as _base").format(select, _ident(request.relation))
    if where:
        query += sql.SQL(" where ") + sql.SQL(" and ").join(where)
    if order is not None:
        query += sql.SQL(" order by ") + order
    if limit is not None:
        query += sql.SQL(" limit {}").format(sql.Literal(limit))
    if offset is not None:
        query += sql.SQL(" offset {}").format(sql.Literal(offset))
    return query, params


def run(conn: Conn, request: Request, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Run ``request`` as PostgREST does for ``user_id``; the rows as the JSON it returns.

    ``conn`` must be in autocommit mode: each request is one transaction, rolled back.
    """
    query, params = statement(conn, request)
    wrapped = sql.SQL("select coalesce(json_agg(_t), '[]'::json)::text from ({}) as _t").format(
        query
    )
    with conn.transaction(force_rollback=True):
        if request.method == "GET":
            conn.execute("set transaction read only")
        act_as_user(conn, user_id)
        row = conn.execute(wrapped, params).fetchone()
    assert row is not None
    result: list[dict[str, Any]] = json.loads(row[0])
    if request.single:
        assert len(result) <= 1, f"{request.path}: more than one row for a single()"
    return result


# --- the generated types ----------------------------------------------------------------------

_ROW_FIELD = re.compile(r"^\s+(\w+)\??: (.+)$")


def generated_row_types(relation: str, *, function: bool = False) -> dict[str, str]:
    """Column -> TypeScript type of ``relation``'s Row (or a function's Returns) in
    supabase/types/database.types.ts."""
    text = TYPES_FILE.read_text(encoding="utf-8")
    if function:
        start = text.index(f"\n      {relation}: {{")
        start = text.index("Returns: {", start)
    else:
        start = text.index(f"\n      {relation}: {{\n        Row: {{")
        start = text.index("Row: {", start)
    end = text.index("}", start)
    fields: dict[str, str] = {}
    for line in text[start:end].splitlines()[1:]:
        match = _ROW_FIELD.match(line)
        if match:
            fields[match.group(1)] = match.group(2).strip()
    return fields


def json_matches_type(value: Any, ts_type: str) -> bool:
    """Whether a JSON value is of the generated TypeScript type (the kinds the types use)."""
    alternatives = [a.strip() for a in ts_type.split("|")]
    for alternative in alternatives:
        if alternative == "null" and value is None:
            return True
        if (
            alternative == "number"
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return True
        if alternative == "boolean" and isinstance(value, bool):
            return True
        if alternative == "string" and isinstance(value, str):
            return True
        if alternative.startswith('Database["public"]["Enums"]') and isinstance(value, str):
            return True
        if alternative.endswith("[]") and isinstance(value, list):
            return all(json_matches_type(item, alternative[:-2]) for item in value)
        if alternative in ("Json", "NonNullable<Json>") and (
            value is not None or alternative == "Json"
        ):
            return True
    return False
