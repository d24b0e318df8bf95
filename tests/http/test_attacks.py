"""Issue 14 (HTTP side): each finding of the attack review, reproduced as its attack against
the real app, database and worker task — and refused.

Every test here was run once against the code before the fix and failed there (see the
CHANGELOG entry "Issue 14 — hardening (HTTP)"). Worker jobs are run by calling the queued
``process_webhook_event`` task, as ``trainlytics worker`` would, on the same providers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from tests.fakes import FAKES
from tests.fakes.fitbit import FakeFitbit
from tests.fakes.garmin import FakeGarmin
from tests.fakes.strava import FakeStrava
from tests.http.conftest import World, access_token
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.providers import PROVIDER_CLASSES
from trainlytics.sync import jobs
from trainlytics.sync.engine import SyncEngine

PROVIDERS = sorted(FAKES)


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _leave_no_webhook_jobs(world: World) -> Iterator[None]:
    """The suite's database is shared: jobs a test queued but did not run are removed, so
    other modules counting the queue see only their own."""
    yield
    with world.conn.transaction():  # procrastinate's triggers name tables unqualified
        world.conn.execute("set local search_path = queue")
        world.conn.execute(
            "delete from queue.procrastinate_jobs as j using public.provider_connections as pc"
            " where pc.id = (j.args->>'connection_id')::bigint and j.task_name = %s"
            " and pc.user_id = any(%s)",
            [jobs.PROCESS_WEBHOOK_EVENT, list(world.users.values())],
        )


def run_webhook_jobs(world: World) -> int:
    """Run every queued webhook job once, in order, as the worker would; returns how many."""
    rows = world.conn.execute(
        "select j.id, j.args from queue.procrastinate_jobs as j"
        " join public.provider_connections as pc on pc.id = (j.args->>'connection_id')::bigint"
        " where j.task_name = %s and j.status = 'todo' and pc.user_id = any(%s) order by j.id",
        [jobs.PROCESS_WEBHOOK_EVENT, list(world.users.values())],
    ).fetchall()
    gateway = world.deps.store.gateway
    assert isinstance(gateway, PsycopgGateway)
    engine = SyncEngine(gateway, world.deps.tokens, world.deps.providers)
    context: Any = SimpleNamespace(additional_context={"engine": engine})
    for job_id, args in rows:
        jobs.process_webhook_event(context, **args)
        with world.conn.transaction():  # procrastinate's triggers name tables unqualified
            world.conn.execute("set local search_path = queue")
            world.conn.execute("delete from queue.procrastinate_jobs where id = %s", [job_id])
    return len(rows)


def connection_of(world: World, provider: str, label: str = "alice") -> int:
    return int(
        world.one(
            "select id from public.provider_connections where user_id = %s and provider = %s",
            [world.user(label), provider],
        )
    )


def status_of(world: World, connection_id: int) -> str:
    return str(
        world.one(
            "select status::text from public.provider_connections where id = %s",
            [connection_id],
        )
    )


def add_activity(world: World, provider: str, connection_id: int, external_id: str) -> None:
    world.conn.execute(
        "insert into public.activities (user_id, connection_id, provider, source, external_id,"
        " start_date, is_manual) values (%s, %s, %s, 'provider', %s, now(), false)",
        [world.user("alice"), connection_id, provider, external_id],
    )


def activities_of(world: World, connection_id: int) -> int:
    return int(
        world.one(
            "select count(*) from public.activities where connection_id = %s", [connection_id]
        )
    )


def post(world: World, provider: str, body: bytes, headers: dict[str, str]) -> Any:
    return world.client.post(f"/webhooks/{provider}", content=body, headers=headers)


def strava_deauthorization(fake: FakeStrava) -> bytes:
    return json.dumps(fake.webhook_event("deauthorized")).encode()


JSON = {"content-type": "application/json"}


# --- 1. Strava deauthorisation is confirmed with Strava before anything is deleted ------------


def test_a_forged_strava_deauthorization_deletes_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The attacker knows the subscription id (it was found by counting) and the athlete's
    Strava id; the athlete did NOT deauthorise: Strava still accepts their token."""
    fake = world.fakes["strava"]
    assert isinstance(fake, FakeStrava)
    world.connect("strava")
    connection_id = connection_of(world, "strava")
    add_activity(world, "strava", connection_id, "9001")
    caplog.set_level(logging.INFO)

    response = post(world, "strava", strava_deauthorization(fake), JSON)
    assert response.status_code == 200
    assert activities_of(world, connection_id) == 1  # nothing happens in the request
    assert run_webhook_jobs(world) == 1
    assert activities_of(world, connection_id) == 1
    assert status_of(world, connection_id) == "active"
    assert "NOT confirmed" in caplog.text


