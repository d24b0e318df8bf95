"""The one way Python reaches the database: call a SQL function in ``public`` by name.

API
---
- ``Gateway`` (Protocol): ``call(function: str, args: Mapping[str, Any]) -> list[dict[str, Any]]``
  — the function's result rows as dicts. Values may come back as Python types (psycopg) or
  JSON scalars (PostgREST: uuid and timestamptz as strings); ``store`` normalises them.
- ``PsycopgGateway(source: psycopg.Connection | psycopg_pool.ConnectionPool, *, role=None)`` —
  runs ``select * from public.<fn>(<arg> => %s, ...)`` with names as quoted identifiers and
  values bound. Each call is one transaction (a savepoint if the connection is already in one).
  ``role="service_role"`` switches role for the call (transaction-local), as PostgREST does.
  A single Connection is not for concurrent threads: give a pool to a multi-threaded app.
- ``SupabaseGateway(url, service_key, http: httpx.Client)`` — ``POST {url}/rest/v1/rpc/<fn>``
  with the ``apikey`` and ``Authorization: Bearer`` headers and a JSON body of the arguments.
- ``GatewayError`` — the function failed (SQL error / PostgREST 4xx); connection failures are
  ``DatabaseUnavailableError``.

Function and argument names must match ``[a-z][a-z0-9_]*`` (≤ 63 chars) and, by default, be
in the typed layer's allow-list (``trainlytics.db.ALLOWED_FUNCTIONS``: what its modules declare);
``allowed`` gives another set, or ``None`` for any name (tests only). No value is ever formatted
into SQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Literal, Protocol

import httpx
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from trainlytics.db.jsonb_text import jsonb_bytes
from trainlytics.errors import DatabaseUnavailableError, GatewayError

__all__ = [
    "TYPED_LAYER",
    "Gateway",
    "PsycopgGateway",
    "SupabaseGateway",
]

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

#: The default ``allowed``: the typed layer's allow-list, ``trainlytics.db.ALLOWED_FUNCTIONS``.
TYPED_LAYER: Final = "typed layer"
Allowed = frozenset[str] | None | Literal["typed layer"]


def _resolve(allowed: Allowed) -> frozenset[str] | None:
    if allowed == TYPED_LAYER:
        # Imported here: the typed modules import this one.
        from trainlytics.db import ALLOWED_FUNCTIONS

        return ALLOWED_FUNCTIONS
    return allowed if isinstance(allowed, frozenset) else None


class Gateway(Protocol):
    def call(self, function: str, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Call ``public.<function>`` with named arguments; its rows as dicts."""
        ...


def _check_names(function: str, args: Mapping[str, Any], allowed: frozenset[str] | None) -> None:
    if not IDENTIFIER.match(function):
        raise ValueError(f"invalid SQL function name {function!r}")
    if allowed is not None and function not in allowed:
        raise ValueError(f"SQL function {function!r} is not in the gateway's allow-list")
    for name in args:
        if not IDENTIFIER.match(name):
            raise ValueError(f"invalid argument name {name!r} for {function}")


class PsycopgGateway:
    """Calls SQL functions over psycopg (workers, CLI, tests)."""

    def __init__(
        self,
        source: psycopg.Connection[Any] | ConnectionPool[Any],
        *,
        role: str | None = None,
        allowed: Allowed = TYPED_LAYER,
    ) -> None:
        if role is not None and not IDENTIFIER.match(role):
            raise ValueError(f"invalid role name {role!r}")
        self._source = source
        self._role = role
        self._allowed = _resolve(allowed)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if isinstance(self._source, ConnectionPool):
            with self._source.connection() as conn:
                yield conn
        else:
            yield self._source

    def call(self, function: str, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        _check_names(function, args, self._allowed)
        query = sql.SQL("select * from {}.{}({})").format(
            sql.Identifier("public"),
            sql.Identifier(function),
            sql.SQL(", ").join(
                sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder()) for name in args
            ),
        )
        values = [_adapt(value) for value in args.values()]
        try:
            with self._connection() as conn, conn.transaction():
                previous_role: str | None = None
                if self._role is not None:
                    row = conn.execute("select current_setting('role')").fetchone()
                    previous_role = row[0] if row else "none"
                    conn.execute("select set_config('role', %s, true)", [self._role])
                with conn.cursor(row_factory=dict_row) as cursor:
                    cursor.execute(query, values)
                    rows = cursor.fetchall() if cursor.description else []
                if previous_role is not None:
                    conn.execute("select set_config('role', %s, true)", [previous_role])
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailableError(
                f"database unavailable while calling {function}: {type(exc).__name__}"
            ) from exc
        except psycopg.Error as exc:
            diag = exc.diag
            raise GatewayError(
                function, diag.message_primary or type(exc).__name__, code=diag.sqlstate
            ) from exc
        return [dict(row) for row in rows]


def _adapt(value: Any) -> Any:
    """Python values psycopg cannot infer: mappings (and lists of mappings, e.g. a page of
    activity payloads) become jsonb, tuples arrays."""
    if isinstance(value, Mapping):
        return Jsonb(dict(value), dumps=jsonb_bytes)
    if isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
        return Jsonb(value, dumps=jsonb_bytes)
    if isinstance(value, tuple):
        return list(value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence | frozenset | set) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} as a SQL function argument")


class SupabaseGateway:
    """Calls SQL functions through Supabase's PostgREST ``rpc`` endpoint with the service key."""

    def __init__(
        self,
        url: str,
        service_key: str,
        http: httpx.Client,
        *,
        allowed: Allowed = TYPED_LAYER,
    ) -> None:
        self._base = url.rstrip("/")
        self._key = service_key
        self._http = http
        self._allowed = _resolve(allowed)

    def __repr__(self) -> str:
        return f"SupabaseGateway({self._base!r})"

    def call(self, function: str, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        _check_names(function, args, self._allowed)
        # jsonb cannot hold U+0000: strip it here rather than lose the whole call.
        body = jsonb_bytes(dict(args), default=_json_default)
        try:
            response = self._http.post(
                f"{self._base}/rest/v1/rpc/{function}",
                content=body,
                headers={
                    "apikey": self._key,
                    "Authorization": f"Bearer {self._key}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "Content-Profile": "public",
                },
            )
        except httpx.TransportError as exc:
            raise DatabaseUnavailableError(
                f"Supabase API unreachable while calling {function}: {type(exc).__name__}"
            ) from exc
        # PostgREST answers 500 for a SQL error of class XX, 502-504 when the database is down.
        if response.status_code in (502, 503, 504):
            raise DatabaseUnavailableError(
                f"Supabase API answered {response.status_code} to {function}"
            )
        if response.status_code >= 400:
            code: str | None = None
            message = f"answered {response.status_code}"
            try:
                error = response.json()
            except ValueError:
                error = None
            if isinstance(error, dict):
                code = str(error.get("code")) if error.get("code") is not None else None
                if error.get("message"):
                    message = f"{message}: {error['message']}"
            raise GatewayError(function, message, code=code)
        if not response.content:
            return []
        try:
            result = response.json()
        except ValueError as exc:
            raise GatewayError(function, "answered with a body that is not JSON") from exc
        if isinstance(result, list):
            return [dict(row) if isinstance(row, dict) else {function: row} for row in result]
        if isinstance(result, dict):
            return [result]
        if result is None:
            return []
        return [{function: result}]
