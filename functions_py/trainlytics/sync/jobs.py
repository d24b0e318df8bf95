"""The job queue: procrastinate, with its tables in the non-exposed schema ``queue``.

- Installation: :func:`install_queue_schema` runs procrastinate's schema (from the installed
  package, through its ``SchemaManager``) into ``queue``. ``trainlytics db migrate`` calls it
  after the migrations (the migration ``20261125110100_job_queue.sql`` creates the schema and
  ``public.enqueue_job``); it does nothing when procrastinate's tables are already there.
  Where migrations are pushed with the Supabase CLI instead, run ``trainlytics db migrate``
  once as well (it then only installs the queue).
- Queueing: :class:`JobQueue` calls ``public.enqueue_job`` through the database gateway, so
  both transports (psycopg, and PostgREST ``rpc()`` with the service key) can queue. Each job
  carries a queueing lock: one waiting or running sync per connection, and one job per
  webhook event however often the provider replays it.
- Revocations: ``revoke_tokens`` (queued by SQL on every disconnect) and the periodic
  ``sweep_revocations`` (every 10 minutes, deferred by the workers themselves) run
  :mod:`trainlytics.connections.revocation`; the sweep drains whatever a lost or exhausted job
  left.
- Consumers: the sync tasks below run the sync engine (:mod:`trainlytics.sync.engine`), which a
  worker hands them as ``additional_context={"engine": engine}`` (``trainlytics worker``), or which
  :func:`configure_engine` sets for the process. Transient failures (provider 5xx, timeouts,
  429 and our own rate limiter, a dropped database connection, a busy connection) are retried
  with exponential backoff — never sooner than a rate limit's or a lease's reset; permanent
  ones (revoked tokens, missing configuration, a bug) are not retried.

A worker connects with ``search_path=queue`` (see :func:`build_app`), because procrastinate's
functions name their tables unqualified.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from procrastinate import App, Blueprint, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.jobs import Job
from procrastinate.retry import RetryDecision

from trainlytics.connections.revocation import revoke_queued, sweep_revocations
from trainlytics.connections.tokens import TokenService
from trainlytics.db import jobs as db_jobs
from trainlytics.db.gateway import Gateway
from trainlytics.db.queue_schema import QUEUE_SCHEMA
from trainlytics.errors import ProviderUnavailableError
from trainlytics.logs import get_logger
from trainlytics.providers.base import RECEIVED_AT_KEY, WebhookEvent
from trainlytics.sync.engine import is_transient
from trainlytics.sync.webhooks import ACCESS_EVENT_KINDS, apply_access_event

if TYPE_CHECKING:
    from trainlytics.sync.engine import SyncEngine

__all__ = [
    "FETCH_STREAMS",
    "PROCESS_WEBHOOK_EVENT",
    "QUEUE_SCHEMA",
    "REVOCATION_SWEEP_CRON",
    "REVOKE_TOKENS",
    "STREAMS_QUEUE",
    "SWEEP_REVOCATIONS",
    "SYNC_CONNECTION",
    "EnqueuedJob",
    "JobQueue",
    "SyncRetryStrategy",
    "SyncTrigger",
    "build_app",
    "configure_engine",
    "make_blueprint",
    "tasks",
    "webhook_event_key",
]

logger = get_logger(__name__)

NAMESPACE = "trainlytics"
SYNC_CONNECTION = f"{NAMESPACE}:sync_connection"
#: Queued by SQL (private.record_connection_status_change) on every disconnect.
REVOKE_TOKENS = f"{NAMESPACE}:revoke_tokens"
#: Periodic (:data:`REVOCATION_SWEEP_CRON`): drains whatever the per-connection jobs left.
SWEEP_REVOCATIONS = f"{NAMESPACE}:sweep_revocations"
REVOCATION_SWEEP_CRON = "*/10 * * * *"
PROCESS_WEBHOOK_EVENT = f"{NAMESPACE}:process_webhook_event"
#: Fetches activity streams (trainlytics.sync.streams); queued after syncs that stored activities.
FETCH_STREAMS = f"{NAMESPACE}:fetch_streams"
SYNC_QUEUE = "sync"
#: Stream fetches: their own queue, below every other job in priority (procrastinate takes the
#: highest priority first), and only a share of each rate-limit bucket (sync/streams.py).
STREAMS_QUEUE = "streams"
STREAMS_PRIORITY = -10
WEBHOOK_QUEUE = "webhooks"
REVOCATION_QUEUE = "revocations"

#: Values of ``public.sync_trigger``.
SyncTrigger = Literal["initial", "scheduled", "webhook", "manual", "retry"]


class SyncRetryStrategy(RetryStrategy):
    """Exponential backoff (``exponential_wait ** (attempt + 1)`` s, capped at ``max_wait``)
    for transient failures only, never sooner than a rate limit's ``retry_after`` or a busy
    connection's lease end."""

    max_wait: int = 3600

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not _is_transient(exception):
            return None
        if self.max_attempts and job.attempts >= self.max_attempts:
            return None
        wait = float(min(self.max_wait, self.wait + self.exponential_wait ** (job.attempts + 1)))
        retry_after = getattr(exception, "retry_after", None)
        if isinstance(retry_after, int | float):
            wait = max(wait, float(retry_after))
        retry_at = getattr(exception, "retry_at", None)
        if isinstance(retry_at, datetime):
            wait = max(wait, (retry_at - datetime.now(UTC)).total_seconds())
        return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=max(wait, 0.0)))


