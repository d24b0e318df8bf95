"""GarminProvider.fetch_activities / fetch_for_event over httpx.MockTransport against the fake
Garmin (tests/fakes/garmin.py): never a pull (the fake answers a tokenless pull with Garmin's 400
InvalidPullTokenException), asynchronous backfill requests in <= 30-day ranges for every
window (202 -> pending, 409 duplicate = fine, 403 without the historical permission ->
HistoryNotGrantedError), push and ping webhook events (callbackURL only on apis.garmin.com),
deregistration and permission events."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.garmin import FakeGarmin
from trainlytics.errors import (
    BadPayloadError,
    HistoryNotGrantedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    TokenRevokedError,
)
from trainlytics.providers.base import (
    RECEIVED_AT_KEY,
    SyncWindow,
    TokenSet,
    WebhookEvent,
    WebhookEventKind,
    WebhookRequest,
)
from trainlytics.providers.garmin import BACKFILL_WINDOW, GarminProvider

DAY = 86400
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "garmin"


def connected(fake: FakeGarmin) -> tuple[GarminProvider, TokenSet]:
    provider = GarminProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    query = fake.callback("state")
    tokens = provider.exchange_code(
        code=query["code"], code_verifier="v" * 50, callback_query=query
    )
    return provider, tokens


def run_window(
    provider: GarminProvider, tokens: TokenSet, window: SyncWindow
) -> tuple[list[dict[str, Any]], int, bool]:
    items: list[dict[str, Any]] = []
    cursor = None
    calls = 0
    pending = False
    while True:
        page = provider.fetch_activities(tokens, window, cursor)
        items.extend(dict(i) for i in page.items)
        calls += page.api_calls
        pending = pending or page.pending
        if page.next_cursor is None:
            return items, calls, pending
        cursor = page.next_cursor


def now_epoch() -> int:
    return int(datetime.now(UTC).timestamp())


def test_class_settings() -> None:
    assert GarminProvider.max_window == timedelta(days=30) == BACKFILL_WINDOW
    assert GarminProvider.rate_limit_buckets == ()


def test_a_recent_window_is_backfilled_never_pulled() -> None:
    """No ad-hoc pulls: even yesterday's window is a backfill request (202, pending); the fake
    answers a tokenless pull with Garmin's 400 InvalidPullTokenException, and none is made."""
    fake = FakeGarmin()
    now = now_epoch()
    fake.add_activity(1, now - 3 * DAY, uploaded_at=now - 3 * DAY + 4000)
    provider, tokens = connected(fake)
    window = SyncWindow(
        datetime.fromtimestamp(now - 4 * DAY, UTC), datetime.fromtimestamp(now, UTC)
    )
    items, calls, pending = run_window(provider, tokens, window)
    assert (items, calls, pending) == ([], 1, True)
    assert fake.backfill_requests == [(now - 4 * DAY, now)]
    assert fake.tokenless_pulls == 0
    assert not [r for r in fake.requests if r.url.path == "/wellness-api/rest/activities"]
    # The data then arrives by ping, whose callbackURL carries the pull token.
    (body,) = fake.backfill_ping_bodies()
    (event,) = events_of(fake, body)
    page = provider.fetch_for_event(tokens, event)
    assert [i["activityId"] for i in page.items] == [1]


def test_the_fake_refuses_a_tokenless_pull_as_garmin_does() -> None:
    fake = FakeGarmin()
    provider, tokens = connected(fake)
    now = now_epoch()
    response = provider.http.get(
        "https://apis.garmin.com/wellness-api/rest/activities",
        params={"uploadStartTimeInSeconds": now - 3600, "uploadEndTimeInSeconds": now},
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )
    assert response.status_code == 400
    assert response.json() == {"errorMessage": "InvalidPullTokenException failure"}


