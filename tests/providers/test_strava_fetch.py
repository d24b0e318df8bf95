"""StravaProvider.fetch_activities / fetch_for_event over httpx.MockTransport: pages of 200 with
after/before against the fake Strava (tests/fakes/strava.py), webhook detail fetches, deletes,
rate-limit observations from X-RateLimit-* / X-ReadRateLimit-* headers, 429 and error shapes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.strava import FakeStrava
from trainlytics.errors import (
    BadPayloadError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    TokenRevokedError,
)
from trainlytics.providers.base import (
    RateLimitObservation,
    SyncWindow,
    TokenSet,
    WebhookEvent,
    WebhookRequest,
)
from trainlytics.providers.strava import (
    RATE_LIMIT_BUCKETS,
    StravaProvider,
    rate_limit_observations,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "strava"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ALL_TIME = SyncWindow(datetime(2009, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def connected(fake: FakeStrava) -> tuple[StravaProvider, TokenSet]:
    provider = StravaProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    query = fake.callback("state")
    tokens = provider.exchange_code(code=query["code"], code_verifier=None, callback_query=query)
    return provider, tokens


def sync_all(
    provider: StravaProvider, tokens: TokenSet, window: SyncWindow
) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    cursor = None
    calls = 0
    while True:
        page = provider.fetch_activities(tokens, window, cursor)
        items.extend(dict(i) for i in page.items)
        calls += page.api_calls
        if page.next_cursor is None:
            return items, calls
        cursor = page.next_cursor


def test_class_settings() -> None:
    assert StravaProvider.rate_limit_buckets == RATE_LIMIT_BUCKETS
    assert {b: (lim, w) for b, lim, w in RATE_LIMIT_BUCKETS} == {
        "strava:overall:15min": (200, 900),
        "strava:overall:daily": (2000, 86400),
        "strava:read:15min": (100, 900),
        "strava:read:daily": (1000, 86400),
    }
    assert StravaProvider.max_window is None
    assert StravaProvider.backfill_horizon is None


def test_backfill_pages_of_200_cover_every_activity_once() -> None:
    fake = FakeStrava()
    for n in range(450):
        fake.add_activity(1000 + n, T0 + timedelta(hours=7 * n))
    provider, tokens = connected(fake)
    items, calls = sync_all(provider, tokens, ALL_TIME)
    ids = [i["id"] for i in items]
    assert set(ids) == {1000 + n for n in range(450)}
    assert calls == 3  # 200 + 200 + 50
    assert len(ids) - len(set(ids)) <= 2  # at most the boundary item is seen twice
    lists = [r for r in fake.requests if r.url.path == "/api/v3/athlete/activities"]
    for request in lists:
        assert request.url.params["per_page"] == "200"
        assert request.headers["authorization"] == f"Bearer {tokens.access_token}"
    assert all(i["resource_state"] == 2 and "calories" not in i for i in items)


def test_window_bounds_are_sent_and_respected() -> None:
    fake = FakeStrava()
    fake.add_activity(1, T0 - timedelta(seconds=1))
    fake.add_activity(2, T0)  # on the window's start: inside
    fake.add_activity(3, T0 + timedelta(days=1))
    fake.add_activity(4, T0 + timedelta(days=2))  # on the window's end: the next window's
    provider, tokens = connected(fake)
    window = SyncWindow(T0, T0 + timedelta(days=2))
    page = provider.fetch_activities(tokens, window, None)
    request = fake.requests[-1]
    assert int(request.url.params["after"]) == int(T0.timestamp()) - 1
    assert int(request.url.params["before"]) == int(window.end.timestamp()) + 1
    assert request.url.params["page"] == "1"
    ids = {i["id"] for i in page.items}
    assert {2, 3} <= ids
    assert 1 not in ids
    assert page.next_cursor is None
    assert page.deleted_external_ids == ()
    assert page.pending is False


def test_deleted_while_paging_is_not_skipped() -> None:
    """Keyset paging: deleting an already-listed activity cannot shift an unseen one past."""
    fake = FakeStrava()
    for n in range(400):
        fake.add_activity(n + 1, T0 + timedelta(hours=n))
    provider, tokens = connected(fake)
    first = provider.fetch_activities(tokens, ALL_TIME, None)
    assert len(first.items) == 200
    assert first.next_cursor is not None
    del fake.activities[:50]  # the athlete deletes 50 listed activities
    seen = {i["id"] for i in first.items}
    cursor: Mapping[str, Any] | None = first.next_cursor
    while cursor is not None:
        page = provider.fetch_activities(tokens, ALL_TIME, cursor)
        seen |= {i["id"] for i in page.items}
        cursor = page.next_cursor
    assert seen >= {a["id"] for a in fake.activities}


def test_same_second_full_page_falls_back_to_page_numbers() -> None:
    fake = FakeStrava()
    for n in range(250):
        fake.add_activity(n + 1, T0)  # all at one second (a bulk manual import)
    provider, tokens = connected(fake)
    items, calls = sync_all(provider, tokens, ALL_TIME)
    assert {i["id"] for i in items} == set(range(1, 251))
    # keyset to the shared second (the same 200 again), then page 2 of that second: finite.
    assert calls == 3


def test_descending_page_falls_back_to_page_numbers() -> None:
    """Should Strava not list oldest first, paging by page number still covers everything."""
    pages: dict[str, list[dict[str, Any]]] = {}
    everything = [
        {"id": n, "start_date": (T0 + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        for n in range(300, 0, -1)
    ]
    pages["1"], pages["2"] = everything[:200], everything[200:]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages.get(request.url.params["page"], []))

    provider = StravaProvider(FakeStrava().credentials, httpx.Client(transport=_mock(handler)))
    tokens = TokenSet(access_token="a")  # noqa: S106 - test value
    first = provider.fetch_activities(tokens, ALL_TIME, None)
    assert first.next_cursor == {"after": int(ALL_TIME.start.timestamp()) - 1, "page": 2}
    second = provider.fetch_activities(tokens, ALL_TIME, first.next_cursor)
    assert len(first.items) + len(second.items) == 300
    assert second.next_cursor is None


def test_empty_history() -> None:
    provider, tokens = connected(FakeStrava())
    page = provider.fetch_activities(tokens, ALL_TIME, None)
    assert list(page.items) == []
    assert page.next_cursor is None
    assert page.api_calls == 1


# --- rate limits ---------------------------------------------------------------------------------


def test_rate_limit_observations_from_headers() -> None:
    fake = FakeStrava()
    fake.add_activity(1, T0)
    provider, tokens = connected(fake)
    provider.fetch_activities(tokens, ALL_TIME, None)
    page = provider.fetch_activities(tokens, ALL_TIME, None)
    assert set(page.rate_limits) == {
        RateLimitObservation("strava:overall:15min", 2, 200, 900),
        RateLimitObservation("strava:overall:daily", 2, 2000, 86400),
        RateLimitObservation("strava:read:15min", 2, 100, 900),
        RateLimitObservation("strava:read:daily", 2, 1000, 86400),
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, set()),
        ({"X-RateLimit-Limit": "600,30000", "X-RateLimit-Usage": "314,27536"}, {
            RateLimitObservation("strava:overall:15min", 314, 600, 900),
            RateLimitObservation("strava:overall:daily", 27536, 30000, 86400),
        }),
        ({"x-readratelimit-limit": "100,1000", "x-readratelimit-usage": "7, 93"}, {
            RateLimitObservation("strava:read:15min", 7, 100, 900),
            RateLimitObservation("strava:read:daily", 93, 1000, 86400),
        }),
        ({"X-RateLimit-Limit": "200", "X-RateLimit-Usage": "1,2"}, set()),
        ({"X-RateLimit-Limit": "a,b", "X-RateLimit-Usage": "1,2"}, set()),
        ({"X-RateLimit-Limit": "200,2000"}, set()),
    ],
)  # fmt: skip
def test_rate_limit_header_parsing(
    headers: dict[str, str], expected: set[RateLimitObservation]
) -> None:
    assert set(rate_limit_observations(headers)) == expected


def test_429_waits_for_the_next_quarter_hour() -> None:
    fake = FakeStrava()
    provider, tokens = connected(fake)
    fake.rate_limits["read"] = (100, 1000)
    fake.usage["read"] = [100, 400]
    with pytest.raises(RateLimitedError) as caught:
        provider.fetch_activities(tokens, ALL_TIME, None)
    assert 0 < (caught.value.retry_after or 0) <= 900
    assert caught.value.rate_limit_headers is not None
    assert caught.value.rate_limit_headers["x-readratelimit-usage"] == "101,401"


def test_429_with_spent_daily_quota_waits_until_midnight_utc() -> None:
    fake = FakeStrava()
    provider, tokens = connected(fake)
    fake.usage["overall"] = [3, 2000]
    with pytest.raises(RateLimitedError) as caught:
        provider.fetch_activities(tokens, ALL_TIME, None)
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert caught.value.retry_after == pytest.approx((midnight - now).total_seconds(), abs=5)


# --- errors --------------------------------------------------------------------------------------


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


def _provider_answering(response: httpx.Response) -> StravaProvider:
    return StravaProvider(
        FakeStrava().credentials, httpx.Client(transport=_mock(lambda _: response))
    )


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401, json=json.loads((FIXTURES / "error_authorization.json").read_text())),
         TokenRevokedError),
        (httpx.Response(403, json={"message": "Forbidden", "errors": []}), ProviderError),
        (httpx.Response(500, text="oops"), ProviderUnavailableError),
        (httpx.Response(503), ProviderUnavailableError),
        (httpx.Response(200, text="<html>"), BadPayloadError),
        (httpx.Response(200, json={"message": "not a list"}), BadPayloadError),
        (httpx.Response(200, json=[{"id": 1}, "x"]), BadPayloadError),
    ],
)  # fmt: skip
def test_list_errors(response: httpx.Response, error: type[Exception]) -> None:
    provider = _provider_answering(response)
    with pytest.raises(error):
        provider.fetch_activities(TokenSet(access_token="secret-access"), ALL_TIME, None)  # noqa: S106


def test_timeout_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    provider = StravaProvider(FakeStrava().credentials, httpx.Client(transport=_mock(handler)))
    with pytest.raises(ProviderUnavailableError):
        provider.fetch_activities(TokenSet(access_token="a"), ALL_TIME, None)  # noqa: S106


# --- webhook events -------------------------------------------------------------------------------


def event_of(fake: FakeStrava, kind: str) -> WebhookEvent:
    headers, body, query = fake.signed_webhook(kind)
    provider = StravaProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    (event,) = provider.parse_webhook(WebhookRequest("POST", headers, query, body))
    return event


@pytest.mark.parametrize("kind", ["activity_created", "activity_updated"])
def test_create_and_update_fetch_the_detail(kind: str) -> None:
    fake = FakeStrava()
    fake.add_activity(
        fake.activity_id, T0, name="Tempo along the Elster", private=True, description="Hard."
    )
    provider, tokens = connected(fake)
    page = provider.fetch_for_event(tokens, event_of(fake, kind))
    (item,) = page.items
    assert item["id"] == fake.activity_id
    assert item["name"] == "Tempo along the Elster"
    assert item["private"] is True
    assert item["description"] == "Hard."
    assert item["calories"] == 700.0
    assert page.api_calls == 1
    assert page.deleted_external_ids == ()
    assert len(page.rate_limits) == 4
    assert fake.requests[-1].url.path == f"/api/v3/activities/{fake.activity_id}"


def test_a_forged_strava_delete_event_deletes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """Strava events are unsigned: anyone who learns the subscription id can claim a delete.
    The claim is checked with Strava; an activity Strava still serves is not deleted."""
    fake = FakeStrava()
    fake.add_activity(fake.activity_id, T0)  # still at Strava
    provider, tokens = connected(fake)
    before = len(fake.requests)
    with caplog.at_level("WARNING", logger="trainlytics"):
        page = provider.fetch_for_event(tokens, event_of(fake, "activity_deleted"))
    assert list(page.deleted_external_ids) == []
    assert list(page.items) == []
    assert page.api_calls == 1
    assert len(page.rate_limits) == 4  # the confirmation is charged to the shared limiter
    (asked,) = fake.requests[before:]
    assert asked.url.path == f"/api/v3/activities/{fake.activity_id}"
    assert asked.headers["authorization"] == f"Bearer {tokens.access_token}"
    assert "NOT confirmed" in caplog.text


def test_a_genuine_strava_delete_is_confirmed_by_strava_404() -> None:
    fake = FakeStrava()
    fake.add_activity(fake.activity_id, T0)
    fake.delete_activity(fake.activity_id)  # the athlete deleted it at Strava
    provider, tokens = connected(fake)
    before = len(fake.requests)
    page = provider.fetch_for_event(tokens, event_of(fake, "activity_deleted"))
    assert list(page.deleted_external_ids) == [str(fake.activity_id)]
    assert list(page.items) == []
    assert page.api_calls == 1
    (asked,) = fake.requests[before:]
    assert asked.url.path == f"/api/v3/activities/{fake.activity_id}"


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(503), ProviderUnavailableError),
        (httpx.Response(429, json={"message": "Rate Limit Exceeded"}), RateLimitedError),
        (
            httpx.Response(
                401, json=json.loads((FIXTURES / "error_authorization.json").read_text())
            ),
            TokenRevokedError,
        ),
        (httpx.Response(403, json={"message": "Forbidden"}), ProviderError),
    ],
)
def test_a_delete_strava_cannot_confirm_is_never_applied(
    response: httpx.Response, error: type[Exception]
) -> None:
    """No answer is not a 404: the event fails (5xx/429 transient, retried by the queue)."""
    provider = _provider_answering(response)
    event = WebhookEvent("1", "activity_deleted", "16327730912", {})
    with pytest.raises(error):
        provider.fetch_for_event(TokenSet(access_token="a"), event)  # noqa: S106


def test_an_event_naming_another_athletes_activity_ingests_nothing() -> None:
    """A forged create naming an activity Strava serves but that belongs to someone else."""
    fake = FakeStrava()
    fake.add_activity(fake.activity_id, T0, athlete={"id": 777, "resource_state": 1})
    provider, tokens = connected(fake)
    page = provider.fetch_for_event(tokens, event_of(fake, "activity_created"))
    assert list(page.items) == []
    assert list(page.deleted_external_ids) == []


def test_update_of_a_vanished_activity_is_a_delete() -> None:
    fake = FakeStrava()  # the activity is not there (deleted right after the update)
    provider, tokens = connected(fake)
    page = provider.fetch_for_event(tokens, event_of(fake, "activity_updated"))
    assert list(page.items) == []
    assert list(page.deleted_external_ids) == [str(fake.activity_id)]
    assert page.api_calls == 1


def test_deauthorization_has_nothing_to_ingest() -> None:
    fake = FakeStrava()
    provider, tokens = connected(fake)
    page = provider.fetch_for_event(tokens, event_of(fake, "deauthorized"))
    assert list(page.items) == []
    assert list(page.deleted_external_ids) == []
    assert page.api_calls == 0


def test_detail_of_another_activity_is_rejected() -> None:
    provider = _provider_answering(httpx.Response(200, json={"id": 999, "name": "other"}))
    event = WebhookEvent("1", "activity_updated", "16327730912", {})
    with pytest.raises(BadPayloadError):
        provider.fetch_for_event(TokenSet(access_token="a"), event)  # noqa: S106


def test_no_secret_in_errors() -> None:
    provider = _provider_answering(httpx.Response(403, json={"message": "secret-access"}))
    with pytest.raises(ProviderError) as caught:
        provider.fetch_activities(TokenSet(access_token="secret-access"), ALL_TIME, None)  # noqa: S106
    assert "secret-access" not in str(caught.value)
