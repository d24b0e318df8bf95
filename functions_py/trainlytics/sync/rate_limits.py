"""Provider rate limits shared by every worker, through ``private.rate_limit_windows``.

API
---
- ``RateLimiter(gateway, *, max_wait=30.0, clock=..., sleep=time.sleep)``
    - ``acquire(buckets: Sequence[Bucket], cost=1) -> None`` — reserves ``cost`` requests in
      every bucket, atomically across workers (``public.rate_limit_acquire``). When a bucket is
      full it waits for its window to end if that is at most ``max_wait`` seconds away, else
      raises :class:`RateLimitWait` with the instant to try again (the job is rescheduled
      then, instead of holding a worker).
    - ``observe(observations: Sequence[RateLimitObservation]) -> None`` — records what the
      provider's headers reported (``public.rate_limit_observe``), including a 429's.
    - ``charge(buckets, cost) -> None`` — counts requests already made beyond the reserved one
      (a page or an event that took several calls), or gives back (``cost < 0``) a reservation
      not used, whether or not the bucket is full (``public.rate_limit_charge``).
- ``buckets_for(provider, provider_user_id) -> tuple[Bucket, ...]`` — the provider's
  :attr:`~trainlytics.providers.base.Provider.rate_limit_buckets`, ``{user}`` filled in.
- ``RateLimitWait`` — a :class:`~trainlytics.errors.RateLimitedError` raised by our own
  limiter (not a 429): transient, retry at ``retry_at``.
- ``NoRateLimiter`` — grants everything (benchmarks, tests that do not look at limits).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from trainlytics.db import rate_limits as db_rate_limits
from trainlytics.db.gateway import Gateway
from trainlytics.errors import RateLimitWait
from trainlytics.providers.base import Provider, RateLimitObservation

__all__ = [
    "Bucket",
    "Limiter",
    "NoRateLimiter",
    "RateLimiter",
    "buckets_for",
]


@dataclass(frozen=True)
class Bucket:
    name: str
    limit: int
    window_seconds: int


def buckets_for(provider: Provider, provider_user_id: str | None) -> tuple[Bucket, ...]:
    """The provider's buckets; a per-user bucket's ``{user}`` becomes the provider user id."""
    return tuple(
        Bucket(name.replace("{user}", provider_user_id or "unknown"), limit, seconds)
        for name, limit, seconds in provider.rate_limit_buckets
    )


class Limiter(Protocol):
    def acquire(self, provider: str, buckets: Sequence[Bucket], cost: int = 1) -> None: ...

    def observe(self, observations: Sequence[RateLimitObservation]) -> None: ...

    def charge(self, buckets: Sequence[Bucket], cost: int) -> None: ...


class RateLimiter:
    """The shared limiter (see the module docstring)."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        max_wait: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.gateway = gateway
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep

    def acquire(self, provider: str, buckets: Sequence[Bucket], cost: int = 1) -> None:
        if not buckets:
            return
        while True:
            row = db_rate_limits.acquire(
                self.gateway,
                buckets=[b.name for b in buckets],
                limits=[b.limit for b in buckets],
                window_seconds=[b.window_seconds for b in buckets],
                cost=cost,
            )
            if row.get("granted"):
                return
            retry_at = _timestamp(row.get("retry_at"))
            now = self._clock()
            wait = (retry_at - now).total_seconds()
            if wait > self.max_wait:
                raise RateLimitWait(provider, str(row.get("blocking_bucket")), retry_at, now)
            # A small margin past the window's end: the next window is then surely current.
            self._sleep(max(wait, 0.0) + 0.05)

    def observe(self, observations: Sequence[RateLimitObservation]) -> None:
        if not observations:
            return
        db_rate_limits.observe(
            self.gateway,
            buckets=[o.bucket for o in observations],
            used=[o.used for o in observations],
            limits=[o.limit for o in observations],
            window_seconds=[o.window_seconds for o in observations],
        )

    def charge(self, buckets: Sequence[Bucket], cost: int) -> None:
        if not buckets or cost == 0:
            return
        db_rate_limits.charge(
            self.gateway,
            buckets=[b.name for b in buckets],
            limits=[b.limit for b in buckets],
            window_seconds=[b.window_seconds for b in buckets],
            cost=cost,
        )


class NoRateLimiter:
    """Grants every request and forgets observations."""

    def acquire(self, provider: str, buckets: Sequence[Bucket], cost: int = 1) -> None:
        return None

    def observe(self, observations: Sequence[RateLimitObservation]) -> None:
        return None

    def charge(self, buckets: Sequence[Bucket], cost: int) -> None:
        return None


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError(f"rate_limit_acquire returned no retry_at ({value!r})")
