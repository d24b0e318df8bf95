"""The stream job end to end: for each provider with streams, a fake that serves the documented
streams endpoint or activity file (at the transport), activities stored by the real ingest from
documented payloads, and a run that fills ``public.activity_streams`` and records every outcome
in ``public.activity_stream_fetches`` — within the provider's rate budget (the job takes only
its share of each bucket and defers; a 429 defers it too), never touching a sync run, and
fetching each Strava activity with its owner's token only.

Fake rules and payloads: ``fixtures/providers/<provider>/PROVENANCE.md`` ("Streams")."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.fakes.coros import FakeCoros
from tests.fakes.fitbit import FakeFitbit
from tests.fakes.garmin import FakeGarmin
from tests.fakes.polar import FakePolar
from tests.fakes.strava import FakeStrava
from tests.fakes.wahoo import FakeWahoo
from tests.sync.engine_support import admin, pool, sync_database_url
from tests.sync.ingest_support import ingest, make_connection, strava_activity
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.errors import GatewayError
from trainlytics.providers.base import Provider, TokenSet, WebhookRequest
from trainlytics.providers.coros import CorosProvider
from trainlytics.providers.fitbit import FitbitProvider
from trainlytics.providers.garmin import GarminProvider
from trainlytics.providers.polar import PolarProvider
from trainlytics.providers.strava import StravaProvider, seconds_to_next_window
from trainlytics.providers.streams_fitbit import SCOPE_HEART_RATE
from trainlytics.providers.wahoo import WahooProvider
from trainlytics.sync import jobs
from trainlytics.sync.engine import SyncEngine, SyncOutcome
from trainlytics.sync.rate_limits import RateLimiter, buckets_for
from trainlytics.sync.streams import StreamSync

__all__ = ["admin", "pool", "sync_database_url"]

Conn = psycopg.Connection[Any]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PROVIDERS = FIXTURES / "providers"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
RUN_FIT = (FIXTURES / "files" / "garmin-fenix-5-run.fit").read_bytes()
BIKE_FIT = (FIXTURES / "files" / "garmin-fenix-5-bike.fit").read_bytes()


def _fixture(path: str) -> Any:
    return json.loads((PROVIDERS / path).read_text())


# --- the fakes (rules: fixtures/providers/*/PROVENANCE.md, "Streams") -------------------------


@dataclass
class Api:
    """One MockTransport for everything the stream job may reach, with every request kept."""

    routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = field(
        default_factory=dict
    )
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for (host, prefix), route in self.routes.items():
            if request.url.host == host and request.url.path.startswith(prefix):
                return route(request)
        return httpx.Response(404, json={"message": "Not Found"})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))


@dataclass
class StravaStreamsFake:
    """``GET /api/v3/activities/{id}/streams``: bearer token required (401 otherwise),
    ``key_by_type=true`` required, ``keys`` selects the types returned, unknown activity →
    404 ``Record Not Found``; every answer carries ``X-RateLimit-*``/``X-ReadRateLimit-*``."""

    streams: dict[int, dict[str, Any]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    used: int = 0
    status: dict[int, int] = field(default_factory=dict)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.used += 1
        headers = {
            "X-RateLimit-Limit": "200,2000",
            "X-RateLimit-Usage": f"{self.used},{self.used}",
            "X-ReadRateLimit-Limit": "100,1000",
            "X-ReadRateLimit-Usage": f"{self.used},{self.used}",
        }
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return httpx.Response(
                401,
                json={
                    "message": "Authorization Error",
                    "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
                },
                headers=headers,
            )
        activity_id = int(request.url.path.split("/")[4])
        forced = self.status.get(activity_id)
        if forced == 429:
            headers["X-ReadRateLimit-Usage"] = "100,100"
            return httpx.Response(
                429,
                json={
                    "message": "Rate Limit Exceeded",
                    "errors": [
                        {"resource": "Application", "field": "rate limit", "code": "exceeded"}
                    ],
                },
                headers=headers,
            )
        if forced:
            return httpx.Response(forced, text="<html>error</html>")
        if request.url.params.get("key_by_type") != "true":
            return httpx.Response(400, json={"message": "Bad Request"}, headers=headers)
        found = self.streams.get(activity_id)
        if found is None:
            return httpx.Response(
                404,
                json={
                    "message": "Record Not Found",
                    "errors": [{"resource": "Activity", "field": "id", "code": "invalid"}],
                },
                headers=headers,
            )
        keys = set(request.url.params.get("keys", "").split(","))
        body = {k: v for k, v in found.items() if k in keys or k == "distance"}
        return httpx.Response(200, json=body, headers=headers)


class Tokens:
    def __init__(self, by_connection: dict[int, TokenSet] | None = None, **defaults: Any) -> None:
        self.by_connection = by_connection or {}
        self.defaults = defaults
        self.asked: list[int] = []

    def valid_tokens(self, connection_id: int) -> TokenSet:
        self.asked.append(connection_id)
        return self.by_connection.get(connection_id) or TokenSet(
            access_token=self.defaults.get("access_token", "stream-test-token"),
            scopes=self.defaults.get("scopes"),
        )


def _sync(pool: ConnectionPool[Any], providers: dict[str, Provider], tokens: Tokens) -> StreamSync:
    return StreamSync(
        PsycopgGateway(pool, role="service_role"), tokens, providers, clock=lambda: NOW
    )


def _fetches(admin: Conn, connection_id: int) -> dict[str, tuple[str, int, str | None]]:
    rows = admin.execute(
        "select a.external_id, f.status, f.attempts, f.last_error"
        " from public.activity_stream_fetches as f join public.activities as a"
        " on a.id = f.activity_id where f.connection_id = %s",
        [connection_id],
    ).fetchall()
    return {str(r[0]): (str(r[1]), int(r[2]), r[3]) for r in rows}


def _streams(admin: Conn, connection_id: int) -> dict[str, dict[str, Any]]:
    cur = admin.execute(
        "select a.external_id, s.* from public.activity_streams as s"
        " join public.activities as a on a.id = s.activity_id where a.connection_id = %s",
        [connection_id],
    )
    names = [d.name for d in cur.description or []]
    return {str(r[0]): dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def _strava(api: Api, fake: FakeStrava | None = None) -> StravaProvider:
    """A Strava provider on ``api`` whose buckets are this test's own (the module's tests
    share one database, and Strava's buckets are per application)."""
    fake = fake or FakeStrava()
    provider = StravaProvider(fake.credentials, api.client())
    prefix = f"strava:test:{uuid.uuid4().hex[:8]}"
    buckets = tuple(
        (name.replace("strava:", f"{prefix}:"), limit, seconds)
        for name, limit, seconds in StravaProvider.rate_limit_buckets
    )
    setattr(provider, "rate_limit_buckets", buckets)  # noqa: B010 - a ClassVar, per test
    return provider


