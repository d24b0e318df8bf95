"""Shared pieces of the engine tests: a Strava list/detail server in Strava's real shape (with
fault injection), a database of their own (the engine commits through a pool), and an engine
wired to them.

The server answers ``GET /api/v3/athlete/activities?after=&before=&page=&per_page=``
(SummaryActivity list: ``start_date`` strictly after ``after`` and before ``before``, ascending
when ``after`` is given, as Strava does) and ``GET /api/v3/activities/{id}`` (DetailedActivity),
with Strava's ``X-RateLimit-*`` / ``X-ReadRateLimit-*`` headers (``"15min,daily"``). Anything
else goes to :class:`tests.fakes.strava.FakeStrava`. When the Strava provider module does not
implement ``fetch_activities`` / ``fetch_for_event`` yet (helper N1 adds them), a test-local
implementation in the same real shape is used, so these tests exercise the engine either way.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.databases import migrated_database
from tests.fakes.strava import FakeStrava
from tests.helpers import create_auth_user
from tests.sync.ingest_support import T0, strava_activity
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.errors import BadPayloadError
from trainlytics.providers.base import (
    ActivityPage,
    Provider,
    RateLimitObservation,
    SyncWindow,
    TokenSet,
    WebhookEvent,
)
from trainlytics.providers.http import request, response_json
from trainlytics.providers.strava import StravaProvider
from trainlytics.sync.engine import SyncEngine

Conn = psycopg.Connection[Any]

#: The engine's "now" in these tests: after every activity's start (ids < 5760 start within
#: four days from T0 - 1 day, one a minute).
NOW = T0 + timedelta(days=5)
APP_NAME = "trainlytics-engine-test"
ACCESS_TOKEN = "engine-test-access-token"  # noqa: S105 - a test value


def activity(activity_id: int, **overrides: Any) -> dict[str, Any]:
    """A Strava SummaryActivity; ids 1..9999 start within the day before T0, one per minute."""
    return strava_activity(activity_id, **overrides)


# --- the server ------------------------------------------------------------------------------


@dataclass
class StravaListServer:
    """Activities served in Strava's shape, with faults injected per list request number."""

    fake: FakeStrava = field(default_factory=FakeStrava)
    activities: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: list request number (0-based, over the server's life) → "5xx" | "timeout" | "json" |
    #: "429" | callable run before answering (e.g. to drop the database connection)
    faults: dict[int, Any] = field(default_factory=dict)
    list_requests: list[dict[str, str]] = field(default_factory=list)
    detail_requests: list[int] = field(default_factory=list)
    delay: float = 0.0
    used_15min: int = 0

    def add(self, *ids: int, **overrides: Any) -> None:
        """Activities of this server's athlete (``athlete.id`` = the fake's user)."""
        owner = {"id": int(self.fake.provider_user_id), "resource_state": 1}
        for activity_id in ids:
            self.activities[activity_id] = activity(activity_id, **{"athlete": owner, **overrides})

    def handle(self, req: httpx.Request) -> httpx.Response:
        path = req.url.path
        if req.method == "GET" and path == "/api/v3/athlete/activities":
            return self._list(req)
        if req.method == "GET" and path.startswith("/api/v3/activities/"):
            activity_id = int(path.rsplit("/", 1)[1])
            self.detail_requests.append(activity_id)
            found = self.activities.get(activity_id)
            if found is None:
                # Strava's 404 (tests/fixtures/providers/strava/error_record_not_found.json).
                return httpx.Response(
                    404,
                    json={
                        "message": "Record Not Found",
                        "errors": [{"resource": "Activity", "field": "id", "code": "invalid"}],
                    },
                )
            return httpx.Response(
                200, json={**found, "resource_state": 3, "calories": 612.0, "description": None}
            )
        return self.fake.handle(req)

    def _list(self, req: httpx.Request) -> httpx.Response:
        number = len(self.list_requests)
        self.list_requests.append(dict(req.url.params))
        if self.delay:
            time.sleep(self.delay)
        fault = self.faults.get(number)
        if callable(fault):
            fault()
        elif fault == "5xx":
            return httpx.Response(502, text="<html>Bad Gateway</html>")
        elif fault == "timeout":
            raise httpx.ReadTimeout("timed out", request=req)
        elif fault == "json":
            return httpx.Response(
                200, content=b'[{"id": 1, "name": "trunc', headers=self._headers()
            )
        elif fault == "429":
            return httpx.Response(
                429,
                json={
                    "message": "Rate Limit Exceeded",
                    "errors": [
                        {"resource": "Application", "field": "rate limit", "code": "exceeded"}
                    ],
                },
                headers=self._headers(used=200),
            )
        params = req.url.params
        after = float(params.get("after", "0"))
        before = float(params.get("before", str(2**40)))
        page = int(params.get("page", "1"))
        per_page = min(int(params.get("per_page", "30")), 200)
        selected = sorted(
            (a for a in self.activities.values() if after < _epoch(a["start_date"]) < before),
            key=lambda a: (_epoch(a["start_date"]), a["id"]),
        )
        if "after" not in params:
            selected.reverse()  # Strava lists newest first unless `after` is given
        body = selected[(page - 1) * per_page : page * per_page]
        self.used_15min += 1
        return httpx.Response(200, json=body, headers=self._headers())

    def _headers(self, used: int | None = None) -> dict[str, str]:
        used = self.used_15min if used is None else used
        return {
            "X-RateLimit-Limit": "200,2000",
            "X-RateLimit-Usage": f"{used},{used}",
            "X-ReadRateLimit-Limit": "100,1000",
            "X-ReadRateLimit-Usage": f"{used},{used}",
        }

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# --- the provider ----------------------------------------------------------------------------

PER_PAGE = 200


def _local_fetch_activities(
    self: StravaProvider,
    tokens: TokenSet,
    window: SyncWindow,
    cursor: Mapping[str, Any] | None,
) -> ActivityPage:
    """Test-local Strava listing (used only while the provider module has none)."""
    page = int((cursor or {}).get("page", 1))
    response = request(
        self.http,
        "strava",
        "GET",
        "https://www.strava.com/api/v3/athlete/activities",
        params={
            "after": int(window.start.timestamp()) - 1,
            "before": int(window.end.timestamp()),
            "page": page,
            "per_page": PER_PAGE,
        },
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )
    body = response_json(response, "strava")
    if not isinstance(body, list):
        raise BadPayloadError("strava", "the activity list is not a JSON array")
    limits = _observations(response)
    return ActivityPage(
        items=body,
        next_cursor={"page": page + 1} if len(body) == PER_PAGE else None,
        rate_limits=limits,
    )


def _local_fetch_for_event(
    self: StravaProvider, tokens: TokenSet, event: WebhookEvent
) -> ActivityPage:
    if event.kind == "activity_deleted":
        return ActivityPage(items=(), deleted_external_ids=(str(event.object_id),), api_calls=0)
    response = request(
        self.http,
        "strava",
        "GET",
        f"https://www.strava.com/api/v3/activities/{event.object_id}",
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )
    if response.status_code == 404:
        return ActivityPage(items=(), deleted_external_ids=(str(event.object_id),))
    return ActivityPage(items=[response_json(response, "strava")])


def _observations(response: httpx.Response) -> tuple[RateLimitObservation, ...]:
    found: list[RateLimitObservation] = []
    for prefix, kind in (("x-ratelimit", "overall"), ("x-readratelimit", "read")):
        limit, usage = (
            response.headers.get(f"{prefix}-limit"),
            response.headers.get(f"{prefix}-usage"),
        )
        if not limit or not usage:
            continue
        limits, used = limit.split(","), usage.split(",")
        for index, (label, seconds) in enumerate((("15min", 900), ("daily", 86400))):
            found.append(
                RateLimitObservation(
                    f"strava:{kind}:{label}", int(used[index]), int(limits[index]), seconds
                )
            )
    return tuple(found)


def strava_provider(server: StravaListServer) -> StravaProvider:
    provider = StravaProvider(server.fake.credentials, httpx.Client(transport=server.transport()))
    cls = type(provider)
    if cls.fetch_activities is Provider.fetch_activities:
        provider.fetch_activities = _local_fetch_activities.__get__(provider)  # type: ignore[method-assign]
    if cls.fetch_for_event is Provider.fetch_for_event:
        provider.fetch_for_event = _local_fetch_for_event.__get__(provider)  # type: ignore[method-assign]
    if not cls.rate_limit_buckets:
        setattr(provider, "rate_limit_buckets", STRAVA_BUCKETS)  # noqa: B010 - a ClassVar
    return provider


#: Strava's documented limits per application (shared/docs/providers.md §2).
STRAVA_BUCKETS = (
    ("strava:overall:15min", 200, 900),
    ("strava:overall:daily", 2000, 86400),
    ("strava:read:15min", 100, 900),
    ("strava:read:daily", 1000, 86400),
)


class StaticTokens:
    """Valid tokens for any connection (the token service has its own tests)."""

    def __init__(self, fake: FakeStrava) -> None:
        fake._live_access_tokens.add(ACCESS_TOKEN)

    def valid_tokens(self, connection_id: int) -> TokenSet:
        return TokenSet(
            access_token=ACCESS_TOKEN,
            refresh_token="engine-test-refresh",  # noqa: S106 - a test value
            expires_at=datetime.now(UTC) + timedelta(hours=6),
        )


# --- the database ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sync_database_url(server_url: str) -> Iterator[str]:
    """A database of this module's own: the engine commits, others must not see it."""
    with migrated_database(server_url) as url:
        yield url


@pytest.fixture(scope="module")
def pool(sync_database_url: str) -> Iterator[ConnectionPool[Any]]:
    pool: ConnectionPool[Any] = ConnectionPool(
        sync_database_url,
        min_size=1,
        max_size=4,
        kwargs={"application_name": APP_NAME},
        open=True,
    )
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def admin(sync_database_url: str) -> Iterator[Conn]:
    with psycopg.connect(sync_database_url, autocommit=True) as conn:
        yield conn


def new_connection(admin: Conn, provider_user_id: str | None = None) -> int:
    user_id = create_auth_user(admin, f"{uuid.uuid4().hex}@example.com")
    row = admin.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'strava', %s) returning id",
        [user_id, provider_user_id or str(uuid.uuid4().int % 10**9)],
    ).fetchone()
    assert row is not None
    return int(row[0])