def _is_transient(exception: BaseException) -> bool:
    """One classification for the engine's records and the queue's retries."""
    return is_transient(exception)


#: Retries of a sync: 2, 4, 8, ... s up to an hour, 8 attempts.
SYNC_RETRY = SyncRetryStrategy(max_attempts=8, exponential_wait=2)
#: Retries of a webhook event: the same.
WEBHOOK_RETRY = SyncRetryStrategy(max_attempts=8, exponential_wait=2)

_engine: SyncEngine | None = None


def configure_engine(engine: SyncEngine | None) -> None:
    """Set the engine the tasks use when the worker passes none in its context."""
    global _engine
    _engine = engine


def _engine_for(context: JobContext) -> SyncEngine:
    engine = context.additional_context.get("engine") if context.additional_context else None
    engine = engine or _engine
    if engine is None:
        raise RuntimeError(
            "no sync engine is configured in this worker (start it with `trainlytics worker`)"
        )
    return engine


def sync_connection(context: JobContext, connection_id: int, trigger: str) -> None:
    """Synchronise one connection (trainlytics.sync.engine.SyncEngine.run)."""
    engine = _engine_for(context)
    outcome = engine.run(connection_id, trigger)
    logger.info(
        "sync of connection %s: %s (%s fetched, %s created, %s updated, %s deleted)",
        connection_id,
        outcome.status,
        outcome.fetched,
        outcome.created,
        outcome.updated,
        outcome.deleted,
    )
    if outcome.status in ("success", "partial"):
        _queue_streams(engine, connection_id, outcome.provider)


def process_webhook_event(
    context: JobContext, provider: str, connection_id: int, event: dict[str, Any]
) -> None:
    """Apply one verified webhook event: an access event (deauthorisation, permission change)
    is confirmed with the provider first (trainlytics.sync.webhooks.apply_access_event); any other
    is what the provider says it means (trainlytics.sync.engine.SyncEngine.process_event)."""
    engine = _engine_for(context)
    webhook_event = WebhookEvent(
        provider_user_id=str(event.get("provider_user_id", "")),
        kind=event["kind"],
        object_id=event.get("object_id"),
        payload=event.get("payload") or {},
    )
    if webhook_event.kind in ACCESS_EVENT_KINDS:
        access = apply_access_event(
            engine.gateway,
            engine.tokens,
            engine.providers,
            provider,
            connection_id,
            webhook_event,
            limiter=engine.limiter,
        )
        logger.info(
            "%s webhook %s for connection %s: %s",
            provider,
            webhook_event.kind,
            connection_id,
            access.status,
        )
        return
    outcome = engine.process_event(connection_id, webhook_event)
    logger.info(
        "%s webhook %s for connection %s: %s (%s created, %s updated, %s deleted)",
        provider,
        webhook_event.kind,
        connection_id,
        outcome.status,
        outcome.created,
        outcome.updated,
        outcome.deleted,
    )
    if outcome.created or outcome.updated:
        _queue_streams(engine, connection_id, outcome.provider)


