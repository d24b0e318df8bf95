"""Polar activity fetching: GET /v3/exercises (the whole 30-day set in one unpaged answer) and
the exercise of an EXERCISE webhook, through MockTransport only — a scripted transport for the
error statuses and the fake AccessLink (tests/fakes/polar.py) for the end-to-end paths.
Payloads: tests/fixtures/providers/polar/activities."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.polar import FakePolar
from tests.providers.provider_support import ScriptedRecorder as Recorder
from trainlytics.errors import (
    BadPayloadError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    TokenRevokedError,
)
from trainlytics.providers.base import (
    ProviderCredentials,
    SyncWindow,
    TokenSet,
    WebhookEvent,
    WebhookRequest,
)
from trainlytics.providers.polar import EXERCISES_URL, PolarProvider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "polar" / "activities"
ACCESS = "polar-fixture-access-8c1e7b"
USER_ID = "48112734"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = SyncWindow(start=NOW - timedelta(days=30), end=NOW)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_provider(handler: Callable[[httpx.Request], httpx.Response]) -> PolarProvider:
    credentials = ProviderCredentials(
        client_id="polar-client-4711",
        client_secret="polar-client-secret-fetch",  # noqa: S106 - test value
        redirect_uri="https://api.trainlytics.test/oauth/polar/callback",
        webhook_secret="polar-webhook-secret-fetch",  # noqa: S106 - test value
    )
    return PolarProvider(credentials, httpx.Client(transport=httpx.MockTransport(handler)))


def tokens(access: str = ACCESS, user_id: str = USER_ID) -> TokenSet:
    return TokenSet(access_token=access, provider_user_id=user_id)


def exercise_event(entity_id: str, url: str | None) -> WebhookEvent:
    payload: dict[str, Any] = {
        "event": "EXERCISE",
        "user_id": int(USER_ID),
        "entity_id": entity_id,
        "timestamp": "2026-11-25T08:21:00.000Z",
    }
    if url is not None:
        payload["url"] = url
    return WebhookEvent(USER_ID, "activity_created", entity_id, payload)


# --- the list -------------------------------------------------------------------------------------


def test_the_initial_backfill_reaches_back_thirty_days() -> None:
    assert PolarProvider.backfill_horizon == timedelta(days=30)
    assert PolarProvider.max_window is None


def test_list_returns_every_exercise_verbatim_in_one_call() -> None:
    body = fixture("exercises.json")
    recorder = Recorder(httpx.Response(200, json=body))
    page = make_provider(recorder).fetch_activities(tokens(), WINDOW, None)
    assert list(page.items) == body  # untouched: the SQL normaliser reads the raw shape
    assert page.next_cursor is None
    assert page.api_calls == 1
    assert page.deleted_external_ids == ()
    (sent,) = recorder.requests
    assert (sent.method, str(sent.url)) == ("GET", EXERCISES_URL)
    assert sent.headers["authorization"] == f"Bearer {ACCESS}"
    assert sent.headers["accept"] == "application/json"


def test_list_ignores_the_window_because_polar_lists_by_upload_time() -> None:
    # An exercise started before the window but uploaded inside it must not be lost.
    body = fixture("exercises.json")
    narrow = SyncWindow(start=datetime(2026, 11, 24, tzinfo=UTC), end=NOW)
    page = make_provider(Recorder(httpx.Response(200, json=body))).fetch_activities(
        tokens(), narrow, None
    )
    assert len(page.items) == 3


def test_an_empty_answer_and_a_204_are_empty_pages() -> None:
    for answer in (httpx.Response(200, json=[]), httpx.Response(204)):
        page = make_provider(Recorder(answer)).fetch_activities(tokens(), WINDOW, None)
        assert (list(page.items), page.next_cursor) == ([], None)


def test_malformed_items_are_passed_on_for_the_ingest_to_report() -> None:
    body = [fixture("exercise_detail.json"), "garbage", {"id": 7}]
    page = make_provider(Recorder(httpx.Response(200, json=body))).fetch_activities(
        tokens(), WINDOW, None
    )
    assert list(page.items) == body


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(401), TokenRevokedError),
        (httpx.Response(403), TokenRevokedError),  # mandatory consents not accepted
        (httpx.Response(404), ProviderError),
        (httpx.Response(500), ProviderUnavailableError),
        (httpx.Response(503), ProviderUnavailableError),
        (httpx.Response(429, headers={"Retry-After": "120"}), RateLimitedError),
        (httpx.Response(200, content=b"<html>maintenance</html>"), BadPayloadError),
        (httpx.Response(200, json={"exercises": []}), BadPayloadError),
        (httpx.ReadTimeout("slow"), ProviderUnavailableError),
        (httpx.ConnectError("refused"), ProviderUnavailableError),
    ],
)
def test_list_failures_raise_the_matching_error_without_the_token(
    answer: httpx.Response | Exception, error: type[Exception]
) -> None:
    provider = make_provider(Recorder(answer))
    with pytest.raises(error) as raised:
        provider.fetch_activities(tokens(), WINDOW, None)
    assert ACCESS not in str(raised.value)
    if isinstance(raised.value, RateLimitedError):
        assert raised.value.retry_after == 120.0
    if isinstance(raised.value, TokenRevokedError) and raised.value.status_code == 403:
        assert "consents" in str(raised.value)


# --- webhook events -------------------------------------------------------------------------------


def test_exercise_event_fetches_the_url_it_names() -> None:
    exercise = fixture("exercise_detail.json")
    recorder = Recorder(httpx.Response(200, json=exercise))
    event = exercise_event("aQlC83", f"{EXERCISES_URL}/aQlC83")
    page = make_provider(recorder).fetch_for_event(tokens(), event)
    assert list(page.items) == [exercise]
    assert page.api_calls == 1
    (sent,) = recorder.requests
    assert str(sent.url) == f"{EXERCISES_URL}/aQlC83"
    assert sent.headers["authorization"] == f"Bearer {ACCESS}"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v3/exercises/aQlC83",
        "http://www.polaraccesslink.com/v3/exercises/aQlC83",
        "https://www.polaraccesslink.com/v3/users/48112734",
        "https://www.polaraccesslink.com/v3/exercises/OTHER",
        "https://www.polaraccesslink.com:8443/v3/exercises/aQlC83",
        "not a url at all",
        None,
    ],
)
def test_exercise_event_never_sends_the_token_anywhere_but_accesslink(url: str | None) -> None:
    recorder = Recorder(httpx.Response(200, json=fixture("exercise_detail.json")))
    make_provider(recorder).fetch_for_event(tokens(), exercise_event("aQlC83", url))
    (sent,) = recorder.requests
    assert str(sent.url) == f"{EXERCISES_URL}/aQlC83"


def test_an_exercise_that_is_gone_gives_an_empty_page() -> None:
    for status in (404, 204):
        page = make_provider(Recorder(httpx.Response(status))).fetch_for_event(
            tokens(), exercise_event("gone01", f"{EXERCISES_URL}/gone01")
        )
        assert list(page.items) == []


def test_exercise_event_errors() -> None:
    with pytest.raises(TokenRevokedError):
        make_provider(Recorder(httpx.Response(401))).fetch_for_event(
            tokens(), exercise_event("aQlC83", None)
        )
    with pytest.raises(BadPayloadError):
        make_provider(Recorder(httpx.Response(200, json=[1]))).fetch_for_event(
            tokens(), exercise_event("aQlC83", None)
        )


def test_events_without_an_exercise_fetch_nothing() -> None:
    recorder = Recorder()
    provider = make_provider(recorder)
    for event in (
        WebhookEvent(USER_ID, "deauthorized", None, {}),
        WebhookEvent(USER_ID, "activity_created", None, {"event": "EXERCISE"}),
    ):
        page = provider.fetch_for_event(tokens(), event)
        assert (list(page.items), page.api_calls) == ([], 0)
    assert recorder.requests == []


# --- against the fake AccessLink ------------------------------------------------------------------


def registered_fake() -> tuple[FakePolar, PolarProvider, TokenSet]:
    fake = FakePolar()
    access = fake.new_secret("polar-access")
    fake.live_access_tokens.add(access)
    fake.registered = True
    provider = PolarProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    return fake, provider, TokenSet(access_token=access, provider_user_id=fake.provider_user_id)


def test_fake_serves_the_thirty_day_set() -> None:
    fake, provider, user_tokens = registered_fake()
    fresh = [fake.make_exercise(n) for n in range(5)]
    stale = fake.make_exercise(99, upload_time="2026-01-01T00:00:00.000Z")
    fake.activities.extend([*fresh, stale])
    page = provider.fetch_activities(user_tokens, WINDOW, None)
    assert [item["id"] for item in page.items] == [item["id"] for item in fresh]
    assert fake.exercise_list_calls == 1


def test_fake_webhook_to_exercise_end_to_end() -> None:
    fake, provider, user_tokens = registered_fake()
    headers, body, query = fake.signed_webhook()
    request = WebhookRequest("POST", headers, query, body)
    provider.verify_webhook(request)
    (event,) = provider.parse_webhook(request)
    assert event.object_id is not None
    fake.activities.append(fake.make_exercise(1, id=event.object_id))
    page = provider.fetch_for_event(user_tokens, event)
    assert [item["id"] for item in page.items] == [event.object_id]


def test_fake_refuses_a_deregistered_user_and_a_dead_token() -> None:
    fake, provider, user_tokens = registered_fake()
    fake.registered = False
    with pytest.raises(TokenRevokedError, match="consents"):
        provider.fetch_activities(user_tokens, WINDOW, None)
    fake.registered = True
    fake.live_access_tokens.clear()
    with pytest.raises(TokenRevokedError):
        provider.fetch_activities(user_tokens, WINDOW, None)