# --- Strava ------------------------------------------------------------------------------------


def test_strava_streams_fill_activity_streams_and_record_every_outcome(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    connection_id, user_id = make_connection(admin, "strava")
    ingest(
        admin,
        connection_id,
        [
            strava_activity(9101),
            strava_activity(9102),
            strava_activity(9103, manual=True),
            strava_activity(9104),
        ],
    )
    fake = StravaStreamsFake(tokens={"stream-test-token"})
    fake.streams[9101] = _fixture("strava/streams_key_by_type.json")
    fake.streams[9102] = _fixture("strava/streams_key_by_type.json")
    api = Api({("www.strava.com", "/api/v3/activities/"): fake})

    outcome = _sync(pool, {"strava": _strava(api)}, Tokens()).run(connection_id)

    assert (outcome.fetched, outcome.unavailable, outcome.failed) == (2, 1, 0)
    assert outcome.remaining == 0
    assert outcome.deferred_until is None
    # The manual activity is never asked for; each other one once, keyed by type.
    asked = sorted(int(r.url.path.split("/")[4]) for r in api.requests)
    assert asked == [9101, 9102, 9104]
    assert all(r.url.params["key_by_type"] == "true" for r in api.requests)
    fetches = _fetches(admin, connection_id)
    assert fetches["9101"][:2] == ("fetched", 0)
    assert fetches["9104"][0] == "unavailable"
    assert "404" in str(fetches["9104"][2])
    assert "9103" not in fetches
    stored = _streams(admin, connection_id)
    assert set(stored) == {"9101", "9102"}
    assert stored["9101"]["sample_count"] == 6
    assert stored["9101"]["source"] == "strava"
    assert stored["9101"]["user_id"] == user_id
    assert list(stored["9101"]["heart_rate"]) == [85, 88, 91, 93, 96, 96]
    # A second run has nothing left to fetch: no request.
    before = len(api.requests)
    again = _sync(pool, {"strava": _strava(api)}, Tokens()).run(connection_id)
    assert (again.fetched, again.unavailable, len(api.requests)) == (0, 0, before)


def test_strava_streams_are_fetched_with_each_owners_token_only(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    alice, alice_user = make_connection(admin, "strava")
    bob, bob_user = make_connection(admin, "strava")
    ingest(admin, alice, [strava_activity(9201)])
    ingest(admin, bob, [strava_activity(9202)])
    fake = StravaStreamsFake(tokens={"alice-token", "bob-token"})
    fake.streams[9201] = _fixture("strava/streams_key_by_type.json")
    fake.streams[9202] = _fixture("strava/streams_key_by_type.json")
    api = Api({("www.strava.com", "/api/v3/activities/"): fake})
    tokens = Tokens(
        {
            alice: TokenSet(access_token="alice-token"),  # noqa: S106 - test values
            bob: TokenSet(access_token="bob-token"),  # noqa: S106
        }
    )
    sync = _sync(pool, {"strava": _strava(api)}, tokens)

    assert sync.run(alice).fetched == 1
    assert sync.run(bob).fetched == 1

    used = {
        int(r.url.path.split("/")[4]): r.headers["authorization"].removeprefix("Bearer ")
        for r in api.requests
    }
    assert used == {9201: "alice-token", 9202: "bob-token"}
    assert _streams(admin, alice)["9201"]["user_id"] == alice_user
    assert _streams(admin, bob)["9202"]["user_id"] == bob_user
    assert "9202" not in _streams(admin, alice)


def test_stream_job_leaves_the_summary_share_of_stravas_budget(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    """After the summary sync used 48 of the 100 reads of this quarter hour, the stream job
    (share 0.5) fetches 2 and defers to the window's end instead of spending the rest; the
    summary sync still gets its requests."""
    # The counts below live in one 15-minute window: do not start just before it ends.
    to_window_end = seconds_to_next_window(datetime.now(UTC))
    if to_window_end < 30:
        time.sleep(to_window_end + 1)
    connection_id, _ = make_connection(admin, "strava")
    ids = list(range(9301, 9306))
    ingest(admin, connection_id, [strava_activity(i) for i in ids])
    fake = StravaStreamsFake(tokens={"stream-test-token"})
    fake.streams.update({i: _fixture("strava/streams_key_by_type.json") for i in ids})
    # Without usage headers: the limiter's own count is what this test follows.
    api = Api({("www.strava.com", "/api/v3/activities/"): _without_rate_headers(fake)})
    provider = _strava(api)
    gateway = PsycopgGateway(pool, role="service_role")
    bucket_prefix = f"strava:test:{uuid.uuid4().hex[:8]}"
    buckets = (
        (f"{bucket_prefix}:read:15min", 100, 900),
        (f"{bucket_prefix}:read:daily", 1000, 86400),
    )
    setattr(provider, "rate_limit_buckets", buckets)  # noqa: B010 - a ClassVar, per test
    summary = RateLimiter(gateway, max_wait=0.0)
    for _ in range(48):
        summary.acquire("strava", buckets_for(provider, "1"))

    outcome = _sync(pool, {"strava": provider}, Tokens()).run(connection_id)

    assert outcome.fetched == 2
    assert outcome.deferred_until is not None
    assert outcome.deferred_until > datetime.now(UTC)
    assert outcome.deferred_until - datetime.now(UTC) <= timedelta(minutes=15)
    assert outcome.remaining == 3
    assert len(api.requests) == 2
    assert len(_fetches(admin, connection_id)) == 2  # deferred ones are not charged
    # The summary sync's part of the bucket is intact: 50 more reads are granted to it.
    for _ in range(50):
        summary.acquire("strava", buckets_for(provider, "1"))
    used = admin.execute(
        "select used from private.rate_limit_windows where bucket = %s"
        " order by window_start desc limit 1",
        [f"{bucket_prefix}:read:15min"],
    ).fetchone()
    assert used is not None
    assert used[0] == 100


def _without_rate_headers(
    route: Callable[[httpx.Request], httpx.Response],
) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        answer = route(request)
        headers = {
            k: v for k, v in answer.headers.items() if "ratelimit" not in k.lower().replace("-", "")
        }
        return httpx.Response(answer.status_code, content=answer.content, headers=headers)

    return handle


def test_a_strava_429_defers_the_job_without_charging_the_activity(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    connection_id, _ = make_connection(admin, "strava")
    ingest(admin, connection_id, [strava_activity(9401), strava_activity(9402)])
    fake = StravaStreamsFake(tokens={"stream-test-token"})
    fake.streams[9401] = _fixture("strava/streams_key_by_type.json")
    fake.status[9402] = 429  # the most recent is asked first
    api = Api({("www.strava.com", "/api/v3/activities/"): fake})

    outcome = _sync(pool, {"strava": _strava(api)}, Tokens()).run(connection_id)

    assert outcome.deferred_until is not None
    assert outcome.deferred_until <= NOW + timedelta(minutes=15)
    assert (outcome.fetched, outcome.failed) == (0, 0)
    assert len(api.requests) == 1
    assert _fetches(admin, connection_id) == {}


def test_a_failed_stream_fetch_is_retried_later_and_given_up_after_five(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    connection_id, _ = make_connection(admin, "strava")
    ingest(admin, connection_id, [strava_activity(9501)])
    fake = StravaStreamsFake(tokens={"stream-test-token"})
    fake.status[9501] = 502
    api = Api({("www.strava.com", "/api/v3/activities/"): fake})
    sync = _sync(pool, {"strava": _strava(api)}, Tokens())

    outcome = sync.run(connection_id)

    assert (outcome.failed, outcome.remaining) == (1, 0)
    assert outcome.next_retry_at is not None
    status, attempts, error = _fetches(admin, connection_id)["9501"]
    assert (status, attempts) == ("retrying", 1)
    assert error is not None
    assert "502" in error
    # Not due yet: no request. Then due four more times: given up.
    assert sync.run(connection_id).failed == 0
    for _ in range(4):
        admin.execute(
            "update public.activity_stream_fetches set next_attempt_at = now() - interval '1s'"
            " where connection_id = %s",
            [connection_id],
        )
        sync.run(connection_id)
    assert _fetches(admin, connection_id)["9501"][:2] == ("failed", 5)
    assert len(api.requests) == 5
    # Surfaced per connection (the view the frontend reads under RLS).
    summary = admin.execute(
        "select fetched, retrying, failed, last_error from public.stream_fetch_summary"
        " where connection_id = %s",
        [connection_id],
    ).fetchone()
    assert summary is not None
    assert summary[:3] == (0, 0, 1)
    assert "502" in summary[3]
    # No sync run was opened or failed by any of this.
    runs = admin.execute(
        "select count(*) from public.sync_history where connection_id = %s", [connection_id]
    ).fetchone()
    assert runs is not None
    assert runs[0] == 0


def test_other_athlete_cannot_read_stream_fetch_outcomes(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    """The owner reads their outcomes; another athlete sees none; nobody but the job writes."""
    alice, alice_user = make_connection(admin, "strava")
    _, eve_user = make_connection(admin, "strava")
    ingest(admin, alice, [strava_activity(9601)])
    fake = StravaStreamsFake(tokens={"stream-test-token"})
    api = Api({("www.strava.com", "/api/v3/activities/"): fake})
    _sync(pool, {"strava": _strava(api)}, Tokens()).run(alice)

    def visible(user: uuid.UUID) -> int:
        with admin.transaction():
            admin.execute("set local role authenticated")
            admin.execute(
                "select set_config('request.jwt.claims', %s, true)",
                [json.dumps({"sub": str(user), "role": "authenticated"})],
            )
            row = admin.execute(
                "select count(*) from public.activity_stream_fetches where connection_id = %s",
                [alice],
            ).fetchone()
            assert row is not None
            return int(row[0])

    assert visible(alice_user) == 1
    assert visible(eve_user) == 0
    with admin.transaction():
        admin.execute("set local role authenticated")
        admin.execute(
            "select set_config('request.jwt.claims', %s, true)",
            [json.dumps({"sub": str(alice_user), "role": "authenticated"})],
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            admin.execute("update public.activity_stream_fetches set status = 'fetched'")


# --- Polar, Wahoo, COROS: FIT files ----------------------------------------------------------


def _fit_route(
    data: bytes, *, bearer: str | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        if bearer is not None and request.headers.get("authorization") != f"Bearer {bearer}":
            return httpx.Response(401, json={"error": "unauthorized"})
        return httpx.Response(200, content=data, headers={"content-type": "*/*"})

    return handle


def test_polar_exercise_fit_fills_streams_within_the_30_day_horizon(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    connection_id, _ = make_connection(admin, "polar")
    recent = _fixture("polar/activities/exercise_detail.json")
    old = {**recent, "id": "bB9xK2", "start_time": "2026-10-01T09:02:55"}
    ingest(admin, connection_id, [recent, old])
    fake = FakePolar()
    api = Api(
        {
            ("www.polaraccesslink.com", f"/v3/exercises/{recent['id']}/fit"): _fit_route(
                RUN_FIT, bearer="stream-test-token"
            )
        }
    )

    outcome = _sync(pool, {"polar": PolarProvider(fake.credentials, api.client())}, Tokens()).run(
        connection_id
    )

    assert outcome.fetched == 1
    assert [r.url.path for r in api.requests] == [f"/v3/exercises/{recent['id']}/fit"]
    stored = _streams(admin, connection_id)
    assert set(stored) == {recent["id"]}
    assert stored[recent["id"]]["source"] == "polar"
    assert stored[recent["id"]]["sample_count"] > 10
    assert stored[recent["id"]]["lat"] is not None
    # the FIT file's own lap, stored beside the streams
    laps = admin.execute(
        "select source, distance_m from public.activity_laps where activity_id = %s",
        [stored[recent["id"]]["activity_id"]],
    ).fetchall()
    assert laps == [("polar", pytest.approx(157.56))]


def test_wahoo_workout_file_is_downloaded_from_wahoos_cdn_without_a_token(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    connection_id, _ = make_connection(admin, "wahoo")
    workout = _fixture("wahoo/activities/workout_road_ride_power.json")
    forged = json.loads(json.dumps(workout))
    forged["id"] = workout["id"] + 1
    forged["workout_summary"]["id"] = workout["workout_summary"]["id"] + 1
    forged["starts"] = "2026-11-21T08:14:05.000Z"
    forged["workout_summary"]["file"]["url"] = "https://attacker.example/steal.fit"
    ingest(admin, connection_id, [workout, forged])
    url = httpx.URL(workout["workout_summary"]["file"]["url"])
    api = Api({(url.host, url.path): _fit_route(BIKE_FIT)})
    fake = FakeWahoo()

    outcome = _sync(pool, {"wahoo": WahooProvider(fake.credentials, api.client())}, Tokens()).run(
        connection_id
    )

    assert (outcome.fetched, outcome.failed) == (1, 1)
    assert [r.url.host for r in api.requests] == ["cdn.wahooligan.com"]
    assert "authorization" not in api.requests[0].headers
    fetches = _fetches(admin, connection_id)
    assert fetches[str(workout["id"])][0] == "fetched"
    assert fetches[str(forged["id"])][0] == "retrying"
    assert "host" in str(fetches[str(forged["id"])][2])
    stored = _streams(admin, connection_id)[str(workout["id"])]
    assert stored["source"] == "wahoo"
    assert stored["heart_rate"] is not None


def test_coros_fit_url_fills_streams(pool: ConnectionPool[Any], admin: Conn) -> None:
    connection_id, _ = make_connection(admin, "coros")
    workout = _fixture("coros/activities/sport_list.json")["data"][0]
    ingest(admin, connection_id, [workout])
    url = httpx.URL(workout["fitUrl"])
    api = Api({(url.host, url.path): _fit_route(RUN_FIT)})
    fake = FakeCoros()

    outcome = _sync(pool, {"coros": CorosProvider(fake.credentials, api.client())}, Tokens()).run(
        connection_id
    )

    assert outcome.fetched == 1
    assert [str(r.url) for r in api.requests] == [workout["fitUrl"]]
    assert _streams(admin, connection_id)[workout["labelId"]]["source"] == "coros"


# --- Google Health -------------------------------------------------------------------------


@dataclass
class HeartRateFake:
    """``GET /v4/users/me/dataTypes/heart-rate/dataPoints``: the filter must be on
    ``heart_rate.sample_time.physical_time`` with ``>=`` and ``<`` and RFC 3339 UTC times
    (else 400 INVALID_ARGUMENT); pages follow ``pageToken``."""

    pages: dict[str | None, Any] = field(default_factory=dict)
    filters: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        text = request.url.params.get("filter", "")
        self.filters.append(text)
        parts = text.split(" AND ")
        ok = len(parts) == 2 and all(
            p.startswith(
                (
                    'heart_rate.sample_time.physical_time >= "',
                    'heart_rate.sample_time.physical_time < "',
                )
            )
            and p.endswith('Z"')
            for p in parts
        )
        if not ok:
            return httpx.Response(
                400,
                json={
                    "error": {"code": 400, "message": "bad filter", "status": "INVALID_ARGUMENT"}
                },
            )
        return httpx.Response(200, json=self.pages[request.url.params.get("pageToken")])


def _google_health_case(
    pool: ConnectionPool[Any], admin: Conn, exercise_fixture: str
) -> tuple[int, Any, Any]:
    connection_id, _ = make_connection(admin, "fitbit")
    ingest(admin, connection_id, [_fixture(exercise_fixture)])
    start = admin.execute(
        "select start_date from public.activities where connection_id = %s", [connection_id]
    ).fetchone()
    assert start is not None
    # The documented points, moved into this exercise's interval.
    first = _fixture("fitbit/heart_rate_data_points.json")
    second = _fixture("fitbit/heart_rate_data_points_page2.json")
    for offset, point in enumerate(first["dataPoints"] + second["dataPoints"]):
        moment = start[0].astimezone(UTC) + timedelta(seconds=5 * offset)
        point["heartRate"]["sampleTime"]["physicalTime"] = moment.isoformat().replace("+00:00", "Z")
    fake = HeartRateFake(pages={None: first, "page-2": second})
    api = Api({("health.googleapis.com", "/v4/users/me/dataTypes/heart-rate/dataPoints"): fake})
    provider = FitbitProvider(FakeFitbit().credentials, api.client())
    outcome = _sync(pool, {"fitbit": provider}, Tokens(scopes=(SCOPE_HEART_RATE,))).run(
        connection_id
    )
    return connection_id, outcome, fake


def test_google_health_heart_rate_fills_a_heart_rate_stream(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    connection_id, outcome, fake = _google_health_case(
        pool, admin, "fitbit/activities/exercise_unknown_type.json"
    )

    assert (outcome.fetched, outcome.api_calls) == (1, 2)
    assert len(fake.filters) == 2
    (stored,) = _streams(admin, connection_id).values()
    assert list(stored["heart_rate"]) == [96, 104, 117, 128]
    assert list(stored["time_s"]) == [0.0, 5.0, 10.0, 15.0]
    assert stored["lat"] is None
    assert stored["cadence"] is None


def test_google_health_heart_rate_of_a_run_without_cadence(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    connection_id, outcome, _ = _google_health_case(
        pool, admin, "fitbit/activities/exercise_run.json"
    )
    assert outcome.fetched == 1
    (stored,) = _streams(admin, connection_id).values()
    assert list(stored["heart_rate"]) == [96, 104, 117, 128]


def test_google_health_without_the_heart_rate_scope_asks_nothing(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    connection_id, _ = make_connection(admin, "fitbit")
    ingest(admin, connection_id, [_fixture("fitbit/activities/exercise_run.json")])
    api = Api()
    provider = FitbitProvider(FakeFitbit().credentials, api.client())
    activity_scope = "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly"

    outcome = _sync(pool, {"fitbit": provider}, Tokens(scopes=(activity_scope,))).run(connection_id)

    assert (outcome.unavailable, outcome.api_calls, api.requests) == (1, 0, [])
    ((status, _, error),) = _fetches(admin, connection_id).values()
    assert status == "unavailable"
    assert "scope" in str(error)


# --- the job -----------------------------------------------------------------------------------


def test_stream_job_runs_in_its_own_low_priority_queue(
    pool: ConnectionPool[Any], admin: Conn, sync_database_url: str
) -> None:
    connection_id, _ = make_connection(admin, "strava")
    ingest(admin, connection_id, [strava_activity(9701)])
    fake = StravaStreamsFake(tokens={"stream-test-token"})
    fake.streams[9701] = _fixture("strava/streams_key_by_type.json")
    api = Api({("www.strava.com", "/api/v3/activities/"): fake})
    gateway = PsycopgGateway(pool, role="service_role")
    queue = jobs.JobQueue(gateway)
    assert queue.enqueue_streams(connection_id).queued
    assert not queue.enqueue_streams(connection_id).queued  # one waiting per connection
    row = admin.execute(
        "select queue_name, priority, lock from queue.procrastinate_jobs"
        " where task_name = %s and (args->>'connection_id')::bigint = %s",
        [jobs.FETCH_STREAMS, connection_id],
    ).fetchone()
    assert row == ("streams", -10, f"fetch_streams:{connection_id}")

    @dataclass
    class Engine:
        gateway: Any
        tokens: Any
        providers: Any

    app = jobs.build_app(sync_database_url)
    app.run_worker(
        queues=["streams"],
        wait=False,
        install_signal_handlers=False,
        additional_context={"engine": Engine(gateway, Tokens(), {"strava": _strava(api)})},
    )
    statuses = admin.execute(
        "select status::text from queue.procrastinate_jobs"
        " where task_name = %s and (args->>'connection_id')::bigint = %s",
        [jobs.FETCH_STREAMS, connection_id],
    ).fetchall()
    assert [s[0] for s in statuses] == ["succeeded"]
    assert set(_streams(admin, connection_id)) == {"9701"}


# --- Garmin: samples inside an activityDetails ping callback --------------------------------


def test_garmin_activity_details_callback_stores_the_samples_as_streams(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    """A ping names an ``activityDetails`` callback (the only way Garmin delivers samples);
    the sync stores the summary and, beside it, the samples of the athlete's own items —
    not those of an item of another Garmin user, which the sync refuses."""
    fake = FakeGarmin()
    connection_id, _ = make_connection(admin, "garmin")
    admin.execute(
        "update public.provider_connections set provider_user_id = %s where id = %s",
        [fake.provider_user_id, connection_id],
    )
    body = _fixture("garmin/webhook_activity_details_push.json")["activityDetails"]
    mine = {**body[0], "userId": fake.provider_user_id}
    other = {**body[0], "userId": "someone-else", "activityId": 21873461299}
    token = "CPT-details-1"  # noqa: S105 - a test value
    fake.issued_pull_tokens.add(token)
    callback = (
        "https://apis.garmin.com/wellness-api/rest/activityDetails"
        f"?uploadStartTimeInSeconds=1795672700&uploadEndTimeInSeconds=1795676400&token={token}"
    )

    def details(request: httpx.Request) -> httpx.Response:
        # The callback serves the items of the pinged upload window once, as a JSON array
        # (the push body's list); the bearer token and the ping's pull token are required.
        if request.headers.get("authorization") != "Bearer stream-test-token":
            return httpx.Response(401, json={"errorMessage": "Unauthorized"})
        if request.url.params.get("token") != token:
            return httpx.Response(400, json={"errorMessage": "InvalidPullTokenException failure"})
        return httpx.Response(200, json=[mine, other])

    api = Api({("apis.garmin.com", "/wellness-api/rest/activityDetails"): details})
    provider = GarminProvider(fake.credentials, api.client())
    ping = {"activityDetails": [{"userId": fake.provider_user_id, "callbackURL": callback}]}
    request = WebhookRequest(
        "POST", {"garmin-client-id": fake.credentials.client_id}, {}, json.dumps(ping).encode()
    )
    (event,) = provider.parse_webhook(request)
    tokens = Tokens(
        {
            connection_id: TokenSet(
                access_token="stream-test-token",  # noqa: S106 - a test value
                provider_user_id=fake.provider_user_id,
            )
        }
    )
    engine = SyncEngine(PsycopgGateway(pool, role="service_role"), tokens, {"garmin": provider})

    outcome = engine.process_event(connection_id, event)

    assert (outcome.created, outcome.failed) == (1, 1)  # the other user's item is refused
    assert (outcome.streams_stored, outcome.streams_failed) == (1, 0)
    stored = _streams(admin, connection_id)
    assert set(stored) == {"21873461203"}
    assert stored["21873461203"]["source"] == "garmin"
    assert list(stored["21873461203"]["time_s"]) == [0.0, 5.0]
    assert list(stored["21873461203"]["heart_rate"]) == [118, 121]
    # stepsPerMinute halved to strides, doubled back to steps by the store for a run.
    assert list(stored["21873461203"]["cadence"]) == [164.0, 168.0]
    assert _fetches(admin, connection_id)["21873461203"][0] == "fetched"


def test_a_sync_queues_the_stream_job_and_never_fails_for_it(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    connection_id, _ = make_connection(admin, "strava")
    real = PsycopgGateway(pool, role="service_role")

    class Broken:
        def call(self, function: str, args: Any) -> list[dict[str, Any]]:
            raise GatewayError(function, "the queue is unavailable")

    @dataclass
    class Engine:
        gateway: Any

        def run(self, connection_id: int, trigger: str) -> SyncOutcome:
            return SyncOutcome(connection_id, "success", provider="strava", created=3)

    @dataclass
    class Context:
        additional_context: dict[str, Any]

    # The queue failing does not fail the sync job.
    jobs.sync_connection(Context({"engine": Engine(Broken())}), connection_id, "manual")  # type: ignore[arg-type]
    jobs.sync_connection(Context({"engine": Engine(real)}), connection_id, "manual")  # type: ignore[arg-type]
    queued = admin.execute(
        "select queue_name, priority from queue.procrastinate_jobs"
        " where task_name = %s and (args->>'connection_id')::bigint = %s",
        [jobs.FETCH_STREAMS, connection_id],
    ).fetchall()
    assert queued == [("streams", -10)]


def test_coros_expired_fit_link_is_renewed_through_sport_detail_fit(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    """The pushed ``fitUrl`` is a signed link that may expire (403): a fresh one comes from
    ``GET /v2/coros/sport/detail/fit`` (COROS envelope, ``data.fitUrl``)."""
    connection_id, _ = make_connection(admin, "coros")
    workout = _fixture("coros/activities/sport_list.json")["data"][0]
    ingest(admin, connection_id, [workout])
    expired = httpx.URL(workout["fitUrl"])
    fresh = "https://oss.coros.com/fit/fresh/479215730485462016.fit?signature=renewed"
    asked: list[dict[str, str]] = []

    def detail(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        if request.url.params.get("token") != "stream-test-token":
            return httpx.Response(200, json={"result": "1019", "message": "token invalid"})
        return httpx.Response(
            200,
            json={
                "result": "0000",
                "message": "OK",
                "data": {
                    "labelId": workout["labelId"],
                    "mode": workout["mode"],
                    "subMode": workout["subMode"],
                    "fitUrl": fresh,
                },
            },
        )

    api = Api(
        {
            ("oss.coros.com", expired.path): lambda r: httpx.Response(403, text="expired"),
            ("oss.coros.com", "/fit/fresh/"): _fit_route(RUN_FIT),
            ("open.coros.com", "/v2/coros/sport/detail/fit"): detail,
        }
    )
    tokens = Tokens(
        {connection_id: TokenSet(access_token="stream-test-token", provider_user_id="open-1")}  # noqa: S106
    )
    provider = CorosProvider(FakeCoros().credentials, api.client())

    outcome = _sync(pool, {"coros": provider}, tokens).run(connection_id)

    assert outcome.fetched == 1
    assert asked == [
        {
            "token": "stream-test-token",
            "openId": "open-1",
            "labelId": workout["labelId"],
            "mode": str(workout["mode"]),
            "subMode": str(workout["subMode"]),
        }
    ]
    assert [r.url.path for r in api.requests][-1] == "/fit/fresh/479215730485462016.fit"
    assert _streams(admin, connection_id)[workout["labelId"]]["source"] == "coros"