def test_a_flood_of_forged_deauthorizations_queues_one_check_per_connection(
    world: World,
) -> None:
    """Each forged event differs (event_time), but only one confirmation per connection waits
    in the queue: the attacker cannot make the worker spend the Strava budget per request."""
    fake = world.fakes["strava"]
    assert isinstance(fake, FakeStrava)
    world.connect("strava")
    for offset in range(20):
        event = fake.webhook_event("deauthorized")
        event["event_time"] += offset
        assert post(world, "strava", json.dumps(event).encode(), JSON).status_code == 200
    before = fake.requests.copy()
    assert run_webhook_jobs(world) == 1
    athlete_reads = [r for r in fake.requests[len(before) :] if r.url.path == "/api/v3/athlete"]
    assert len(athlete_reads) == 1


@pytest.mark.parametrize("state", ["active", "error", "revoked"])
def test_a_genuine_strava_deauthorization_deletes_the_data_whatever_the_connection_state(
    world: World, state: str
) -> None:
    """Strava's API agreement requires deleting the athlete's Strava data when they
    deauthorise — also when our connection is in error, or already revoked because Strava
    refused its refresh token."""
    fake = world.fakes["strava"]
    assert isinstance(fake, FakeStrava)
    world.connect("strava")
    connection_id = connection_of(world, "strava")
    add_activity(world, "strava", connection_id, "9002")
    fake.athlete_deauthorizes_at_strava()
    if state == "error":
        world.conn.execute(
            "update public.provider_connections set status = 'error', last_error = 'x'"
            " where id = %s",
            [connection_id],
        )
    elif state == "revoked":
        world.deps.store.mark_revoked(connection_id, "the refresh token was refused")

    response = post(world, "strava", strava_deauthorization(fake), JSON)
    assert response.status_code == 200
    assert activities_of(world, connection_id) == 1  # confirmed in the worker, not here
    assert run_webhook_jobs(world) == 1
    assert activities_of(world, connection_id) == 0
    assert status_of(world, connection_id) == "disconnected"
    assert (
        world.one(
            "select count(*) from private.provider_tokens where connection_id = %s",
            [connection_id],
        )
        == 0
    )


def test_guessing_the_strava_subscription_id_is_rate_limited_and_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    fake = world.fakes["strava"]
    assert isinstance(fake, FakeStrava)
    world.connect("strava")
    caplog.set_level(logging.INFO)
    right = int(fake.credentials.extra["SUBSCRIPTION_ID"])
    statuses = []
    for guess in range(1, 13):
        event = fake.webhook_event("deauthorized", subscription_id=str(right + guess))
        statuses.append(post(world, "strava", json.dumps(event).encode(), JSON).status_code)
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    # Once over the limit, even the right id is not checked for this sender: counting stops.
    assert post(world, "strava", strava_deauthorization(fake), JSON).status_code == 429
    rejected = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejected) == 10
    assert "(10 failures in the last 60 s)" in rejected[-1]
    assert "too many failed verifications" in caplog.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (
        str(right),
        fake.credentials.webhook_secret or "-",
        fake.credentials.client_secret,
    ):
        assert secret not in logged


# --- 2. is in tests/http/test_oauth_state.py (account-linking CSRF) ---------------------------


# --- 3. Garmin: nothing unverified writes or deletes athlete data --------------------------------


def garmin_headers(fake: FakeGarmin) -> dict[str, str]:
    # The public client id: it is in every authorize URL, so an attacker has it too.
    return {**JSON, "garmin-client-id": fake.credentials.client_id}


def test_a_forged_garmin_push_writes_nothing(world: World) -> None:
    fake = world.fakes["garmin"]
    assert isinstance(fake, FakeGarmin)
    world.connect("garmin")
    connection_id = connection_of(world, "garmin")
    body = fake.webhook_body("activity_pushed")
    body["activities"][0]["activityName"] = "Marathon PR"
    response = post(world, "garmin", json.dumps(body).encode(), garmin_headers(fake))
    assert response.status_code == 200  # acknowledged, so Garmin does not retry it
    run_webhook_jobs(world)
    assert activities_of(world, connection_id) == 0


def test_a_garmin_ping_is_fetched_from_garmin_and_ingested(world: World) -> None:
    fake = world.fakes["garmin"]
    assert isinstance(fake, FakeGarmin)
    world.connect("garmin")
    connection_id = connection_of(world, "garmin")
    now = int(time.time())
    fake.add_activity(77, now - 4000, uploaded_at=now - 60)
    body = json.dumps(fake.ping_body(now - 3600, now)).encode()
    assert post(world, "garmin", body, garmin_headers(fake)).status_code == 200
    assert run_webhook_jobs(world) == 1
    assert activities_of(world, connection_id) == 1
    assert fake.requests[-1].url.host == "apis.garmin.com"


