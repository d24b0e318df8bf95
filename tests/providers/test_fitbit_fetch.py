# ruff: noqa: S106 - test token literals, not credentials
"""Fitbit (Google Health API) activity fetching against the fake Health API
(httpx.MockTransport): exercise dataPoints over a window with the AIP-160 filter and
pageToken paging, errors, and exercise notifications fetched by their intervals."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.fitbit import FakeFitbit
from trainlytics.errors import (
    BadPayloadError,
    InsufficientScopeError,
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
from trainlytics.providers.fitbit import EXERCISE_PAGE_SIZE, FitbitProvider

ACTIVITIES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "fitbit"
ACTIVITIES = ACTIVITIES / "activities"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def template() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ACTIVITIES / "exercise_run.json").read_text())
    return data


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_point(
    index: int, start: datetime, minutes: int = 45, user: str = "3141592653589793238"
) -> dict[str, Any]:
    point = copy.deepcopy(template())
    point["name"] = f"users/{user}/dataTypes/exercise/dataPoints/{7_000_000_000 + index}"
    point["exercise"]["interval"]["startTime"] = stamp(start)
    point["exercise"]["interval"]["endTime"] = stamp(start + timedelta(minutes=minutes))
    return point


def daily_points(count: int, newest: datetime = NOW - timedelta(hours=5)) -> list[Any]:
    return [make_point(i, newest - timedelta(days=i)) for i in range(count)]


def connected(fake: FakeFitbit) -> tuple[FitbitProvider, TokenSet]:
    provider = FitbitProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    query = fake.callback("state")
    tokens = provider.exchange_code(
        code=query["code"], code_verifier="v" * 64, callback_query=query
    )
    fake.requests.clear()
    return provider, tokens


def run_window(
    provider: FitbitProvider, tokens: TokenSet, window: SyncWindow
) -> tuple[list[ActivityPage], list[str]]:
    pages: list[ActivityPage] = []
    cursor = None
    while True:
        page = provider.fetch_activities(tokens, window, cursor)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            return pages, [item["name"] for p in pages for item in p.items]
        json.dumps(cursor)
        assert len(pages) < 1000


def point_requests(fake: FakeFitbit) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path.endswith("/exercise/dataPoints")]


def test_window_is_read_with_the_filter_page_by_page() -> None:
    fake = FakeFitbit()
    fake.activities = daily_points(200)
    provider, tokens = connected(fake)
    window = SyncWindow(NOW - timedelta(days=60), NOW)
    pages, names = run_window(provider, tokens, window)
    expected = [p["name"] for p in fake.activities[:60]]
    assert sorted(names) == sorted(expected)
    assert len(set(names)) == 60
    requests = point_requests(fake)
    assert len(requests) == len(pages) == 3  # 25 + 25 + 10
    first = requests[0].url.params
    assert first["pageSize"] == str(EXERCISE_PAGE_SIZE) == "25"
    # The only member Google accepts for exercise, civil (zone-less) literals, the UTC
    # window padded by 14 h on both sides.
    assert first["filter"] == (
        'exercise.interval.civil_start_time >= "2026-09-25T22:00:00" AND '
        'exercise.interval.civil_start_time < "2026-11-26T02:00:00"'
    )
    assert "pageToken" not in first
    # Later pages carry the previous nextPageToken and the same filter.
    assert requests[1].url.params["pageToken"] == pages[0].next_cursor["pageToken"]  # type: ignore[index]
    assert {r.url.params["filter"] for r in requests} == {first["filter"]}
    assert all(r.headers["authorization"] == f"Bearer {tokens.access_token}" for r in requests)
    # Items are the data points exactly as the API sent them.
    by_name = {p["name"]: p for p in fake.activities}
    assert all(item == by_name[item["name"]] for p in pages for item in p.items)


def test_window_bounds_inclusive_start_exclusive_end_with_fractions() -> None:
    fake = FakeFitbit()
    start = datetime(2026, 11, 20, 6, 0, 0, 250000, tzinfo=UTC)
    fake.activities = [
        make_point(1, start - timedelta(milliseconds=1)),
        make_point(2, start),
        make_point(3, start + timedelta(hours=1)),
        make_point(4, start + timedelta(hours=2)),
    ]
    provider, tokens = connected(fake)
    window = SyncWindow(start, start + timedelta(hours=2))
    _, names = run_window(provider, tokens, window)
    assert sorted(n.rsplit("/", 1)[1] for n in names) == ["7000000002", "7000000003"]
    assert '>= "2026-11-19T16:00:00"' in point_requests(fake)[0].url.params["filter"]


def with_offset(point: dict[str, Any], seconds: int) -> dict[str, Any]:
    point["exercise"]["interval"]["startUtcOffset"] = f"{seconds}s"
    point["exercise"]["interval"]["endUtcOffset"] = f"{seconds}s"
    return point


def test_items_are_kept_by_their_real_start_whatever_the_athletes_offset() -> None:
    """Kiribati (+14 h) and Baker Island (-12 h) exercises at the window's edges: the padded
    civil listing returns neighbours on both sides; only real starts in the window are kept."""
    fake = FakeFitbit()
    start = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    end = start + timedelta(days=1)
    fake.activities = [
        with_offset(make_point(1, start, minutes=30), 14 * 3600),  # civil 14:00 on the 20th
        with_offset(make_point(2, end - timedelta(minutes=1)), -12 * 3600),  # civil 11:59
        with_offset(make_point(3, start - timedelta(minutes=1)), 14 * 3600),  # before
        with_offset(make_point(4, end), -12 * 3600),  # at the exclusive end
        with_offset(make_point(5, end + timedelta(hours=3)), -12 * 3600),  # after
    ]
    provider, tokens = connected(fake)
    _, names = run_window(provider, tokens, SyncWindow(start, end))
    assert sorted(n.rsplit("/", 1)[1] for n in names) == ["7000000001", "7000000002"]
    assert fake.refused_filters == []


def test_the_fake_refuses_the_start_time_member_as_google_does() -> None:
    """What the code used to send: Google answers 400 for exercise (the fake says so too)."""
    fake = FakeFitbit()
    provider, tokens = connected(fake)
    response = provider.http.get(
        "https://health.googleapis.com/v4/users/me/dataTypes/exercise/dataPoints",
        params={
            "filter": 'exercise.interval.start_time >= "2026-11-20T00:00:00Z"',
        },
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "is not supported for filtering" in response.json()["error"]["message"]


def test_empty_window_answers_an_empty_object() -> None:
    fake = FakeFitbit()
    fake.activities = daily_points(3)
    provider, tokens = connected(fake)
    pages, names = run_window(provider, tokens, SyncWindow(NOW - timedelta(hours=1), NOW))
    assert names == []
    assert len(pages) == 1


def respond(response: httpx.Response) -> tuple[FitbitProvider, TokenSet]:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    return FitbitProvider(FakeFitbit().credentials, client), TokenSet(access_token="ya29.SECRET")


def google_error(code: int, status: str) -> httpx.Response:
    return httpx.Response(
        code, json={"error": {"code": code, "message": "refused", "status": status}}
    )


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (google_error(401, "UNAUTHENTICATED"), TokenRevokedError),
        (google_error(403, "PERMISSION_DENIED"), InsufficientScopeError),
        (google_error(400, "INVALID_ARGUMENT"), ProviderError),
        (google_error(404, "NOT_FOUND"), ProviderError),
        (google_error(500, "INTERNAL"), ProviderUnavailableError),
        (httpx.Response(200, text="not json"), BadPayloadError),
        (httpx.Response(200, json={"dataPoints": {"a": 1}}), BadPayloadError),
        (httpx.Response(200, json=["x"]), BadPayloadError),
    ],
)
def test_errors(response: httpx.Response, error: type[Exception]) -> None:
    provider, tokens = respond(response)
    window = SyncWindow(NOW - timedelta(days=1), NOW)
    with pytest.raises(error) as raised:
        provider.fetch_activities(tokens, window, None)
    assert "SECRET" not in str(raised.value)


def test_bad_request_names_googles_status() -> None:
    provider, tokens = respond(google_error(400, "INVALID_ARGUMENT"))
    with pytest.raises(ProviderError, match="INVALID_ARGUMENT"):
        provider.fetch_activities(tokens, SyncWindow(NOW - timedelta(days=1), NOW), None)


def test_rate_limited_carries_retry_after() -> None:
    provider, tokens = respond(
        httpx.Response(
            429,
            headers={"Retry-After": "30"},
            json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}},
        )
    )
    with pytest.raises(RateLimitedError) as raised:
        provider.fetch_activities(tokens, SyncWindow(NOW - timedelta(days=1), NOW), None)
    assert raised.value.retry_after == 30


def notification_event(fake: FakeFitbit, provider: FitbitProvider, kind: str) -> WebhookEvent:
    headers, body, query = fake.signed_webhook(kind)
    request = WebhookRequest(method="POST", headers=headers, query=query, body=body)
    provider.verify_webhook(request)
    (event,) = provider.parse_webhook(request)
    return event


def test_upsert_notification_fetches_the_exercises_of_its_interval() -> None:
    fake = FakeFitbit()
    # The fixture notifies 2026-11-24T16:48:12Z → 18:21:40Z.
    inside = make_point(1, datetime(2026, 11, 24, 16, 48, 12, tzinfo=UTC), minutes=93)
    started_before = make_point(2, datetime(2026, 11, 24, 15, 30, tzinfo=UTC), minutes=90)
    ended_before = make_point(3, datetime(2026, 11, 24, 9, 0, tzinfo=UTC), minutes=60)
    after = make_point(4, datetime(2026, 11, 24, 19, 0, tzinfo=UTC))
    fake.activities = [inside, started_before, ended_before, after]
    provider, tokens = connected(fake)
    event = notification_event(fake, provider, "activity_created")
    page = provider.fetch_for_event(tokens, event)
    # Every exercise starting in the looked-back window: the listing is complete for it.
    assert sorted(item["name"] for item in page.items) == sorted(
        [inside["name"], started_before["name"], ended_before["name"]]
    )
    assert list(page.complete_windows) == [
        SyncWindow(
            datetime(2026, 11, 23, 16, 48, 12, tzinfo=UTC),
            datetime(2026, 11, 24, 18, 21, 40, tzinfo=UTC),
        )
    ]
    assert page.api_calls == len(point_requests(fake)) == 1
    assert not page.deleted_external_ids
    assert page.next_cursor is None
    assert point_requests(fake)[0].url.params["filter"] == (
        'exercise.interval.civil_start_time >= "2026-11-23T02:48:12" AND '
        'exercise.interval.civil_start_time < "2026-11-25T08:21:40"'
    )


def test_a_notification_declares_only_the_real_window_complete() -> None:
    """An exercise in the civil padding (real start after the notified interval's end) is
    neither returned nor inside a declared window: it cannot be deleted by omission."""
    fake = FakeFitbit()
    inside = make_point(1, datetime(2026, 11, 24, 17, 0, tzinfo=UTC), minutes=10)
    padding = with_offset(make_point(2, datetime(2026, 11, 24, 20, 0, tzinfo=UTC)), -8 * 3600)
    fake.activities = [inside, padding]
    provider, tokens = connected(fake)
    event = notification_event(fake, provider, "activity_created")
    page = provider.fetch_for_event(tokens, event)
    assert [item["name"] for item in page.items] == [inside["name"]]
    (window,) = page.complete_windows
    assert window.end == datetime(2026, 11, 24, 18, 21, 40, tzinfo=UTC)
    assert not window.start <= datetime(2026, 11, 24, 20, 0, tzinfo=UTC) < window.end


def test_notification_reads_every_page_of_its_interval() -> None:
    fake = FakeFitbit()
    base = datetime(2026, 11, 24, 16, 48, 12, tzinfo=UTC)
    fake.activities = [make_point(i, base + timedelta(minutes=i), minutes=5) for i in range(60)]
    provider, tokens = connected(fake)
    event = notification_event(fake, provider, "activity_created")
    page = provider.fetch_for_event(tokens, event)
    assert len({item["name"] for item in page.items}) == 60
    assert page.api_calls == 3


def test_delete_notification_rereads_what_remains() -> None:
    fake = FakeFitbit()
    # The delete fixture notifies 2026-11-23T06:02:00Z → 06:44:31Z; the exercise is gone.
    kept = make_point(9, datetime(2026, 11, 23, 6, 30, tzinfo=UTC), minutes=10)
    fake.activities = [kept]
    provider, tokens = connected(fake)
    event = notification_event(fake, provider, "activity_deleted")
    assert event.kind == "activity_deleted"
    page = provider.fetch_for_event(tokens, event)
    assert [item["name"] for item in page.items] == [kept["name"]]
    # No id is named: the engine deletes what the complete window no longer lists.
    assert list(page.deleted_external_ids) == []
    (window,) = page.complete_windows
    assert window.start <= datetime(2026, 11, 23, 6, 2, tzinfo=UTC) - timedelta(hours=24)
    assert window.end >= datetime(2026, 11, 23, 6, 44, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    "payload",
    [
        {"dataType": "exercise"},
        {"intervals": "today"},
        {"intervals": [{"physicalTimeInterval": {"startTime": "x", "endTime": "y"}}]},
        {"intervals": [{"civilIso8601TimeInterval": {"startTime": "2026-11-24T17:48:12"}}]},
    ],
)
def test_malformed_notifications(payload: dict[str, Any]) -> None:
    fake = FakeFitbit()
    provider, tokens = connected(fake)
    event = WebhookEvent(fake.provider_user_id, "activities_available", None, payload)
    with pytest.raises(BadPayloadError):
        provider.fetch_for_event(tokens, event)
    assert fake.requests == []


def test_other_events_fetch_nothing() -> None:
    fake = FakeFitbit()
    provider, tokens = connected(fake)
    page = provider.fetch_for_event(
        tokens, WebhookEvent(fake.provider_user_id, "deauthorized", None, {})
    )
    assert list(page.items) == []
    assert page.api_calls == 0
    assert fake.requests == []
