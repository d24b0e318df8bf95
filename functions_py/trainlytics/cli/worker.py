"""``trainlytics worker``: run the sync jobs (any number of workers, on any machines).

At start, a worker closes the ``sync_history`` runs that dead workers left ``running``
(``public.sync_close_stale_runs``) and re-queues the jobs procrastinate holds for workers that
stopped sending heartbeats; then it consumes the ``sync``, ``webhooks`` and ``revocations``
queues with ``--concurrency`` jobs at a time (sync tasks run in threads), and defers the periodic
revocation sweep (``trainlytics:sweep_revocations``, every 10 minutes; procrastinate lets one
worker defer each tick). Stop it with
Ctrl-C / SIGTERM: running jobs finish first. Configuration comes from the environment
(:mod:`trainlytics.config`; the database from ``--database-url`` / ``DATABASE_URL``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer
from procrastinate import App
from psycopg_pool import ConnectionPool

from trainlytics.cli.console import console, reporting_errors
from trainlytics.cli.readiness import check_ready
from trainlytics.config import Settings
from trainlytics.connections.tokens import TokenService
from trainlytics.db.database import redact_url, resolve_database_url
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.store import ConnectionStore
from trainlytics.logs import get_logger
from trainlytics.providers import build_providers
from trainlytics.sync.engine import SyncEngine
from trainlytics.sync.jobs import build_app
from trainlytics.sync.rate_limits import RateLimiter

__all__ = ["Runtime", "build_runtime", "recover_stalled_jobs", "worker_command"]

log = get_logger(__name__)


@dataclass
class Runtime:
    """What a worker (or ``trainlytics sync``) runs the engine with."""

    database_url: str
    pool: ConnectionPool[Any]
    http: httpx.Client
    engine: SyncEngine

    def close(self) -> None:
        self.pool.close()
        self.http.close()


def build_runtime(
    database_url: str | None, *, pool_size: int = 4, lease_seconds: int = 300
) -> Runtime:
    """Settings from the environment, providers on one HTTP client, the database through a
    pool acting as ``service_role``."""
    settings = Settings.from_env(serving_http=False)
    url = resolve_database_url(database_url or settings.database_url)
    # Fail at once with one clear line on a bad URL, an unreachable server or an unmigrated
    # database (a pool would only time out at its first use, half a minute later; a missing
    # table would surface as a traceback mid-run). The embedded database is migrated.
    check_ready(url, queue=True)
    http = httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))
    pool: ConnectionPool[Any] = ConnectionPool(
        url,
        min_size=1,
        max_size=pool_size,
        # A connection dropped by a database restart is replaced, not handed out.
        check=ConnectionPool.check_connection,
        open=True,
    )
    gateway = PsycopgGateway(pool, role="service_role")
    providers = build_providers(settings, http)
    store = ConnectionStore(gateway)
    tokens = TokenService(
        store,
        settings.token_cipher(),
        providers,
        margin_seconds=settings.refresh_margin_seconds,
    )
    engine = SyncEngine(
        gateway,
        tokens,
        providers,
        limiter=RateLimiter(gateway),
        lease_seconds=lease_seconds,
        token_key_ids=frozenset(settings.token_keys),
    )
    return Runtime(database_url=url, pool=pool, http=http, engine=engine)


async def _recover(app: App, stalled_after: float) -> int:
    count = 0
    async with app.open_async():
        for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
            await app.job_manager.retry_job(job)
            count += 1
    return count


def recover_stalled_jobs(app: App, stalled_after: float) -> int:
    """Re-queue the jobs of workers silent for ``stalled_after`` s; how many were re-queued."""
    return asyncio.run(_recover(app, stalled_after))


def worker_command(
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Jobs run at a time.")
    ] = 4,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="DATABASE_URL",
            show_envvar=True,
            help="PostgreSQL URL. Default: the embedded server.",
        ),
    ] = None,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            help="Queues to consume (repeatable). Default: sync, webhooks, revocations, streams.",
        ),
    ] = None,
    stalled_after: Annotated[
        float,
        typer.Option(
            "--stalled-after",
            min=1,
            help="Re-queue jobs of workers without a heartbeat for this many seconds.",
        ),
    ] = 60.0,
    lease_seconds: Annotated[
        int, typer.Option("--lease-seconds", min=5, help="A run's lease, renewed every page.")
    ] = 300,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run sync jobs from the queue until stopped (Ctrl-C finishes running jobs first)."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with reporting_errors():
        runtime = build_runtime(
            database_url, pool_size=concurrency + 2, lease_seconds=lease_seconds
        )
        try:
            closed = runtime.engine.close_stale_runs()
            app = build_app(runtime.database_url)
            requeued = recover_stalled_jobs(app, stalled_after)
            console.print(
                f"Worker on {redact_url(runtime.database_url)}: concurrency {concurrency}; "
                f"{closed} abandoned run(s) closed, {requeued} stalled job(s) re-queued",
                soft_wrap=True,
            )
            app.run_worker(
                queues=queue or ["sync", "webhooks", "revocations", "streams"],
                concurrency=concurrency,
                additional_context={"engine": runtime.engine},
            )
        finally:
            runtime.close()