def test_activity_details_callbacks_are_reduced_to_their_summary() -> None:
    """An activityDetails callback answers summary + samples + laps (up to 100 MB): only the
    summary with its ids is handed to the ingest."""
    fake = FakeGarmin()
    provider, tokens = connected(fake)
    details = json.loads((FIXTURES / "webhook_activity_details_push.json").read_text())[
        "activityDetails"
    ]
    for raw in details:  # the fixture's invented user is this connection's user
        raw["userId"] = fake.provider_user_id

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=details)

    provider.http = httpx.Client(transport=httpx.MockTransport(handler))
    url = (
        "https://apis.garmin.com/wellness-api/rest/activityDetails?uploadStartTimeInSeconds=1"
        "&uploadEndTimeInSeconds=2&token=CPT-x"
    )
    event = WebhookEvent(
        fake.provider_user_id, "activities_available", None,
        {"userId": fake.provider_user_id, "callbackURL": url},
    )  # fmt: skip
    page = provider.fetch_for_event(tokens, event)
    assert page.items
    for item, raw in zip(page.items, details, strict=True):
        assert not {"samples", "laps", "summary"} & set(item)
        assert item["summaryId"] == raw["summaryId"]
        assert item["activityType"] == raw["summary"]["activityType"]


def test_callback_items_of_another_garmin_user_are_refused_not_ingested() -> None:
    """Defence in depth: a callback item whose userId is not the connection's Garmin user (or
    that has none) is refused with a reason, never handed to the ingest."""
    fake = FakeGarmin()
    provider, tokens = connected(fake)
    own = {"userId": fake.provider_user_id, "summaryId": "1", "activityType": "RUNNING"}
    other = {"userId": "someone-else", "summaryId": "2", "activityType": "RUNNING"}
    anonymous = {"summaryId": "3", "activityType": "RUNNING"}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[own, other, anonymous])

    provider.http = httpx.Client(transport=httpx.MockTransport(handler))
    url = (
        "https://apis.garmin.com/wellness-api/rest/activities?uploadStartTimeInSeconds=1"
        "&uploadEndTimeInSeconds=2&token=CPT-x"
    )
    event = WebhookEvent(
        fake.provider_user_id, "activities_available", None,
        {"userId": fake.provider_user_id, "callbackURL": url},
    )  # fmt: skip
    page = provider.fetch_for_event(tokens, event)
    assert [item["summaryId"] for item in page.items] == ["1"]
    assert [r["external_id"] for r in page.refused] == ["2", "3"]
    assert all("another Garmin user" in r["reason"] for r in page.refused)


def test_initial_backfill_requests_30_day_ranges_and_is_pending() -> None:
    fake = FakeGarmin()
    now = now_epoch()
    for n in range(6):
        fake.add_activity(100 + n, now - (40 + 15 * n) * DAY)
    provider, tokens = connected(fake)
    start = datetime.fromtimestamp(now - 120 * DAY, UTC)
    window = SyncWindow(start, start + timedelta(days=75))
    items, calls, pending = run_window(provider, tokens, window)
    assert items == []
    assert pending is True
    assert calls == 3  # 30 + 30 + 15 days
    ranges = fake.backfill_requests
    assert [end - begin for begin, end in ranges] == [30 * DAY, 30 * DAY, 15 * DAY]
    assert ranges[0][0] == int(start.timestamp())
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    # The summaries then arrive by push, in the shape the normaliser takes.
    pushed = [i for body in fake.backfill_push_bodies() for i in body["activities"]]
    in_window = {
        a["activityId"]
        for a in fake.activities
        if start.timestamp() <= a["startTimeInSeconds"] < window.end.timestamp()
    }
    assert {i["activityId"] for i in pushed} == in_window
    assert in_window


def test_duplicate_backfill_is_fine() -> None:
    fake = FakeGarmin()
    provider, tokens = connected(fake)
    start = datetime.now(UTC) - timedelta(days=90)
    window = SyncWindow(start, start + timedelta(days=10))
    first = provider.fetch_activities(tokens, window, None)
    again = provider.fetch_activities(tokens, window, None)  # a retried job asks again: 409
    assert first.pending
    assert again.pending
    assert len(fake.backfill_requests) == 1


