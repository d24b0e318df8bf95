"""The stream job: a connection's activity streams from its provider, within its rate budget.

API
---
- ``StreamSync(gateway, tokens, providers, *, streams_store=None, clock=...)``
    - ``run(connection_id) -> StreamRunOutcome`` — fetch the streams of up to one batch of the
      connection's activities (most recent first), store them, record each outcome.
- ``StreamBudget(gateway)`` — ``acquire(provider, buckets, share)``: one request from the
  provider's shared buckets, only while each is below ``share`` of its limit
  (``public.rate_limit_acquire_share``); raises :class:`~trainlytics.rate_limits.RateLimitWait`
  at once (never sleeps) when the share is spent.
- ``StreamRunOutcome`` — counts (fetched / unavailable / failed), API calls, and when to
  continue: ``deferred_until`` (budget spent or 429), ``remaining`` (due activities left).

Why a separate job: stream fetches are many (one or more requests per activity) and worth
less than summaries. They run in their own procrastinate queue (``streams``) at a lower
priority than sync jobs (``trainlytics.jobs``), take only their provider source's
``budget_share`` of each rate-limit bucket — the summary sync (which reserves with
``rate_limit_acquire``, up to the full limit) always finds the rest — and never touch a sync
run: a failed stream fetch is recorded on the activity (``public.activity_stream_fetches``:
retried with backoff, given up after 5 attempts), counted in the job's outcome and logged.

Per activity: ``fetched`` (streams stored), ``unavailable`` (the provider has none — not tried
again), ``failed`` (provider error, bad file: retried later). A 429 or a spent budget stops the
run without charging the activity; a revoked token or a database failure ends the job with that
error (the queue retries transient ones).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from trainlytics.db import stream_fetches
from trainlytics.db.gateway import Gateway
from trainlytics.errors import (
    DatabaseUnavailableError,
    GatewayError,
    RateLimitedError,
    RateLimitWait,
    TokenRevokedError,
    TrainlyticsError,
)
from trainlytics.logs import get_logger
from trainlytics.providers.base import Provider, RateLimitObservation, TokenSet
from trainlytics.providers.stream_convert import Streams, point_count
from trainlytics.providers.streams_base import StreamSource, StreamTarget
from trainlytics.providers.streams_registry import stream_source_for
from trainlytics.streams import ActivityStreams, Lap
from trainlytics.sync.rate_limits import Bucket, RateLimiter, buckets_for

__all__ = [
    "StreamBudget",
    "StreamRunOutcome",
    "StreamSync",
    "store_page_streams",
    "to_activity_streams",
]

log = get_logger(__name__)

#: When a 429 names no reset, the stream job waits this long.
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=15)


class _Tokens(Protocol):
    def valid_tokens(self, connection_id: int) -> TokenSet: ...


class _StreamsStore(Protocol):
    def __call__(self, activity_id: int, streams: Streams) -> None: ...


@dataclass(frozen=True)
class StreamRunOutcome:
    connection_id: int
    provider: str | None = None
    fetched: int = 0
    unavailable: int = 0
    failed: int = 0
    api_calls: int = 0
    #: The budget share or a 429 stopped the run: continue then.
    deferred_until: datetime | None = None
    #: Activities due now that this run did not reach.
    remaining: int = 0
    #: The earliest retry of a failed fetch waiting for its backoff.
    next_retry_at: datetime | None = None
    #: Why nothing was fetched (no stream source for the provider, not configured).
    skipped: str | None = None


class StreamBudget:
    """Requests for low-priority work from the shared buckets (see the module docstring)."""

    def __init__(
        self, gateway: Gateway, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.gateway = gateway
        self._clock = clock
        self._limiter = RateLimiter(gateway, max_wait=0.0, clock=clock)

    def acquire(self, provider: str, buckets: Sequence[Bucket], share: float) -> None:
        if not buckets:
            return
        row = stream_fetches.acquire_share(
            self.gateway,
            buckets=[b.name for b in buckets],
            limits=[b.limit for b in buckets],
            window_seconds=[b.window_seconds for b in buckets],
            share=share,
        )
        if row.get("granted"):
            return
        retry_at = _time(row.get("retry_at")) or self._clock() + DEFAULT_RATE_LIMIT_PAUSE
        raise RateLimitWait(provider, str(row.get("blocking_bucket")), retry_at, self._clock())

    def observe(self, observations: Sequence[RateLimitObservation]) -> None:
        self._limiter.observe(observations)

    def charge(self, buckets: Sequence[Bucket], cost: int) -> None:
        self._limiter.charge(buckets, cost)


class StreamSync:
    """Runs stream jobs (see the module docstring)."""

    def __init__(
        self,
        gateway: Gateway,
        tokens: _Tokens,
        providers: Mapping[str, Provider],
        *,
        streams_store: _StreamsStore | None = None,
        budget: StreamBudget | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.gateway = gateway
        self.tokens = tokens
        self.providers = providers
        self.budget = budget if budget is not None else StreamBudget(gateway, clock=clock)
        self._store_streams = streams_store or _default_store(gateway)
        self._clock = clock

    def run(self, connection_id: int, *, limit: int | None = None) -> StreamRunOutcome:
        """One batch for the connection (see the module docstring). Raises TokenRevokedError,
        DatabaseUnavailableError and other errors that concern the whole job."""
        probe = stream_fetches.candidates(self.gateway, connection_id, 1)
        if not probe:
            return self._finish(connection_id, None, _Counts(), None, since=None)
        provider_name = str(probe[0]["provider"])
        source = stream_source_for(self.providers, provider_name)
        if source is None:
            reason = f"{provider_name} has no stream source on this server"
            log.info("streams of connection %s skipped: %s", connection_id, reason)
            return StreamRunOutcome(connection_id, provider_name, skipped=reason)
        since = self._clock() - source.horizon if source.horizon is not None else None
        rows = stream_fetches.candidates(
            self.gateway, connection_id, limit or source.batch_size, since
        )
        counts = _Counts()
        if not rows:
            return self._finish(connection_id, provider_name, counts, None, since=since)
        buckets = (
            buckets_for(source.provider, str(rows[0].get("provider_user_id") or ""))
            if source.uses_rate_limits
            else ()
        )
        tokens = self.tokens.valid_tokens(connection_id)
        deferred: datetime | None = None
        for row in rows:
            target = _target(row)
            try:
                self.budget.acquire(provider_name, buckets, source.budget_share)
            except RateLimitWait as wait:
                deferred = wait.retry_at
                log.info(
                    "streams of connection %s deferred to %s: %s's stream share of %s is spent",
                    connection_id,
                    wait.retry_at.isoformat(),
                    provider_name,
                    wait.bucket,
                )
                break
            stop = self._one(source, buckets, tokens, target, counts)
            if stop is not None:
                deferred = stop
                break
        return self._finish(connection_id, provider_name, counts, deferred, since=since)

    # --- internals -------------------------------------------------------------------------

    def _one(
        self,
        source: StreamSource,
        buckets: Sequence[Bucket],
        tokens: TokenSet,
        target: StreamTarget,
        counts: _Counts,
    ) -> datetime | None:
        """Fetch, store and record one activity; the instant to continue when a 429 stops
        the run, else None."""
        name = source.provider_name
        try:
            result = source.fetch(tokens, target)
        except RateLimitedError as exc:
            counts.api_calls += 1
            if exc.rate_limit_headers:
                try:
                    self.budget.observe(
                        source.provider.rate_limit_observations(exc.rate_limit_headers)
                    )
                except Exception as observe_exc:  # the 429 itself matters more
                    log.warning("%s 429 rate-limit headers not recorded: %s", name, observe_exc)
            pause = (
                timedelta(seconds=exc.retry_after)
                if exc.retry_after is not None
                else DEFAULT_RATE_LIMIT_PAUSE
            )
            return self._clock() + pause
        except (TokenRevokedError, DatabaseUnavailableError):
            raise
        except TrainlyticsError as exc:
            counts.api_calls += 1
            counts.failed += 1
            self._record(target, "failed", _one_line(exc.message))
            log.warning(
                "streams of %s activity %s failed: %s", name, target.activity_id, exc.message
            )
            return None
        except Exception as exc:  # a converter bug must not stop the other activities
            counts.api_calls += 1
            counts.failed += 1
            self._record(target, "failed", f"unexpected {type(exc).__name__}")
            log.exception("streams of %s activity %s failed", name, target.activity_id)
            return None
        counts.api_calls += result.api_calls
        if buckets and result.api_calls != 1:
            self.budget.charge(buckets, result.api_calls - 1)
        if result.rate_limits:
            self.budget.observe(result.rate_limits)
        if result.streams is None:
            counts.unavailable += 1
            self._record(target, "unavailable", _one_line(result.reason or "no streams"))
            return None
        try:
            self._store_streams(target.activity_id, result.streams)
        except GatewayError as exc:
            # The database refused these streams (a value out of range, ...): this activity's
            # failure, recorded and retried a bounded number of times, not the whole job's.
            counts.failed += 1
            self._record(target, "failed", _one_line(f"streams not stored: {exc.message}"))
            log.warning("streams of %s activity %s not stored: %s", name, target.activity_id, exc)
            return None
        counts.fetched += 1
        self._record(target, "fetched", None, point_count(result.streams))
        return None

    def _record(
        self, target: StreamTarget, outcome: str, error: str | None, points: int | None = None
    ) -> None:
        _record_outcome(self.gateway, target.activity_id, outcome, error, points)

    def _finish(
        self,
        connection_id: int,
        provider: str | None,
        counts: _Counts,
        deferred: datetime | None,
        *,
        since: datetime | None,
    ) -> StreamRunOutcome:
        row = stream_fetches.pending(self.gateway, connection_id, since)
        outcome = StreamRunOutcome(
            connection_id=connection_id,
            provider=provider,
            fetched=counts.fetched,
            unavailable=counts.unavailable,
            failed=counts.failed,
            api_calls=counts.api_calls,
            deferred_until=deferred,
            remaining=int(row.get("due") or 0),
            next_retry_at=_time(row.get("next_retry_at")),
        )
        if provider is not None:
            log.info(
                "streams of connection %s (%s): %s fetched, %s unavailable, %s failed, "
                "%s calls, %s due%s",
                connection_id,
                provider,
                outcome.fetched,
                outcome.unavailable,
                outcome.failed,
                outcome.api_calls,
                outcome.remaining,
                f", deferred to {deferred.isoformat()}" if deferred else "",
            )
        return outcome


def store_page_streams(
    gateway: Gateway,
    connection_id: int,
    streams: Mapping[str, Mapping[str, Sequence[Any]]],
    *,
    streams_store: _StreamsStore | None = None,
) -> tuple[int, int]:
    """Store the streams that came with a sync page (Garmin ``activityDetails``), keyed by
    external id, after the page's items were ingested; each outcome is recorded on the
    activity. Returns (stored, failed). Never raises for one activity's streams: a database
    refusal is recorded as that activity's failure (DatabaseUnavailableError propagates)."""
    save = streams_store or _default_store(gateway)
    stored = failed = 0
    for external_id, series in streams.items():
        activity_id = stream_fetches.activity_id(gateway, connection_id, external_id)
        if activity_id is None:
            continue  # not stored (refused or malformed item): nothing to attach streams to
        target = {key: list(values) for key, values in series.items()}
        try:
            save(activity_id, target)
        except GatewayError as exc:
            failed += 1
            _record_outcome(gateway, activity_id, "failed", f"streams not stored: {exc.message}")
            log.warning("streams of activity %s not stored: %s", activity_id, exc.message)
            continue
        stored += 1
        _record_outcome(gateway, activity_id, "fetched", None, point_count(target))
    return stored, failed