def test_a_replayed_garmin_ping_is_queued_once(world: World) -> None:
    """Garmin retries a notification it thinks failed; the arrival stamp is not part of the
    event's identity, so a replay a second later is not queued (nor fetched) again."""
    fake = world.fakes["garmin"]
    assert isinstance(fake, FakeGarmin)
    world.connect("garmin")
    body = json.dumps(fake.ping_body(0, 3600)).encode()
    assert post(world, "garmin", body, garmin_headers(fake)).status_code == 200
    time.sleep(1.1)
    assert post(world, "garmin", body, garmin_headers(fake)).status_code == 200
    assert run_webhook_jobs(world) == 1


def test_a_forged_garmin_ping_naming_another_host_is_refused(world: World) -> None:
    fake = world.fakes["garmin"]
    assert isinstance(fake, FakeGarmin)
    world.connect("garmin")
    body = fake.ping_body(0, 1)
    body["activities"][0]["callbackURL"] = "https://evil.test/wellness-api/rest/activities?t=1"
    response = post(world, "garmin", json.dumps(body).encode(), garmin_headers(fake))
    assert response.status_code == 400
    assert run_webhook_jobs(world) == 0


def test_a_forged_garmin_deregistration_revokes_nothing(world: World) -> None:
    fake = world.fakes["garmin"]
    assert isinstance(fake, FakeGarmin)
    world.connect("garmin")
    connection_id = connection_of(world, "garmin")
    body = json.dumps(fake.webhook_body("deauthorized")).encode()
    assert post(world, "garmin", body, garmin_headers(fake)).status_code == 200
    assert status_of(world, connection_id) == "active"
    run_webhook_jobs(world)
    assert status_of(world, connection_id) == "active"


def test_a_genuine_garmin_deregistration_revokes_after_garmin_confirms(world: World) -> None:
    fake = world.fakes["garmin"]
    assert isinstance(fake, FakeGarmin)
    world.connect("garmin")
    connection_id = connection_of(world, "garmin")
    fake.athlete_removes_the_app()
    body = json.dumps(fake.webhook_body("deauthorized")).encode()
    assert post(world, "garmin", body, garmin_headers(fake)).status_code == 200
    assert status_of(world, connection_id) == "active"
    assert run_webhook_jobs(world) == 1
    assert status_of(world, connection_id) == "revoked"


@pytest.mark.parametrize("withdrawn", [False, True])
def test_a_garmin_permission_change_counts_only_as_garmin_reports_it(
    world: World, withdrawn: bool
) -> None:
    """The body claims ACTIVITY_EXPORT was withdrawn; only Garmin's own
    /user/permissions (asked with the athlete's token) decides."""
    fake = world.fakes["garmin"]
    assert isinstance(fake, FakeGarmin)
    world.connect("garmin")
    connection_id = connection_of(world, "garmin")
    if withdrawn:
        fake.permissions = [p for p in fake.permissions if p != "ACTIVITY_EXPORT"]
    body = json.dumps(fake.webhook_body("permissions_changed")).encode()
    assert post(world, "garmin", body, garmin_headers(fake)).status_code == 200
    assert run_webhook_jobs(world) == 1
    # A confirmed withdrawal of one permission is not a deauthorisation (issue 13): the new
    # scopes are stored, the connection shows the error, the tokens stay.
    assert status_of(world, connection_id) == ("error" if withdrawn else "active")
    scopes = world.one(
        "select scopes from public.provider_connections where id = %s", [connection_id]
    )
    assert ("ACTIVITY_EXPORT" in scopes) is not withdrawn
    assert (
        world.one(
            "select count(*) from private.provider_tokens where connection_id = %s", [connection_id]
        )
        == 1
    )
    if withdrawn:
        last_error = world.one(
            "select last_error from public.provider_connections where id = %s", [connection_id]
        )
        assert "ACTIVITY_EXPORT" in last_error
        # Granted back in Garmin Connect: Garmin says so, the connection is active again.
        fake.permissions = [*fake.permissions, "ACTIVITY_EXPORT"]
        body = json.dumps(fake.webhook_body("permissions_changed")).encode()
        assert post(world, "garmin", body, garmin_headers(fake)).status_code == 200
        assert run_webhook_jobs(world) == 1
        assert status_of(world, connection_id) == "active"
        assert (
            world.one(
                "select last_error from public.provider_connections where id = %s",
                [connection_id],
            )
            is None
        )