def test_backfill_without_historical_permission_is_history_not_granted() -> None:
    fake = FakeGarmin(permissions=["ACTIVITY_EXPORT"])
    provider, tokens = connected(fake)
    start = datetime.now(UTC) - timedelta(days=90)
    with pytest.raises(HistoryNotGrantedError) as caught:
        provider.fetch_activities(tokens, SyncWindow(start, start + timedelta(days=5)), None)
    assert caught.value.status_code == 403
    assert "HISTORICAL_DATA_EXPORT" in caught.value.message
    assert caught.value.hint is not None
    assert "historical data" in caught.value.hint


def test_empty_window_makes_no_call() -> None:
    fake = FakeGarmin()
    provider, tokens = connected(fake)
    now = datetime.now(UTC)
    page = provider.fetch_activities(tokens, SyncWindow(now, now), None)
    assert page.api_calls == 0
    assert list(page.items) == []
    assert page.next_cursor is None


def test_oauth1_user_access_token_is_never_handed_on() -> None:
    now = now_epoch()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=[{"userId": "u", "summaryId": "1", "activityId": 1, "startTimeInSeconds": now,
                   "userAccessToken": "oauth1-secret"}],
        )  # fmt: skip

    provider = GarminProvider(
        FakeGarmin().credentials, httpx.Client(transport=httpx.MockTransport(handler))
    )
    url = (
        "https://apis.garmin.com/wellness-api/rest/activities?uploadStartTimeInSeconds=1"
        "&uploadEndTimeInSeconds=2&token=CPT-x"
    )
    event = WebhookEvent("u", "activities_available", None, {"userId": "u", "callbackURL": url})
    (item,) = provider.fetch_for_event(TokenSet(access_token="a"), event).items  # noqa: S106
    assert "userAccessToken" not in item


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401, json={"errorMessage": "Unauthorized"}), TokenRevokedError),
        (httpx.Response(400, json={"errorMessage": "bad range"}), ProviderError),
        (httpx.Response(429), RateLimitedError),
        (httpx.Response(502), ProviderUnavailableError),
        (httpx.Response(200), ProviderError),  # a backfill answers 202, not content
    ],
)
def test_backfill_errors(response: httpx.Response, error: type[Exception]) -> None:
    provider = GarminProvider(
        FakeGarmin().credentials, httpx.Client(transport=httpx.MockTransport(lambda _: response))
    )
    now = datetime.now(UTC)
    with pytest.raises(error):
        provider.fetch_activities(
            TokenSet(access_token="a"),  # noqa: S106 - test value
            SyncWindow(now - timedelta(hours=1), now),
            None,
        )


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(200, text="not json"), BadPayloadError),
        (httpx.Response(200, json={"activities": []}), BadPayloadError),
        (httpx.Response(200, json=[1, 2]), BadPayloadError),
    ],
)
def test_callback_payload_errors(response: httpx.Response, error: type[Exception]) -> None:
    provider = GarminProvider(
        FakeGarmin().credentials, httpx.Client(transport=httpx.MockTransport(lambda _: response))
    )
    url = (
        "https://apis.garmin.com/wellness-api/rest/activities?uploadStartTimeInSeconds=1"
        "&uploadEndTimeInSeconds=2&token=CPT-x"
    )
    event = WebhookEvent("u", "activities_available", None, {"userId": "u", "callbackURL": url})
    with pytest.raises(error):
        provider.fetch_for_event(TokenSet(access_token="a"), event)  # noqa: S106


# --- webhook events -------------------------------------------------------------------------------


def events_of(fake: FakeGarmin, body: dict[str, Any]) -> list[WebhookEvent]:
    provider = GarminProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    headers = {"content-type": "application/json", "garmin-client-id": fake.credentials.client_id}
    return provider.parse_webhook(WebhookRequest("POST", headers, {}, json.dumps(body).encode()))


