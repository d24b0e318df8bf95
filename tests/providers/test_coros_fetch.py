"""COROS activity fetching: GET /v2/coros/sport/list by date range (at most 30 dates per request,
walked through the page cursor), errors inside HTTP 200 envelopes, and pushed workouts ingested
as they arrive — through MockTransport only: a scripted transport for the error paths and the
fake partner API (tests/fakes/coros.py) end to end. Payloads: tests/fixtures/providers/coros/
activities."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.coros import FakeCoros
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
from trainlytics.providers.coros import SPORT_LIST_URL, CorosProvider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "coros" / "activities"
ACCESS = "coros-fixture-access-5f2a9d"
OPEN_ID = "8c41d2e9b07f4a13a6e5f0c2d1b9a874"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_provider(handler: Callable[[httpx.Request], httpx.Response]) -> CorosProvider:
    credentials = ProviderCredentials(
        client_id="f3a9c1d27b8e4e0f9a6b5c4d3e2f1a0b",
        client_secret="coros-client-secret-fetch",  # noqa: S106 - test value
        redirect_uri="https://api.trainlytics.test/oauth/coros/callback",
    )
    return CorosProvider(credentials, httpx.Client(transport=httpx.MockTransport(handler)))


def tokens(access: str = ACCESS, open_id: str | None = OPEN_ID) -> TokenSet:
    return TokenSet(access_token=access, refresh_token="rg2-x", provider_user_id=open_id)  # noqa: S106


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# Covers every workout of sport_list.json (20-24 November 2026).
WINDOW = SyncWindow(start=utc(2026, 11, 1), end=utc(2026, 11, 25))


def test_windows_are_at_most_27_days_so_a_padded_request_spans_30_dates() -> None:
    assert CorosProvider.max_window == timedelta(days=27)
    assert CorosProvider.backfill_horizon == timedelta(days=365)


def test_list_sends_token_open_id_and_padded_dates() -> None:
    body = fixture("sport_list.json")
    recorder = Recorder(httpx.Response(200, json=body))
    page = make_provider(recorder).fetch_activities(tokens(), WINDOW, None)
    assert list(page.items) == body["data"]  # verbatim, all inside the window
    assert page.next_cursor is None
    assert page.api_calls == 1
    (sent,) = recorder.requests
    assert sent.method == "GET"
    assert str(sent.url).split("?")[0] == SPORT_LIST_URL
    assert dict(sent.url.params) == {
        "token": ACCESS,
        "openId": OPEN_ID,
        "startDate": "20261031",  # a day of padding each side: the dates' zone is unknown
        "endDate": "20261126",
    }


def test_list_keeps_only_workouts_starting_inside_the_window() -> None:
    body = fixture("sport_list.json")
    # 21 Nov 02:15 UTC to 23 Nov 00:00: the indoor ride and the swim only.
    window = SyncWindow(start=utc(2026, 11, 21, 2, 15), end=utc(2026, 11, 23))
    page = make_provider(Recorder(httpx.Response(200, json=body))).fetch_activities(
        tokens(), window, None
    )
    assert [item["labelId"] for item in page.items] == [
        "479344216573018112",
        "479506001329774593",
    ]


def test_items_without_a_readable_start_are_passed_on_for_the_ingest_to_report() -> None:
    body = {"result": "0000", "message": "OK", "data": [{"labelId": "1"}, "junk"]}
    page = make_provider(Recorder(httpx.Response(200, json=body))).fetch_activities(
        tokens(), WINDOW, None
    )
    assert list(page.items) == body["data"]


def test_a_long_window_is_walked_in_steps_through_the_cursor() -> None:
    window = SyncWindow(start=utc(2026, 1, 1), end=utc(2026, 3, 1))  # 59 days
    provider = make_provider(
        lambda request: httpx.Response(200, json={"result": "0000", "message": "OK", "data": []})
    )
    steps: list[str] = []
    cursor = None
    for _ in range(10):
        page = provider.fetch_activities(tokens(), window, cursor)
        cursor = page.next_cursor
        if cursor is None:
            break
        steps.append(cursor["from"])
    assert cursor is None
    assert steps == [
        utc(2026, 1, 28).isoformat(),
        utc(2026, 2, 24).isoformat(),
    ]


def test_a_cursor_outside_the_window_restarts_at_the_window() -> None:
    recorder = Recorder(httpx.Response(200, json=fixture("sport_list_empty.json")))
    make_provider(recorder).fetch_activities(tokens(), WINDOW, {"from": "garbage"})
    assert recorder.requests[0].url.params["startDate"] == "20261031"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(200, json=fixture("sport_list_error.json")), ProviderError),
        (httpx.Response(200, json={"result": "9999x", "message": "?"}), ProviderError),
        (httpx.Response(401), TokenRevokedError),
        (httpx.Response(403), TokenRevokedError),
        (httpx.Response(404), ProviderError),
        (httpx.Response(502), ProviderUnavailableError),
        (httpx.Response(429, headers={"Retry-After": "60"}), RateLimitedError),
        (httpx.Response(200, content=b"not json"), BadPayloadError),
        (httpx.Response(200, json={"data": []}), BadPayloadError),  # no envelope
        (httpx.Response(200, json={"result": "0000", "data": {"x": 1}}), BadPayloadError),
        (httpx.ReadTimeout("slow"), ProviderUnavailableError),
    ],
)
def test_list_failures_raise_the_matching_error_without_the_token(
    answer: httpx.Response | Exception, error: type[Exception]
) -> None:
    with pytest.raises(error) as raised:
        make_provider(Recorder(answer)).fetch_activities(tokens(), WINDOW, None)
    assert ACCESS not in str(raised.value)
    assert OPEN_ID not in str(raised.value)


def test_an_error_envelope_names_its_code() -> None:
    answer = httpx.Response(200, json=fixture("sport_list_error.json"))
    with pytest.raises(ProviderError, match="result 1003"):
        make_provider(Recorder(answer)).fetch_activities(tokens(), WINDOW, None)


def test_a_null_data_is_an_empty_page() -> None:
    answer = httpx.Response(200, json={"result": "0000", "message": "OK", "data": None})
    page = make_provider(Recorder(answer)).fetch_activities(tokens(), WINDOW, None)
    assert list(page.items) == []


def test_a_connection_without_open_id_cannot_list() -> None:
    recorder = Recorder()
    with pytest.raises(ProviderError, match="openId"):
        make_provider(recorder).fetch_activities(tokens(open_id=None), WINDOW, None)
    assert recorder.requests == []


# --- pushes ---------------------------------------------------------------------------------------


def test_a_pushed_workout_is_ingested_as_it_arrived() -> None:
    recorder = Recorder()
    item = fixture("push_triathlon.json")["sportDataList"][0]
    event = WebhookEvent(OPEN_ID, "activity_created", item["labelId"], item)
    page = make_provider(recorder).fetch_for_event(tokens(), event)
    assert list(page.items) == [item]
    assert page.api_calls == 0
    assert recorder.requests == []
    empty = make_provider(recorder).fetch_for_event(
        tokens(), WebhookEvent(OPEN_ID, "deauthorized", None, {})
    )
    assert (list(empty.items), empty.api_calls) == ([], 0)


# --- against the fake partner API -----------------------------------------------------------------


def connected_fake() -> tuple[FakeCoros, CorosProvider, TokenSet]:
    fake = FakeCoros()
    access = fake.new_secret("coros-access")
    fake.live_access_tokens.add(access)
    provider = CorosProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    return fake, provider, TokenSet(access_token=access, provider_user_id=fake.provider_user_id)


def test_fake_backfill_over_many_windows_returns_each_workout_once() -> None:
    fake, provider, user_tokens = connected_fake()
    start = utc(2026, 1, 1, 5)
    # One workout every 19 hours for 200 days, in zones from UTC-10 to UTC+14.
    for n in range(250):
        begins = start + timedelta(hours=19 * n)
        zone = [-40, -20, 0, 4, 32, 56][n % 6]
        fake.activities.append(
            fake.make_workout(n, startTime=int(begins.timestamp()), startTimezone=zone)
        )
    window_start, window_end = utc(2026, 1, 1), utc(2026, 7, 21)
    step = CorosProvider.max_window
    assert step is not None
    seen: list[str] = []
    calls = 0
    windows_start = window_start
    while windows_start < window_end:
        window = SyncWindow(windows_start, min(window_end, windows_start + step))
        cursor = None
        while True:
            page = provider.fetch_activities(user_tokens, window, cursor)
            calls += page.api_calls
            seen.extend(item["labelId"] for item in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        windows_start = window.end
    assert sorted(seen) == sorted(w["labelId"] for w in fake.activities)
    assert len(seen) == len(set(seen)) == 250
    # Every request stayed within the fake's 30-date limit (it would have refused otherwise).
    assert fake.sport_list_calls == calls
    for request in fake.requests:
        first = date.fromisoformat(request.url.params["startDate"])
        last = date.fromisoformat(request.url.params["endDate"])
        assert (last - first).days + 1 <= 30


def test_fake_refuses_a_dead_token_inside_an_http_200() -> None:
    fake, provider, user_tokens = connected_fake()
    fake.live_access_tokens.clear()
    with pytest.raises(ProviderError, match="result 1003") as raised:
        provider.fetch_activities(user_tokens, WINDOW, None)
    assert user_tokens.access_token not in str(raised.value)


def test_fake_webhook_to_page_end_to_end() -> None:
    fake, provider, user_tokens = connected_fake()
    headers, body, query = fake.signed_webhook()
    request = WebhookRequest("POST", headers, query, body)
    provider.verify_webhook(request)
    (event,) = provider.parse_webhook(request)
    page = provider.fetch_for_event(user_tokens, event)
    assert [item["labelId"] for item in page.items] == [event.object_id]
    assert page.items[0]["calorie"] == 702000  # cal, normalised to kcal in SQL
