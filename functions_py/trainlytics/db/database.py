"""Where the database is, and how to connect to it.

``DATABASE_URL`` names any PostgreSQL (a local server, or a Supabase project's direct connection
string). Without it Trainlytics starts its embedded server (:mod:`trainlytics.db.embedded`).
"""

from __future__ import annotations

import os
import re
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from trainlytics.db.embedded import start_embedded
from trainlytics.errors import DatabaseUnavailableError

__all__ = ["DATABASE_URL_ENV", "connect", "redact_url", "resolve_database_url"]

DATABASE_URL_ENV = "DATABASE_URL"

_PASSWORD_IN_URL = re.compile(r"(://[^:/?#@]*:)[^@/?#]*@")
_PASSWORD_IN_DSN = re.compile(r"(password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\S+)")


def resolve_database_url(explicit: str | None = None) -> str:
    """``explicit`` if given, else ``$DATABASE_URL``, else the embedded server's URL."""
    if explicit:
        return explicit
    from_env = os.environ.get(DATABASE_URL_ENV)
    if from_env:
        return from_env
    return start_embedded(None)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to print or log."""
    return _PASSWORD_IN_DSN.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1***@", url))


def connect(url: str, **kwargs: Any) -> psycopg.Connection[TupleRow]:
    """Open a psycopg connection, turning connection failures into one clear error."""
    kwargs.setdefault("connect_timeout", 10)
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        reason = lines[0].removeprefix("connection failed: ") if lines else type(exc).__name__
        raise DatabaseUnavailableError(
            f"cannot connect to {redact_url(url)}: {reason}",
            hint=f"is the server running? Check --database-url / ${DATABASE_URL_ENV}",
        ) from exc
    except psycopg.ProgrammingError as exc:  # malformed conninfo
        raise DatabaseUnavailableError(
            f"invalid database URL {redact_url(url)}: {str(exc).strip()}",
            hint="expected postgresql://user:password@host:port/dbname",
        ) from exc
