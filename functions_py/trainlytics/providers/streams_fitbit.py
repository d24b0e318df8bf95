"""Google Health (provider ``fitbit``) streams: the heart-rate samples during an exercise.

Google Health API v4 (developers.google.com/health: "Data types" — ``heart-rate``, record type
*Sample*, operations list/reconcile/rollup, scope ``health_metrics_and_measurements.readonly``;
REST reference ``users.dataTypes.dataPoints.list``; "Filters": sample types filter on
``heart_rate.sample_time.physical_time`` with RFC 3339 UTC times). One request lists the
heart-rate data points of the exercise's interval; ``nextPageToken`` pages are followed, at
most :data:`MAX_PAGES`. Each point is ``{"heartRate": {"sampleTime": {"physicalTime": ...},
"beatsPerMinute": "<int64 as string>"}}``.

Not read: per-sample position, speed, power or cadence. The exercise data point carries only
summaries (``metricsSummary``, splits); the GPS track (``location.readonly`` scope) and the
``distance``/``altitude`` interval types are not used here (their per-exercise shape is not
documented in a form we can verify). So the stream is ``time`` + ``heartrate``.
The heart-rate scope is requested but optional (``providers/fitbit.py`` ``SCOPES``, not
``required_scopes``): a connection whose granted scopes lack it (the athlete left it unticked, or
connected before it was requested) is marked unavailable without a request; an unexpected 403
``PERMISSION_DENIED`` is treated the same.
Google publishes no per-user quota the limiter can use (a 429 carries ``Retry-After``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from trainlytics.errors import BadPayloadError, ProviderError, TokenRevokedError
from trainlytics.providers.base import TokenSet
from trainlytics.providers.fitbit import HEALTH_API_BASE, SCOPE_HEALTH_METRICS
from trainlytics.providers.http import request, response_json
from trainlytics.providers.stream_convert import from_google_heart_rate
from trainlytics.providers.streams_base import StreamFetch, StreamSource, StreamTarget

__all__ = [
    "HEART_RATE_DATA_POINTS_URL",
    "MAX_PAGES",
    "SCOPE_HEART_RATE",
    "STREAM_SOURCE_CLASSES",
    "GoogleHealthStreams",
]

HEART_RATE_DATA_POINTS_URL = f"{HEALTH_API_BASE}/users/me/dataTypes/heart-rate/dataPoints"
SCOPE_HEART_RATE = SCOPE_HEALTH_METRICS
#: Pages of heart-rate points read for one exercise at most.
MAX_PAGES = 20
#: An exercise without a known duration is read for at most this long.
DEFAULT_SPAN = timedelta(hours=6)


class GoogleHealthStreams(StreamSource):
    provider_name: ClassVar[str] = "fitbit"
    uses_rate_limits: ClassVar[bool] = False

    def fetch(self, tokens: TokenSet, target: StreamTarget) -> StreamFetch:
        if tokens.scopes is not None and not _has_heart_rate_scope(tokens.scopes):
            return StreamFetch.unavailable(
                "the athlete has not granted Google Health's heart-rate scope", api_calls=0
            )
        start = target.start_date.astimezone(UTC)
        span = (
            timedelta(seconds=target.elapsed_time)
            if target.elapsed_time and target.elapsed_time > 0
            else DEFAULT_SPAN
        )
        end = start + span
        points: list[Any] = []
        page_token: str | None = None
        calls = 0
        for _ in range(MAX_PAGES):
            params = {
                "filter": (
                    f'heart_rate.sample_time.physical_time >= "{_rfc3339(start)}" AND '
                    f'heart_rate.sample_time.physical_time < "{_rfc3339(end)}"'
                )
            }
            if page_token:
                params["pageToken"] = page_token
            response = request(
                self.http,
                "fitbit",
                "GET",
                HEART_RATE_DATA_POINTS_URL,
                params=params,
                headers={"Authorization": f"Bearer {tokens.access_token}"},
            )
            calls += 1
            if response.status_code == 401:
                raise TokenRevokedError(
                    "fitbit",
                    "reading heart rate: the access token was refused (HTTP 401)",
                    status_code=401,
                )
            if response.status_code == 403:
                return StreamFetch.unavailable(
                    "Google Health refused the heart-rate data (PERMISSION_DENIED: scope not "
                    "granted)",
                    api_calls=calls,
                )
            if response.status_code != 200:
                raise ProviderError(
                    "fitbit",
                    f"reading heart rate failed (HTTP {response.status_code})",
                    status_code=response.status_code,
                )
            body = response_json(response, "fitbit")
            if not isinstance(body, dict):
                raise BadPayloadError("fitbit", "the heart-rate answer is not a JSON object")
            page = body.get("dataPoints") or []
            if not isinstance(page, list):
                raise BadPayloadError("fitbit", "dataPoints is not a list")
            points.extend(page)
            token = body.get("nextPageToken")
            page_token = token if isinstance(token, str) and token else None
            if page_token is None:
                break
        streams = from_google_heart_rate(points, start, end)
        if streams is None:
            return StreamFetch.unavailable(
                "Google Health holds no heart-rate samples for this exercise", api_calls=calls
            )
        return StreamFetch(streams=streams, api_calls=calls)


def _has_heart_rate_scope(scopes: tuple[str, ...]) -> bool:
    return SCOPE_HEART_RATE in scopes or SCOPE_HEART_RATE.removesuffix(".readonly") in scopes


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: Discovered by :func:`trainlytics.providers.streams_registry.stream_sources`.
STREAM_SOURCE_CLASSES = (GoogleHealthStreams,)