@pytest.mark.parametrize("kind", ["activity_created", "activity_updated"])
def test_a_push_event_payload_is_never_ingested(kind: WebhookEventKind) -> None:
    """Issue 14, finding 3: whatever reaches the worker as a push event (a job queued before
    the upgrade, say) writes nothing — the content of a push is not trusted."""
    fake = FakeGarmin()
    provider, tokens = connected(fake)
    item = {
        "userId": fake.provider_user_id,
        **fake.webhook_body("activity_pushed")["activities"][0],
    }
    event = WebhookEvent(fake.provider_user_id, kind, str(item["activityId"]), item)
    before = len(fake.requests)
    page = provider.fetch_for_event(tokens, event)
    assert list(page.items) == []
    assert len(fake.requests) == before


def test_a_ping_is_fetched_once_within_its_validity() -> None:
    fake = FakeGarmin()
    now = now_epoch()
    fake.add_activity(56, now - 5000, uploaded_at=now - 100)
    provider, tokens = connected(fake)
    (event,) = events_of(fake, fake.ping_body(now - 3600, now))
    assert [i["activityId"] for i in provider.fetch_for_event(tokens, event).items] == [56]
    # Garmin serves a pull token once: a replayed ping finds it spent (410) -> nothing, no error
    assert list(provider.fetch_for_event(tokens, event).items) == []
    # a ping older than its validity is not fetched at all
    stale = WebhookEvent(
        event.provider_user_id,
        event.kind,
        None,
        {**event.payload, RECEIVED_AT_KEY: now - 25 * 3600},
    )
    before = len(fake.requests)
    assert list(provider.fetch_for_event(tokens, stale).items) == []
    assert len(fake.requests) == before


def test_ping_fetches_the_callback_url() -> None:
    fake = FakeGarmin()
    now = now_epoch()
    fake.add_activity(55, now - 5000, uploaded_at=now - 100)
    provider, tokens = connected(fake)
    (event,) = events_of(fake, fake.ping_body(now - 3600, now))
    assert event.kind == "activities_available"
    page = provider.fetch_for_event(tokens, event)
    assert [i["activityId"] for i in page.items] == [55]
    assert page.api_calls == 1
    request = fake.requests[-1]
    assert request.url.host == "apis.garmin.com"
    assert request.url.params["uploadEndTimeInSeconds"] == str(now)
    assert request.headers["authorization"] == f"Bearer {tokens.access_token}"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/wellness-api/rest/activities?token=x",
        "http://apis.garmin.com/wellness-api/rest/activities",
        "https://apis.garmin.com.evil.example/wellness-api/rest/activities",
        "https://user@apis.garmin.com/wellness-api/rest/activities",
        "https://apis.garmin.com:8443/wellness-api/rest/activities",
        "https://apis.garmin.com/other/activities",
    ],
)
def test_ping_to_another_host_is_never_fetched(url: str) -> None:
    fake = FakeGarmin()
    provider, tokens = connected(fake)
    event = WebhookEvent(fake.provider_user_id, "activities_available", None, {"callbackURL": url})
    before = len(fake.requests)
    with pytest.raises(BadPayloadError):
        provider.fetch_for_event(tokens, event)
    assert len(fake.requests) == before


def test_activity_file_ping_is_not_ingested() -> None:
    fake = FakeGarmin()
    provider, tokens = connected(fake)
    event = WebhookEvent(
        fake.provider_user_id,
        "activities_available",
        None,
        {"callbackURL": "https://apis.garmin.com/wellness-api/rest/activityFile?id=1&token=t"},
    )
    page = provider.fetch_for_event(tokens, event)
    assert list(page.items) == []
    assert page.api_calls == 0


@pytest.mark.parametrize("kind", ["deauthorized", "permissions_changed"])
def test_deregistration_and_permission_events_ingest_nothing(kind: str) -> None:
    fake = FakeGarmin()
    provider, tokens = connected(fake)
    (event,) = events_of(fake, fake.webhook_body(kind))
    assert event.kind == kind
    page = provider.fetch_for_event(tokens, event)
    assert list(page.items) == []
    assert list(page.deleted_external_ids) == []
    assert page.api_calls == 0