def make_engine(
    pool: ConnectionPool[Any],
    server: StravaListServer,
    *,
    clock: Callable[[], datetime] = lambda: NOW,
    lease_seconds: int = 300,
    limiter: Any = None,
) -> SyncEngine:
    return SyncEngine(
        PsycopgGateway(pool, role="service_role"),
        StaticTokens(server.fake),
        {"strava": strava_provider(server)},
        clock=clock,
        lease_seconds=lease_seconds,
        limiter=limiter,
    )


def stored_ids(admin: Conn, connection_id: int, *, include_deleted: bool = False) -> list[int]:
    rows = admin.execute(
        "select external_id from public.activities where connection_id = %s"
        + ("" if include_deleted else " and deleted_at is null"),
        [connection_id],
    ).fetchall()
    return sorted(int(r[0]) for r in rows)


def history(admin: Conn, connection_id: int) -> list[dict[str, Any]]:
    cur = admin.execute(
        "select id, sync_trigger::text, sync_status::text, activities_fetched, activities_created,"
        " activities_updated, activities_skipped, activities_deleted, api_calls, error_message,"
        " error_details, sync_completed_at from public.sync_history where connection_id = %s"
        " order by id",
        [connection_id],
    )
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def cursor_of(admin: Conn, connection_id: int) -> dict[str, Any]:
    row = admin.execute(
        "select sync_cursor from public.provider_connections where id = %s", [connection_id]
    ).fetchone()
    assert row is not None
    return dict(row[0])


def drop_engine_connections(database_url: str) -> Callable[[], None]:
    """A fault: terminate every backend of the engine's pool (from another connection)."""

    def drop() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity"
                " where application_name = %s and pid <> pg_backend_pid()"
                # This module's database only: not another xdist worker's on a shared server.
                " and datname = current_database()",
                [APP_NAME],
            )

    return drop


def dump(value: Any) -> str:
    return json.dumps(value, default=str)


__all__ = [
    "NOW",
    "T0",
    "StaticTokens",
    "StravaListServer",
    "activity",
    "admin",
    "cursor_of",
    "drop_engine_connections",
    "dump",
    "history",
    "make_engine",
    "new_connection",
    "os",
    "pool",
    "stored_ids",
    "strava_provider",
    "sync_database_url",
]