def test_a_garmin_user_id_with_a_newline_cannot_forge_a_log_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    fake = world.fakes["garmin"]
    assert isinstance(fake, FakeGarmin)
    caplog.set_level(logging.INFO)
    forged_id = "x\nCRITICAL trainlytics.sync.webhooks: admin password reset\r\x1b[2J"
    body = {
        "deregistrations": [{"userId": forged_id}],
        "activities": [
            {**fake.webhook_body("activity_pushed")["activities"][0], "userId": forged_id}
        ],
    }
    response = post(world, "garmin", json.dumps(body).encode(), garmin_headers(fake))
    assert response.status_code == 200
    mentioning = [r.getMessage() for r in caplog.records if "admin password" in r.getMessage()]
    assert len(mentioning) >= 2  # the ignored push and the unknown deregistration
    for message in mentioning:
        assert "\n" not in message
        assert "\r" not in message
        assert "\x1b" not in message
        assert "x\\nCRITICAL" in message


# --- 8. webhook bodies: size capped before reading, depth capped, never a 500 -----------------


def _signed_for(world: World, provider: str, body: bytes) -> dict[str, str]:
    """Headers that pass ``provider``'s verification for ``body`` (or that it checks only
    after parsing: Strava and Wahoo authenticate by a value inside the body)."""
    headers, _, _ = world.fakes[provider].signed_webhook()
    if provider == "polar":
        secret = world.fakes[provider].credentials.webhook_secret
        assert secret
        headers = {
            **headers,
            "polar-webhook-signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        }
    if provider == "fitbit":
        fake = world.fakes[provider]
        assert isinstance(fake, FakeFitbit)
        headers = {**headers, "x-healthapi-signature": fake.sign(body)}  # Google's signature
    return headers


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_oversized_webhook_body_gets_413(world: World, provider: str) -> None:
    cap = PROVIDER_CLASSES[provider].max_webhook_body_bytes
    body = b'{"x": "' + b"a" * cap + b'"}'
    response = post(world, provider, body, _signed_for(world, provider, body))
    assert response.status_code == 413
    assert response.json() == {"detail": "webhook body too large"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_deeply_nested_webhook_json_is_a_400_not_a_500(world: World, provider: str) -> None:
    cap = PROVIDER_CLASSES[provider].max_webhook_body_bytes
    depth = min(200_000, (cap - 16) // 2)
    body = b"[" * depth + b"]" * depth
    response = post(world, provider, body, _signed_for(world, provider, body))
    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "malformed webhook body"}


def test_two_hundred_thousand_deep_json_is_a_400_with_one_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake = world.fakes["garmin"]
    assert isinstance(fake, FakeGarmin)
    body = b'{"activities": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    response = post(world, "garmin", body, garmin_headers(fake))
    assert response.status_code == 400
    assert response.json() == {"detail": "malformed webhook body"}
    errors = [r for r in caplog.records if r.name.startswith("trainlytics")]
    assert all(r.exc_info is None for r in errors)
    assert any("malformed body" in r.getMessage() for r in errors)


def test_a_signed_body_is_verified_before_it_is_parsed(world: World) -> None:
    """Polar signs the body (HMAC-SHA256): a wrongly signed, pathologically nested body is
    refused as forged (401) without being parsed (which would answer 400)."""
    body = b"[" * 200_000 + b"]" * 200_000
    headers, _, _ = world.fakes["polar"].forged_webhook()
    response = post(world, "polar", body, headers)
    assert response.status_code == 401


def test_a_webhook_body_is_read_only_up_to_the_cap() -> None:
    """A streamed body without a Content-Length is read chunk by chunk and dropped at the cap:
    memory stays bounded whatever the sender streams."""
    from trainlytics.api.app import _read_body_capped  # here, so the module imports on old code

    chunk = b"x" * 65536
    sent = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        sent += 1
        return {"type": "http.request", "body": chunk, "more_body": True}  # endless

    scope = {"type": "http", "method": "POST", "headers": [], "path": "/webhooks/garmin"}
    request = Request(scope, receive)
    assert asyncio.run(_read_body_capped(request, 1024 * 1024)) is None
    assert sent == 1024 * 1024 // len(chunk) + 1

    declared = Request({**scope, "headers": [(b"content-length", str(10**9).encode())]}, receive)
    sent = 0
    assert asyncio.run(_read_body_capped(declared, 1024 * 1024)) is None
    assert sent == 0  # refused on the declared length, nothing read


# --- 12 (HTTP). A 400 never carries a database error's text -----------------------------------


def test_a_deleted_users_token_gets_a_400_without_database_text(world: World) -> None:
    ghost = uuid.uuid4()  # a valid signature, but the user no longer exists
    response = world.client.post(
        "/connections/strava/start",
        headers={"Authorization": f"Bearer {access_token(ghost)}"},
    )
    assert response.status_code in (400, 401)
    text = response.text.lower()
    for leak in ("violates", "foreign key", "oauth_states", "constraint", "relation", "insert"):
        assert leak not in text, response.text