def _queue_streams(engine: SyncEngine, connection_id: int, provider: str | None) -> None:
    """Queue the connection's stream job after a sync stored activities (providers with a
    stream source only). Never the sync's failure: a stream job not queued now is queued by
    the next sync."""
    from trainlytics.providers.streams_registry import stream_sources

    if provider not in stream_sources():
        return
    try:
        JobQueue(engine.gateway).enqueue_streams(connection_id)
    except Exception as exc:
        logger.warning(
            "stream job of connection %s not queued: %s", connection_id, type(exc).__name__
        )


def fetch_streams(context: JobContext, connection_id: int) -> None:
    """Fetch a batch of the connection's activity streams (trainlytics.sync.streams), then queue
    the continuation: when the budget share or a 429 stopped it, at that reset; when due
    activities remain, at once; when only retries wait, at the earliest."""
    from trainlytics.sync.streams import StreamSync

    engine = _engine_for(context)
    outcome = StreamSync(engine.gateway, engine.tokens, engine.providers).run(connection_id)
    logger.info(
        "streams of connection %s: %s fetched, %s unavailable, %s failed, %s remaining%s",
        connection_id,
        outcome.fetched,
        outcome.unavailable,
        outcome.failed,
        outcome.remaining,
        f" (deferred to {outcome.deferred_until.isoformat()})" if outcome.deferred_until else "",
    )
    queue = JobQueue(engine.gateway)
    if outcome.deferred_until is not None:
        queue.enqueue_streams(connection_id, at=outcome.deferred_until)
    elif outcome.remaining and (outcome.fetched or outcome.unavailable or outcome.failed):
        queue.enqueue_streams(connection_id, at=datetime.now(UTC))
    elif outcome.next_retry_at is not None:
        queue.enqueue_streams(connection_id, at=outcome.next_retry_at)


def _token_service(context: JobContext) -> TokenService:
    service = _engine_for(context).tokens
    if not isinstance(service, TokenService):
        raise RuntimeError("the worker's sync engine has no token service to revoke with")
    return service


def revoke_tokens(context: JobContext, connection_id: int) -> None:
    """Revoke at the provider the tokens a disconnect queued (trainlytics.connections.revocation). A
    failed attempt leaves the row queued and raises a transient error, so the queue retries;
    an operator error (provider or key not configured) is not retried here: the row waits for
    the periodic sweep, which logs it each time."""
    service = _token_service(context)
    report = revoke_queued(
        service.store, service.cipher, service.providers, connection_id=connection_id
    )
    if connection_id in report.failed:
        raise ProviderUnavailableError(
            "trainlytics",
            f"revoking the tokens of connection {connection_id} failed "
            f"({report.failed[connection_id]}); retrying",
        )


def sweep_revocations_job(context: JobContext, timestamp: int) -> None:
    """The periodic sweep of the revocation queue (every 10 minutes): attempts every queued
    revocation once, whether or not its own job was ever queued or still retries."""
    service = _token_service(context)
    report = sweep_revocations(service.store, service.cipher, service.providers)
    logger.info(
        "revocation sweep (scheduled at %s): %s revoked, %s failed (kept for a retry), "
        "%s waiting for operator configuration, %s dropped",
        datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds"),
        len(report.revoked),
        len(report.failed),
        len(report.deferred),
        len(report.dropped),
    )


def make_blueprint() -> Blueprint:
    """A fresh blueprint of the tasks (the revocation sweep is periodic). (procrastinate
    renames a blueprint's tasks when an app takes them, so each app gets its own.)"""
    blueprint = Blueprint()
    blueprint.task(name="sync_connection", queue=SYNC_QUEUE, pass_context=True, retry=SYNC_RETRY)(
        sync_connection
    )
    blueprint.task(
        name="process_webhook_event", queue=WEBHOOK_QUEUE, pass_context=True, retry=WEBHOOK_RETRY
    )(process_webhook_event)
    blueprint.task(
        name="revoke_tokens", queue=REVOCATION_QUEUE, pass_context=True, retry=SYNC_RETRY
    )(revoke_tokens)
    blueprint.task(name="fetch_streams", queue=STREAMS_QUEUE, pass_context=True, retry=SYNC_RETRY)(
        fetch_streams
    )
    # One sweep waiting at a time (queueing lock), whatever the number of workers.
    sweep = blueprint.task(
        name="sweep_revocations",
        queue=REVOCATION_QUEUE,
        pass_context=True,
        queueing_lock="sweep_revocations",
    )(sweep_revocations_job)
    blueprint.periodic(cron=REVOCATION_SWEEP_CRON, periodic_id="every-10-minutes")(sweep)
    return blueprint


