# ruff: noqa: S106 - test token literals, not credentials
"""Wahoo activity fetching against the fake Wahoo Cloud API (httpx.MockTransport): GET
/v1/workouts pages (newest first, total/page/per_page), windows that stop at their start,
errors, and workout_summary webhooks turned into ingestible workouts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.wahoo import FakeWahoo
from trainlytics.errors import (
    BadPayloadError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    TokenRevokedError,
)
from trainlytics.providers.base import (
    ActivityPage,
    SyncWindow,
    TokenSet,
    WebhookEvent,
    WebhookRequest,
)
from trainlytics.providers.wahoo import PER_PAGE, WahooProvider

ACTIVITIES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "wahoo"
ACTIVITIES = ACTIVITIES / "activities"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ALL_TIME = SyncWindow(datetime(2000, 1, 1, tzinfo=UTC), NOW)


def template() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ACTIVITIES / "workout_road_ride_power.json").read_text())
    return data


def make_workouts(count: int, *, newest: datetime = NOW - timedelta(hours=3)) -> list[Any]:
    """``count`` workouts, one a day going back from ``newest``, in Wahoo's list shape."""
    workouts = []
    for i in range(count):
        workout = copy.deepcopy(template())
        workout["id"] = 300_000_000 + i
        workout["workout_summary"]["id"] = 290_000_000 + i
        workout["starts"] = (newest - timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        workouts.append(workout)
    return workouts


def connected(fake: FakeWahoo) -> tuple[WahooProvider, TokenSet]:
    provider = WahooProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    query = fake.callback("state")
    tokens = provider.exchange_code(code=query["code"], code_verifier=None, callback_query=query)
    fake.requests.clear()
    return provider, tokens


def run_window(
    provider: WahooProvider, tokens: TokenSet, window: SyncWindow
) -> tuple[list[ActivityPage], list[Any]]:
    pages: list[ActivityPage] = []
    cursor = None
    while True:
        page = provider.fetch_activities(tokens, window, cursor)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            return pages, [item["id"] for p in pages for item in p.items]
        json.dumps(cursor)  # the engine stores cursors as JSON
        assert len(pages) < 1000


def workout_requests(fake: FakeWahoo) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path.startswith("/v1/workouts")]


def test_backfill_reads_every_page_once() -> None:
    fake = FakeWahoo()
    fake.activities = make_workouts(150)
    provider, tokens = connected(fake)
    pages, ids = run_window(provider, tokens, ALL_TIME)
    assert sorted(ids) == sorted(w["id"] for w in fake.activities)
    assert len(ids) == len(set(ids)) == 150
    requests = workout_requests(fake)
    assert len(requests) == len(pages) == 3  # ceil(150 / 60)
    assert [r.url.params["page"] for r in requests] == ["1", "2", "3"]
    assert {r.url.params["per_page"] for r in requests} == {str(PER_PAGE)}
    assert all(r.headers["authorization"] == f"Bearer {tokens.access_token}" for r in requests)
    assert all(p.api_calls == 1 and not p.deleted_external_ids for p in pages)
    # Items are the workouts exactly as Wahoo sent them.
    by_id = {w["id"]: w for w in fake.activities}
    assert all(item == by_id[item["id"]] for p in pages for item in p.items)


def test_exact_multiple_of_the_page_size_needs_no_empty_page() -> None:
    fake = FakeWahoo()
    fake.activities = make_workouts(2 * PER_PAGE)
    provider, tokens = connected(fake)
    _pages, ids = run_window(provider, tokens, ALL_TIME)
    assert len(ids) == 2 * PER_PAGE
    assert len(workout_requests(fake)) == 2


def test_incremental_window_stops_at_its_start() -> None:
    fake = FakeWahoo()
    fake.activities = make_workouts(400)
    provider, tokens = connected(fake)
    window = SyncWindow(NOW - timedelta(days=10), NOW)
    _pages, ids = run_window(provider, tokens, window)
    # Ten daily workouts are newer than the window start: the first page holds them and the
    # older ones tell the reader to stop there.
    assert len(ids) == 10
    assert len(workout_requests(fake)) == 1


def test_window_spanning_pages_stops_on_the_page_that_reaches_its_start() -> None:
    fake = FakeWahoo()
    fake.activities = make_workouts(400)
    provider, tokens = connected(fake)
    window = SyncWindow(NOW - timedelta(days=100), NOW - timedelta(days=30))
    _pages, ids = run_window(provider, tokens, window)
    starts = {w["id"]: w["starts"] for w in fake.activities}
    expected = [
        w["id"]
        for w in fake.activities
        if window.start.isoformat() <= _iso(w["starts"]) < window.end.isoformat()
    ]
    assert sorted(ids) == sorted(expected)
    assert len(ids) == 70
    assert all(_iso(starts[i]) < window.end.isoformat() for i in ids)
    assert len(workout_requests(fake)) == 2  # days 0-59, then 60-119 reaches day 100


def _iso(wahoo_starts: str) -> str:
    return datetime.fromisoformat(wahoo_starts.replace("Z", "+00:00")).isoformat()


