"""The contract of a provider's stream source: one activity's time series, fetched on demand.

Stream fetching is a separate, low-priority job (``trainlytics.sync.streams``): a source says
how to fetch one activity's streams and how much of the provider's rate budget it may use;
the job decides which activities, when, and records every outcome.

- :class:`StreamTarget` — what the job knows of the activity (ids, start, the raw provider
  payload, which carries e.g. a FIT file URL).
- :class:`StreamFetch` — the streams (canonical dict, :mod:`.stream_convert`) or why there are
  none (``unavailable``: the provider has none for this activity — permanent), plus the calls
  made and the rate-limit state the responses reported.
- :class:`StreamSource` — ``fetch(tokens, target)``; raises the :mod:`trainlytics.errors`
  exceptions for failures (RateLimitedError, ProviderUnavailableError, TokenRevokedError,
  BadPayloadError, ProviderError).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from trainlytics.errors import BadPayloadError
from trainlytics.providers.base import Provider, RateLimitObservation, TokenSet
from trainlytics.providers.stream_convert import Streams

__all__ = ["MAX_FILE_BYTES", "StreamFetch", "StreamSource", "StreamTarget", "read_capped"]

#: Largest activity file downloaded (a 24 h ride at 1 Hz is a few MB of FIT).
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class StreamTarget:
    activity_id: int
    #: The provider's activity id (``activities.external_id``).
    external_id: str
    start_date: datetime
    #: Elapsed time in s, when known.
    elapsed_time: float | None
    #: The provider payload as stored (``activity_raw_payloads``), or an empty mapping.
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class StreamFetch:
    streams: Streams | None
    #: Why there are no streams (set when ``streams`` is None): permanent for this activity.
    reason: str | None = None
    #: Provider API calls made (those that count against its rate limits).
    api_calls: int = 1
    rate_limits: Sequence[RateLimitObservation] = ()

    @classmethod
    def unavailable(cls, reason: str, *, api_calls: int = 1) -> StreamFetch:
        return cls(streams=None, reason=reason, api_calls=api_calls)


class StreamSource(ABC):
    """How one provider's streams are fetched (one instance per configured provider)."""

    #: The ``provider_type`` value.
    provider_name: ClassVar[str]
    #: Fraction of each of the provider's rate-limit buckets stream fetches may fill; the rest
    #: is kept for summary syncs and webhooks (``public.rate_limit_acquire_share``).
    budget_share: ClassVar[float] = 0.5
    #: Whether a fetch counts against the provider's buckets (file downloads may not).
    uses_rate_limits: ClassVar[bool] = True
    #: Activities that started longer ago than this cannot be fetched any more (Polar: 30 days).
    horizon: ClassVar[timedelta | None] = None
    #: Most activities one job fetches before it yields (and queues its continuation).
    batch_size: ClassVar[int] = 25

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.http: httpx.Client = provider.http

    @abstractmethod
    def fetch(self, tokens: TokenSet, target: StreamTarget) -> StreamFetch:
        """The activity's streams, or :meth:`StreamFetch.unavailable`."""


def read_capped(response: httpx.Response, provider: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """A downloaded file's bytes, refusing one larger than ``limit``."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BadPayloadError(provider, f"activity file of {declared} bytes is too large")
    data = response.content
    if len(data) > limit:
        raise BadPayloadError(provider, f"activity file of {len(data)} bytes is too large")
    return data