#: The tasks, for introspection; :func:`build_app` gives every app a fresh copy.
tasks = make_blueprint()


def build_app(database_url: str) -> App:
    """A procrastinate App on ``database_url``, its connections on ``search_path=queue``."""
    app = App(
        connector=PsycopgConnector(
            conninfo=database_url, kwargs={"options": f"-c search_path={QUEUE_SCHEMA}"}
        )
    )
    app.add_tasks_from(make_blueprint(), namespace=NAMESPACE)
    return app


# --- queueing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnqueuedJob:
    job_id: int | None
    #: False when a job holding the same queueing lock was already waiting or running.
    queued: bool


def webhook_event_key(provider: str, event: WebhookEvent) -> str:
    """A stable key of one webhook event: a replay of the same event gives the same key (the
    arrival stamp :data:`RECEIVED_AT_KEY` is left out)."""
    canonical = json.dumps(
        {
            "provider": provider,
            "user": event.provider_user_id,
            "kind": event.kind,
            "object": event.object_id,
            "payload": {k: v for k, v in event.payload.items() if k != RECEIVED_AT_KEY},
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class JobQueue:
    """Queues the sync jobs through ``public.enqueue_job`` (either gateway transport)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def _enqueue(
        self, task_name: str, args: Mapping[str, Any], *, queue_name: str, queueing_lock: str
    ) -> EnqueuedJob:
        job_id, queued = db_jobs.enqueue_job(
            self.gateway,
            task_name=task_name,
            args=args,
            queue_name=queue_name,
            queueing_lock=queueing_lock,
        )
        return EnqueuedJob(job_id=job_id, queued=queued)

    def enqueue_sync(self, connection_id: int, trigger: SyncTrigger) -> EnqueuedJob:
        """Queue a sync of the connection, unless one is already waiting or running."""
        job = self._enqueue(
            SYNC_CONNECTION,
            {"connection_id": connection_id, "trigger": trigger},
            queue_name=SYNC_QUEUE,
            queueing_lock=f"sync_connection:{connection_id}",
        )
        logger.info(
            "sync of connection %s (%s) %s",
            connection_id,
            trigger,
            "queued" if job.queued else "already queued",
        )
        return job

    def enqueue_webhook_event(
        self, provider: str, connection_id: int, event: WebhookEvent
    ) -> EnqueuedJob:
        """Queue one webhook event; a replay of a waiting or running event is not queued. An
        access event (deauthorisation, permission change) is locked per connection and kind,
        whatever its content: one confirmation waiting at a time, however many are sent."""
        key = webhook_event_key(provider, event)
        lock = (
            f"webhook:{provider}:access:{connection_id}:{event.kind}"
            if event.kind in ACCESS_EVENT_KINDS
            else f"webhook:{provider}:{key}"
        )
        return self._enqueue(
            PROCESS_WEBHOOK_EVENT,
            {
                "provider": provider,
                "connection_id": connection_id,
                "event": {
                    "provider_user_id": event.provider_user_id,
                    "kind": event.kind,
                    "object_id": event.object_id,
                    "payload": dict(event.payload),
                    "key": key,
                },
            },
            queue_name=WEBHOOK_QUEUE,
            queueing_lock=lock,
        )

    def enqueue_streams(self, connection_id: int, *, at: datetime | None = None) -> EnqueuedJob:
        """Queue the connection's stream job (now, or at ``at``): one waiting at a time per
        connection and moment kind, never two running at once (procrastinate's ``lock``), at
        a lower priority than every sync and webhook job."""
        job_id, queued = db_jobs.enqueue_job(
            self.gateway,
            task_name=FETCH_STREAMS,
            args={"connection_id": connection_id},
            queue_name=STREAMS_QUEUE,
            queueing_lock=f"fetch_streams:{connection_id}" + (":later" if at is not None else ""),
            lock=f"fetch_streams:{connection_id}",
            priority=STREAMS_PRIORITY,
            scheduled_at=at,
        )
        return EnqueuedJob(job_id=job_id, queued=queued)