def test_window_start_is_inclusive_and_end_exclusive() -> None:
    fake = FakeWahoo()
    fake.activities = make_workouts(5, newest=datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
    provider, tokens = connected(fake)
    window = SyncWindow(
        datetime(2026, 11, 17, 8, 0, tzinfo=UTC), datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    )
    _, ids = run_window(provider, tokens, window)
    assert sorted(ids) == [300_000_002, 300_000_003]  # 17 Nov and 18 Nov, not 19 Nov


def test_server_capping_per_page_is_followed() -> None:
    fake = FakeWahoo()
    fake.max_per_page = 25
    fake.activities = make_workouts(60)
    provider, tokens = connected(fake)
    pages, ids = run_window(provider, tokens, ALL_TIME)
    assert len(set(ids)) == 60
    assert len(pages) == 3


def test_empty_account() -> None:
    fake = FakeWahoo()
    provider, tokens = connected(fake)
    pages, ids = run_window(provider, tokens, ALL_TIME)
    assert ids == []
    assert len(pages) == 1


def test_workouts_without_summary_or_start_are_handed_to_the_ingest() -> None:
    fake = FakeWahoo()
    fake.activities = make_workouts(3)
    fake.activities[1]["workout_summary"] = None
    broken = copy.deepcopy(fake.activities[2])
    broken["id"] = 1
    broken["starts"] = None
    fake.activities.append(broken)
    provider, tokens = connected(fake)
    _, ids = run_window(provider, tokens, ALL_TIME)
    # The malformed one is not silently dropped: the ingest reports it.
    assert sorted(ids) == sorted(w["id"] for w in fake.activities)


def test_cursor_continues_where_it_left_off() -> None:
    fake = FakeWahoo()
    fake.activities = make_workouts(130)
    provider, tokens = connected(fake)
    first = provider.fetch_activities(tokens, ALL_TIME, None)
    assert first.next_cursor == {"page": 2}
    third = provider.fetch_activities(tokens, ALL_TIME, {"page": 3})
    assert [item["id"] for item in third.items] == [300_000_120 + i for i in range(10)]
    assert third.next_cursor is None


def respond(response: httpx.Response) -> tuple[WahooProvider, TokenSet]:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    fake = FakeWahoo()
    return WahooProvider(fake.credentials, client), TokenSet(access_token="wahoo-access-SECRET")


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401, json={"error": "Unauthorized"}), TokenRevokedError),
        (httpx.Response(403, json={"error": "Forbidden"}), ProviderError),
        (httpx.Response(500, text="boom"), ProviderUnavailableError),
        (httpx.Response(503, text="maintenance"), ProviderUnavailableError),
        (httpx.Response(200, text="<html>"), BadPayloadError),
        (httpx.Response(200, json=[1, 2]), BadPayloadError),
        (httpx.Response(200, json={"total": 3}), BadPayloadError),
    ],
)
def test_errors(response: httpx.Response, error: type[Exception]) -> None:
    provider, tokens = respond(response)
    with pytest.raises(error) as raised:
        provider.fetch_activities(tokens, ALL_TIME, None)
    assert "SECRET" not in str(raised.value)


def test_rate_limited_carries_retry_after() -> None:
    provider, tokens = respond(
        httpx.Response(429, headers={"Retry-After": "120"}, json={"error": "Too Many Requests"})
    )
    with pytest.raises(RateLimitedError) as raised:
        provider.fetch_activities(tokens, ALL_TIME, {"page": 4})
    assert raised.value.retry_after == 120


def test_rate_limit_buckets() -> None:
    assert WahooProvider.rate_limit_buckets == (
        ("wahoo:5min", 200, 300),
        ("wahoo:hourly", 1000, 3600),
        ("wahoo:daily", 5000, 86400),
    )


def webhook_event(fake: FakeWahoo, provider: WahooProvider) -> WebhookEvent:
    headers, body, query = fake.signed_webhook()
    request = WebhookRequest(method="POST", headers=headers, query=query, body=body)
    provider.verify_webhook(request)
    (event,) = provider.parse_webhook(request)
    return event


def test_webhook_workout_is_ingested_without_an_api_call() -> None:
    fake = FakeWahoo()
    provider, tokens = connected(fake)
    event = webhook_event(fake, provider)
    page = provider.fetch_for_event(tokens, event)
    assert page.api_calls == 0
    assert fake.requests == []
    (item,) = page.items
    # The list's shape: the workout with its summary, as fetch_activities hands it on.
    assert item["id"] == 170441
    assert item["starts"] == "2026-11-24T16:48:12.000Z"
    assert item["workout_summary"]["power_bike_np_last"] == "212.0"
    assert "workout" not in item["workout_summary"]
    assert "webhook_token" not in json.dumps(item)
    assert page.next_cursor is None
    assert not page.deleted_external_ids


def test_webhook_naming_only_the_workout_id_fetches_it() -> None:
    fake = FakeWahoo()
    fake.activities = make_workouts(3)
    provider, tokens = connected(fake)
    event = WebhookEvent(
        provider_user_id=fake.provider_user_id,
        kind="activity_created",
        object_id="300000001",
        payload={"event_type": "workout_summary", "workout_summary": {"id": 5}},
    )
    page = provider.fetch_for_event(tokens, event)
    assert [item["id"] for item in page.items] == [300_000_001]
    assert page.api_calls == 1
    assert [r.url.path for r in fake.requests] == ["/v1/workouts/300000001"]


def test_other_events_fetch_nothing() -> None:
    fake = FakeWahoo()
    provider, tokens = connected(fake)
    event = WebhookEvent(fake.provider_user_id, "deauthorized", None, {})
    page = provider.fetch_for_event(tokens, event)
    assert list(page.items) == []
    assert fake.requests == []
