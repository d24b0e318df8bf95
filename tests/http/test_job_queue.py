"""The job queue: installed by the migrations into the non-exposed schema ``queue``, fed by
``public.enqueue_job`` (service_role only), read back by procrastinate itself."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
import pytest

from tests.helpers import act_as_anon, act_as_service, act_as_user, create_auth_user
from trainlytics.db import migrations, queue_schema
from trainlytics.providers.base import WebhookEvent
from trainlytics.sync import jobs

Conn = psycopg.Connection[Any]


class ConnGateway:
    """The smallest gateway: ``select * from public.<fn>(name => value)`` on one connection."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def call(self, function: str, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        from psycopg import sql
        from psycopg.rows import dict_row
        from psycopg.types.json import Jsonb

        params = sql.SQL(", ").join(
            sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in args
        )
        query = sql.SQL("select * from public.{}({})").format(sql.Identifier(function), params)
        values = {k: Jsonb(v) if isinstance(v, dict) else v for k, v in args.items()}
        with self.conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, values).fetchall()


def test_the_queue_lives_in_a_schema_the_data_api_does_not_expose(db: Conn) -> None:
    assert queue_schema.queue_schema_installed(db)
    owner = db.execute(
        "select pg_get_userbyid(relowner) from pg_class"
        " where oid = 'queue.procrastinate_jobs'::regclass"
    ).fetchone()
    assert owner == (migrations.OWNER_ROLE,)
    exposed = migrations.REPO_ROOT.joinpath("supabase", "config.toml").read_text()
    assert '"queue"' not in exposed
    for role in ("anon", "authenticated"):
        usage = db.execute("select has_schema_privilege(%s, 'queue', 'usage')", [role]).fetchone()
        assert usage == (False,), role


def test_installing_again_is_a_no_op(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert queue_schema.install_queue_schema(conn, role=migrations.OWNER_ROLE) is False
        result = migrations.migrate(conn)
    assert result.applied == []
    assert result.queue_installed is False


@pytest.mark.parametrize("act", [act_as_anon, act_as_user])
def test_api_roles_cannot_enqueue_jobs(db: Conn, act: Any) -> None:
    db.execute("select 1")  # open the test transaction, so nothing below is committed
    user = create_auth_user(db, f"eve-{uuid.uuid4().hex}@example.com")
    if act is act_as_user:
        act(db, user)
    else:
        act(db)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("select * from public.enqueue_job('trainlytics:sync_connection', '{}')")


def test_service_role_queues_a_job_procrastinate_recognises(db: Conn, database_url: str) -> None:
    act_as_service(db)
    queue = jobs.JobQueue(ConnGateway(db))
    # Connection ids no other test uses: the session's database holds jobs that tests going
    # through the app committed (a completed connect queues its backfill).
    connection_id = 10**12 + secrets.randbelow(10**9)
    first = queue.enqueue_sync(connection_id, "initial")
    again = queue.enqueue_sync(connection_id, "webhook")
    other = queue.enqueue_sync(connection_id + 1, "initial")
    assert first.queued
    assert first.job_id is not None
    assert again == jobs.EnqueuedJob(first.job_id, queued=False)
    assert other.queued
    assert other.job_id != first.job_id
    row = db.execute(
        "select task_name, queue_name, args, status::text from queue.procrastinate_jobs"
        " where id = %s",
        [first.job_id],
    ).fetchone()
    assert row == (
        jobs.SYNC_CONNECTION,
        "sync",
        {"connection_id": connection_id, "trigger": "initial"},
        "todo",
    )
    app = jobs.build_app(database_url)
    assert jobs.SYNC_CONNECTION in app.tasks
    assert jobs.PROCESS_WEBHOOK_EVENT in app.tasks
    assert app.tasks[jobs.SYNC_CONNECTION].queue == "sync"


def test_a_replayed_webhook_event_is_queued_once(db: Conn) -> None:
    act_as_service(db)
    queue = jobs.JobQueue(ConnGateway(db))
    # An athlete, activity and connection of its own: the database holds the webhook jobs
    # that other tests of this directory committed through the app.
    athlete, activity = secrets.token_hex(8), str(secrets.randbelow(10**12))
    connection_id = 10**12 + secrets.randbelow(10**9)
    event = WebhookEvent(
        athlete, "activity_created", activity, {"object_id": activity, "aspect_type": "create"}
    )
    first = queue.enqueue_webhook_event("strava", connection_id, event)
    replay = queue.enqueue_webhook_event("strava", connection_id, event)
    different = queue.enqueue_webhook_event(
        "strava",
        connection_id,
        WebhookEvent(athlete, "activity_updated", activity, {"aspect_type": "update"}),
    )
    assert first.queued
    assert not replay.queued
    assert replay.job_id == first.job_id
    assert different.queued
    count = db.execute(
        "select count(*) from queue.procrastinate_jobs where task_name = %s"
        " and (args->>'connection_id')::bigint = %s",
        [jobs.PROCESS_WEBHOOK_EVENT, connection_id],
    ).fetchone()
    assert count == (2,)