def _record_outcome(
    gateway: Gateway, activity_id: int, outcome: str, error: str | None, points: int | None = None
) -> None:
    stream_fetches.record(
        gateway, activity_id, outcome, None if error is None else _one_line(error), points
    )


@dataclass
class _Counts:
    fetched: int = 0
    unavailable: int = 0
    failed: int = 0
    api_calls: int = 0


def _default_store(gateway: Gateway) -> _StreamsStore:
    """The streams helper's typed store (``StreamStore.store_streams``)."""
    from trainlytics.db.store import StreamStore

    store = StreamStore(gateway)

    def save(activity_id: int, streams: Streams) -> None:
        store.store_streams(activity_id, to_activity_streams(streams))

    return save


def to_activity_streams(streams: Streams) -> ActivityStreams:
    """The canonical dict as the streams helper's :class:`~trainlytics.streams.ActivityStreams`
    (cadence counted as FIT and Strava count it: one leg's strides for foot sports)."""
    latlng = streams.get("latlng")
    return ActivityStreams(
        time_s=[float(t) for t in streams["time"]],
        distance_m=streams.get("distance"),
        lat=[p[0] if p else None for p in latlng] if latlng else None,
        lon=[p[1] if p else None for p in latlng] if latlng else None,
        altitude_m=streams.get("altitude"),
        heart_rate=streams.get("heartrate"),
        power_w=streams.get("watts"),
        cadence=streams.get("cadence"),
        speed_mps=streams.get("velocity_smooth"),
        temperature_c=streams.get("temp"),
        # a FIT file's own laps (stream_convert.from_fit), as the file import stores them
        laps=[Lap(**lap) for lap in streams["laps"]] if streams.get("laps") else None,
    )


def _target(row: Mapping[str, Any]) -> StreamTarget:
    payload = row.get("payload")
    elapsed = row.get("elapsed_time")
    start = _time(row.get("start_date"))
    if start is None:
        raise TypeError("stream_fetch_candidates returned no start_date")
    return StreamTarget(
        activity_id=int(row["activity_id"]),
        external_id=str(row.get("external_id") or ""),
        start_date=start,
        elapsed_time=float(elapsed) if isinstance(elapsed, int | float) else None,
        payload=payload if isinstance(payload, Mapping) else {},
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
