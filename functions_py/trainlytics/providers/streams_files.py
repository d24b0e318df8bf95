"""Streams from the FIT file a provider links in the activity's own payload (Wahoo, COROS).

- **Wahoo**: a workout's ``workout_summary.file.url`` (also in the ``workout_summary`` webhook)
  is the device's FIT file on Wahoo's CDN (``cdn.wahooligan.com``; Wahoo Cloud API
  "Workout Summary": ``file`` — "the url of the workout file"). Wahoo's rate limits (200/5 min,
  1,000/h, 5,000/day) do not count file downloads (api-evangelist/wahoo
  ``rate-limits/wahoo-rate-limits.yml``), so downloads do not touch the shared buckets; the
  job still fetches at most :attr:`~StreamSource.batch_size` per run.
- **COROS**: every workout of ``/v2/coros/sport/list`` and of the push webhook carries
  ``fitUrl``, the FIT file on COROS's storage (``oss.coros.com`` in recorded payloads); a
  triathlon's legs each carry their own in ``triathlonItemList`` (the first leg's file is
  taken when the workout has none). COROS publishes no rate limits.

The URL is the provider's own, taken from the stored payload: it must be https on the
provider's domain (a forged payload cannot make the worker fetch an arbitrary host), and no
token is sent with it (the URLs are pre-signed CDN links). 403/404/410 → unavailable (a link
that expired or a workout without a file); 5xx/timeouts → transient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from trainlytics.errors import BadPayloadError, ProviderError
from trainlytics.importers.base import FileImportError
from trainlytics.providers.base import TokenSet
from trainlytics.providers.http import request
from trainlytics.providers.stream_convert import from_fit
from trainlytics.providers.streams_base import StreamFetch, StreamSource, StreamTarget, read_capped

__all__ = ["STREAM_SOURCE_CLASSES", "CorosStreams", "FitFileStreams", "WahooStreams"]


class FitFileStreams(StreamSource):
    """A FIT file whose URL the activity's payload names."""

    uses_rate_limits: ClassVar[bool] = False
    #: Hosts (and their subdomains) the file may come from.
    allowed_domains: ClassVar[tuple[str, ...]] = ()

    def file_url(self, payload: Mapping[str, Any]) -> str | None:
        raise NotImplementedError

    def fetch(self, tokens: TokenSet, target: StreamTarget) -> StreamFetch:
        url = self.file_url(target.payload)
        if not url:
            return StreamFetch.unavailable("the activity names no FIT file", api_calls=0)
        if not _allowed(url, self.allowed_domains):
            raise BadPayloadError(
                self.provider_name, "the activity's file URL is not on the provider's host"
            )
        response = request(self.http, self.provider_name, "GET", url)
        if response.status_code in (403, 404, 410):
            return StreamFetch.unavailable(
                f"the FIT file is no longer available (HTTP {response.status_code})"
            )
        if response.status_code != 200:
            raise ProviderError(
                self.provider_name,
                f"downloading the FIT file failed (HTTP {response.status_code})",
                status_code=response.status_code,
            )
        data = read_capped(response, self.provider_name)
        try:
            streams = from_fit(data)
        except FileImportError as exc:
            # A damaged file stays damaged: not worth retrying.
            return StreamFetch.unavailable(f"the FIT file is unreadable: {exc.message[:200]}")
        if streams is None:
            return StreamFetch.unavailable("the FIT file holds no timed records")
        return StreamFetch(streams=streams)


class WahooStreams(FitFileStreams):
    provider_name: ClassVar[str] = "wahoo"
    allowed_domains: ClassVar[tuple[str, ...]] = ("wahooligan.com",)

    def file_url(self, payload: Mapping[str, Any]) -> str | None:
        summary = payload.get("workout_summary")
        if not isinstance(summary, Mapping):
            return None
        file = summary.get("file")
        url = file.get("url") if isinstance(file, Mapping) else None
        return url if isinstance(url, str) and url else None


class CorosStreams(FitFileStreams):
    provider_name: ClassVar[str] = "coros"
    allowed_domains: ClassVar[tuple[str, ...]] = ("coros.com",)

    def file_url(self, payload: Mapping[str, Any]) -> str | None:
        url = payload.get("fitUrl")
        if isinstance(url, str) and url:
            return url
        legs = payload.get("triathlonItemList")
        if isinstance(legs, list):
            for leg in legs:
                leg_url = leg.get("fitUrl") if isinstance(leg, Mapping) else None
                if isinstance(leg_url, str) and leg_url:
                    return leg_url
        return None


def _allowed(url: str, domains: tuple[str, ...]) -> bool:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return False
    host = (parsed.host or "").lower()
    return parsed.scheme == "https" and any(
        host == domain or host.endswith(f".{domain}") for domain in domains
    )


#: Discovered by :func:`trainlytics.providers.streams_registry.stream_sources`.
STREAM_SOURCE_CLASSES = (WahooStreams, CorosStreams)
