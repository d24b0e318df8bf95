"""Strava streams: ``GET /activities/{id}/streams?keys=...&key_by_type=true``.

developers.strava.com/docs/reference "getActivityStreams": requires ``activity:read``
(``activity:read_all`` for "Only You" activities); ``keys`` is the comma-separated list of
stream types (time, distance, latlng, altitude, velocity_smooth, heartrate, cadence, watts,
temp, moving, grade_smooth); ``key_by_type`` "must be true"; the answer is a StreamSet keyed by
type, each stream ``{"data": [...], "series_type", "original_size", "resolution"}``. A stream
the activity lacks is simply absent. One request per activity, counted in the read
("non-upload") buckets like every other GET: 100/15 min and 1,000/day by default, shared by
the whole application with the summary sync — so streams get at most :attr:`budget_share` of
each bucket and the summary sync keeps the rest.

Answers: 401 → the token is revoked; 404 (``Record Not Found``: activity gone, or private
without ``activity:read_all``) → unavailable; a 200 without a ``time`` stream → unavailable
(UNCONFIRMED: which of the two Strava answers for an activity recorded without data; manual
activities are never asked); 429 → the
rate-limit error with Strava's reset (next quarter hour, or midnight UTC when a daily quota is
spent); 5xx → transient. Streams are fetched with the owner's own token only: the job lists
the activities of one connection and fetches them with that connection's tokens (Strava's
terms: an athlete's data is shown only to that athlete; RLS keeps stored streams owner-only).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from trainlytics.errors import ProviderError, RateLimitedError, TokenRevokedError
from trainlytics.providers.base import TokenSet
from trainlytics.providers.http import request, response_json
from trainlytics.providers.strava import (
    API_BASE_URL,
    rate_limit_observations,
    seconds_to_midnight,
    seconds_to_next_window,
)
from trainlytics.providers.stream_convert import STRAVA_KEYS, from_strava
from trainlytics.providers.streams_base import StreamFetch, StreamSource, StreamTarget

__all__ = [
    "STREAMS_URL",
    "STREAM_SOURCE_CLASSES",
    "StravaStreams",
]

STREAMS_URL = f"{API_BASE_URL}/activities/{{activity_id}}/streams"


class StravaStreams(StreamSource):
    provider_name: ClassVar[str] = "strava"
    #: Streams may fill a bucket up to half its limit: 50 of the 100 reads per 15 min and 500
    #: of the 1,000 per day stay for summaries and webhook reads.
    budget_share: ClassVar[float] = 0.5

    def fetch(self, tokens: TokenSet, target: StreamTarget) -> StreamFetch:
        if not target.external_id.isdigit():
            return StreamFetch.unavailable("not a Strava activity id", api_calls=0)
        url = STREAMS_URL.format(activity_id=target.external_id)
        try:
            response = request(
                self.http,
                "strava",
                "GET",
                url,
                params={"keys": ",".join(STRAVA_KEYS), "key_by_type": "true"},
                headers={"Authorization": f"Bearer {tokens.access_token}"},
            )
        except RateLimitedError as exc:
            raise _with_reset(exc, self.provider.clock()) from exc
        observations = rate_limit_observations(response.headers)
        if response.status_code == 401:
            raise TokenRevokedError(
                "strava",
                "reading streams: the access token was refused (HTTP 401)",
                status_code=401,
                hint="the athlete must connect Strava again",
            )
        if response.status_code == 404:
            return StreamFetch(
                streams=None,
                reason="Strava has no streams for this activity (404)",
                rate_limits=observations,
            )
        if response.status_code != 200:
            raise ProviderError(
                "strava",
                f"reading streams failed (HTTP {response.status_code})",
                status_code=response.status_code,
            )
        streams = from_strava(response_json(response, "strava"))
        if streams is None:
            return StreamFetch(
                streams=None,
                reason="Strava's streams hold no time series",
                rate_limits=observations,
            )
        return StreamFetch(streams=streams, rate_limits=observations)


def _with_reset(exc: RateLimitedError, now: datetime) -> RateLimitedError:
    """Strava's 429 has no Retry-After: the next quarter hour, or midnight UTC when the
    headers show a spent daily quota."""
    if exc.retry_after is not None:
        return exc
    headers = exc.rate_limit_headers or {}
    spent = any(
        o.bucket.endswith(":daily") and o.used >= o.limit for o in rate_limit_observations(headers)
    )
    return RateLimitedError(
        "strava",
        exc.message.removeprefix("strava: "),
        retry_after=seconds_to_midnight(now) if spent else seconds_to_next_window(now),
        status_code=exc.status_code or 429,
        rate_limit_headers=headers,
    )


#: Discovered by :func:`trainlytics.providers.streams_registry.stream_sources`.
STREAM_SOURCE_CLASSES = (StravaStreams,)
