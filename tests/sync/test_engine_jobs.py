"""The job tasks run the engine: one sync at a time per connection, webhook events ingested and
deleted, transient failures retried with backoff, permanent ones not."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from tests.sync.engine_support import (
    StravaListServer,
    admin,
    history,
    make_engine,
    new_connection,
    pool,
    stored_ids,
    sync_database_url,
)
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.errors import ProviderUnavailableError, TokenRevokedError
from trainlytics.providers.base import WebhookEvent
from trainlytics.sync import jobs

__all__ = ["admin", "pool", "sync_database_url"]

Conn = psycopg.Connection[Any]


def _work(database_url: str, engine: Any) -> None:
    app = jobs.build_app(database_url)
    app.run_worker(
        queues=["sync", "webhooks"],
        wait=False,
        install_signal_handlers=False,
        additional_context={"engine": engine},
    )


def _jobs(admin: Conn, task: str, connection_id: int) -> list[str]:
    return [
        str(r[0])
        for r in admin.execute(
            "select status::text from queue.procrastinate_jobs where task_name = %s"
            " and (args->>'connection_id')::bigint = %s order by id",
            [task, connection_id],
        ).fetchall()
    ]


def test_sync_job_runs_once_per_connection_and_webhook_jobs_apply_events(
    pool: ConnectionPool[Any], admin: Conn, sync_database_url: str
) -> None:
    server = StravaListServer()
    server.add(*range(1, 401))
    connection_id = new_connection(admin, server.fake.provider_user_id)
    queue = jobs.JobQueue(PsycopgGateway(pool, role="service_role"))
    assert queue.enqueue_sync(connection_id, "initial").queued
    assert not queue.enqueue_sync(connection_id, "manual").queued  # one at a time
    engine = make_engine(pool, server)
    _work(sync_database_url, engine)
    assert _jobs(admin, jobs.SYNC_CONNECTION, connection_id) == ["succeeded"]
    assert stored_ids(admin, connection_id) == list(range(1, 401))

    user = server.fake.provider_user_id
    server.add(900)
    del server.activities[5]  # deleted at Strava: the delete event is confirmed by its 404
    queue.enqueue_webhook_event(
        "strava", connection_id, WebhookEvent(user, "activity_created", "900", {"a": 1})
    )
    queue.enqueue_webhook_event(
        "strava", connection_id, WebhookEvent(user, "activity_deleted", "5", {"a": 2})
    )
    _work(sync_database_url, engine)
    assert _jobs(admin, jobs.PROCESS_WEBHOOK_EVENT, connection_id) == ["succeeded"] * 2
    ids = stored_ids(admin, connection_id)
    assert 900 in ids
    assert 5 not in ids
    assert [r["sync_trigger"] for r in history(admin, connection_id)] == [
        "initial",
        "webhook",
        "webhook",
    ]


def test_transient_failures_are_retried_later_permanent_ones_are_not(
    pool: ConnectionPool[Any], admin: Conn, sync_database_url: str
) -> None:
    server = StravaListServer()
    server.add(1, 2)
    server.faults[0] = "5xx"
    transient = new_connection(admin, server.fake.provider_user_id)
    queue = jobs.JobQueue(PsycopgGateway(pool, role="service_role"))
    queue.enqueue_sync(transient, "scheduled")
    _work(sync_database_url, make_engine(pool, server))
    row = admin.execute(
        "select status::text, scheduled_at > now() from queue.procrastinate_jobs"
        " where (args->>'connection_id')::bigint = %s",
        [transient],
    ).fetchone()
    assert row == ("todo", True)  # back in the queue, after a backoff

    class Revoked:
        def valid_tokens(self, connection_id: int) -> Any:
            raise TokenRevokedError("strava", "the refresh token was refused")

    revoked = new_connection(admin)
    engine = make_engine(pool, server)
    engine.tokens = Revoked()
    queue.enqueue_sync(revoked, "scheduled")
    _work(sync_database_url, engine)
    assert _jobs(admin, jobs.SYNC_CONNECTION, revoked) == ["failed"]
    (run,) = history(admin, revoked)
    assert run["sync_status"] == "failed"
    assert run["error_details"]["transient"] is False


def test_retry_strategy_waits_for_rate_limits() -> None:
    from datetime import UTC, datetime

    from trainlytics.errors import RateLimitedError

    class FakeJob:
        attempts = 0

    decision = jobs.SYNC_RETRY.get_retry_decision(
        exception=RateLimitedError("strava", "429", retry_after=600),
        job=FakeJob(),  # type: ignore[arg-type]
    )
    assert decision is not None
    assert decision.retry_at is not None
    assert (decision.retry_at - datetime.now(UTC)).total_seconds() > 590
    assert (
        jobs.SYNC_RETRY.get_retry_decision(
            exception=TokenRevokedError("strava", "no"),
            job=FakeJob(),  # type: ignore[arg-type]
        )
        is None
    )
    assert jobs.SYNC_RETRY.get_retry_decision(
        exception=ProviderUnavailableError("strava", "502"),
        job=FakeJob(),  # type: ignore[arg-type]
    )
