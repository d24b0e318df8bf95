"""Faults the per-connection revocation job cannot handle alone (integration fixes after issue
14): a job lost or never queued, a provider this server is not configured for, an attempt
budget spent. Each runs the real worker (procrastinate) or the worker's code against the fakes
of tests/fakes, on the committed database of tests/http."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import httpx
import pytest
from procrastinate.exceptions import AlreadyEnqueued

from tests.fakes import FAKES
from tests.helpers import act_as_user
from tests.http.conftest import World
from trainlytics.connections.revocation import sweep_revocations
from trainlytics.sync import jobs
from trainlytics.sync.engine import SyncEngine

PROVIDERS = sorted(FAKES)
PROVIDER = "polar" if "polar" in FAKES else PROVIDERS[0]


def _disconnect_through_the_data_api(world: World, provider: str) -> int:
    """Connect ``provider`` for Alice, then disconnect as she may, through the Data API."""
    assert world.connect(provider)["status"] == "connected"
    user = world.user("alice")
    connection_id = int(
        world.one(
            "select id from public.provider_connections where user_id = %s and provider = %s",
            [user, provider],
        )
    )
    with world.conn.transaction():
        act_as_user(world.conn, user)
        world.conn.execute(
            "update public.provider_connections set status = 'disconnected' where id = %s",
            [connection_id],
        )
    return connection_id


def _queued(world: World, connection_id: int) -> Any:
    return world.one(
        "select attempts from private.token_revocations where connection_id = %s",
        [connection_id],
    )


def _run_revocation_worker(world: World) -> None:
    engine = SyncEngine(world.deps.store.gateway, world.deps.tokens, world.deps.providers)
    jobs.build_app(world.database_url).run_worker(
        queues=[jobs.REVOCATION_QUEUE],
        wait=False,
        install_signal_handlers=False,
        additional_context={"engine": engine},
    )


def test_the_revocation_sweep_is_a_periodic_task_of_every_worker() -> None:
    app = jobs.build_app("postgresql://unused/none")
    periodic = {
        task_name: (entry.cron, entry.task.queue)
        for (task_name, _), entry in app.periodic_registry.periodic_tasks.items()
    }
    assert periodic == {jobs.SWEEP_REVOCATIONS: ("*/10 * * * *", jobs.REVOCATION_QUEUE)}


@pytest.mark.parametrize("fault", ["job_lost", "job_out_of_retries"])
def test_tokens_whose_revocation_job_was_lost_are_revoked_by_the_periodic_sweep(
    world: World, fault: str
) -> None:
    connection_id = _disconnect_through_the_data_api(world, PROVIDER)
    if fault == "job_lost":
        # As if the job queue was not installed at disconnect time (no job is queued then).
        world.conn.execute(
            "delete from queue.procrastinate_jobs where task_name = %s"
            " and (args->>'connection_id')::bigint = %s",
            [jobs.REVOKE_TOKENS, connection_id],
        )
    else:
        world.conn.execute(
            "update queue.procrastinate_jobs set status = 'failed' where task_name = %s"
            " and (args->>'connection_id')::bigint = %s",
            [jobs.REVOKE_TOKENS, connection_id],
        )
    assert _queued(world, connection_id) == 0

    # The periodic job, as a worker's deferrer queues it (unless one is already waiting: one
    # sweep at a time), revokes it.
    app = jobs.build_app(world.database_url)
    with app.open(), contextlib.suppress(AlreadyEnqueued):
        app.configure_task(jobs.SWEEP_REVOCATIONS).defer(timestamp=int(time.time()))
    _run_revocation_worker(world)

    assert _queued(world, connection_id) is None
    assert world.fakes[PROVIDER].revocations == 1
    assert (
        world.one(
            "select status::text from queue.procrastinate_jobs where task_name = %s"
            " order by id desc limit 1",
            [jobs.SWEEP_REVOCATIONS],
        )
        == "succeeded"
    )


def test_a_provider_not_configured_on_this_server_spends_no_attempt_and_is_logged_each_sweep(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    connection_id = _disconnect_through_the_data_api(world, PROVIDER)
    misconfigured = {n: p for n, p in world.deps.providers.items() if n != PROVIDER}
    caplog.set_level(logging.INFO, logger="trainlytics")
    for sweep in range(1, 8):  # more sweeps than the attempt budget (5)
        caplog.clear()
        report = sweep_revocations(world.deps.store, world.deps.cipher, misconfigured)
        assert connection_id in report.deferred, f"sweep {sweep}"
        assert connection_id not in report.dropped
        assert _queued(world, connection_id) == 0, f"sweep {sweep} counted an attempt"
        lines = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and "cannot be attempted" in r.getMessage()
        ]
        assert len(lines) == 1, lines
        assert f"{PROVIDER.upper()}_CLIENT_ID" in lines[0]
        assert str(connection_id) in lines[0]
    assert world.fakes[PROVIDER].revocations == 0

    # Once the operator configures the provider, the next sweep revokes.
    report = sweep_revocations(world.deps.store, world.deps.cipher, world.deps.providers)
    assert connection_id in report.revoked
    assert _queued(world, connection_id) is None
    assert world.fakes[PROVIDER].revocations == 1


def test_the_per_connection_job_does_not_retry_an_operator_error(world: World) -> None:
    connection_id = _disconnect_through_the_data_api(world, PROVIDER)
    misconfigured = {n: p for n, p in world.deps.providers.items() if n != PROVIDER}
    tokens = world.deps.tokens
    original = tokens.providers
    tokens.providers = misconfigured
    try:
        _run_revocation_worker(world)
    finally:
        tokens.providers = original
    assert _queued(world, connection_id) == 0  # kept, no attempt counted: the sweep will log it
    assert (
        world.one(
            "select status::text from queue.procrastinate_jobs where task_name = %s"
            " and (args->>'connection_id')::bigint = %s",
            [jobs.REVOKE_TOKENS, connection_id],
        )
        == "succeeded"
    )


def test_tokens_are_dropped_with_one_error_line_when_the_attempt_budget_is_spent(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    connection_id = _disconnect_through_the_data_api(world, PROVIDER)
    fake = world.fakes[PROVIDER]
    fake.handle = lambda request: httpx.Response(503)  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, logger="trainlytics")
    for attempt in range(1, 5):
        report = sweep_revocations(world.deps.store, world.deps.cipher, world.deps.providers)
        assert connection_id in report.failed
        assert _queued(world, connection_id) == attempt
    caplog.clear()
    report = sweep_revocations(world.deps.store, world.deps.cipher, world.deps.providers)

    assert connection_id in report.dropped
    assert _queued(world, connection_id) is None
    dropped = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and f"connection {connection_id} " in r.getMessage()
    ]
    assert len(dropped) == 1, dropped
    assert "deleted unrevoked" in dropped[0]
    assert "after 5 attempt(s)" in dropped[0]


def test_ciphertext_is_dropped_30_days_after_the_disconnect_even_when_never_attemptable(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    connection_id = _disconnect_through_the_data_api(world, PROVIDER)
    world.conn.execute(
        "update private.token_revocations set requested_at = now() - interval '31 days'"
        " where connection_id = %s",
        [connection_id],
    )
    misconfigured = {n: p for n, p in world.deps.providers.items() if n != PROVIDER}
    caplog.set_level(logging.INFO, logger="trainlytics")

    report = sweep_revocations(world.deps.store, world.deps.cipher, misconfigured)

    assert connection_id in report.dropped
    assert _queued(world, connection_id) is None
    assert [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and f"connection {connection_id} " in r.getMessage()
    ] != []
