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

from trainlytics.errors import (
    BadPayloadError,
    FileImportError,
    ProviderError,
    ProviderUnavailableError,
)
from trainlytics.providers.base import TokenSet
from trainlytics.providers.coros import BASE_URL as COROS_BASE_URL
from trainlytics.providers.coros import SUCCESS_RESULT
from trainlytics.providers.http import request, response_json
from trainlytics.providers.stream_convert import from_fit
from trainlytics.providers.streams_base import StreamFetch, StreamSource, StreamTarget, read_capped

#: COROS: a fresh signed link to a workout's FIT file.
FIT_DETAIL_URL = f"{COROS_BASE_URL}/v2/coros/sport/detail/fit"

__all__ = [
    "FIT_DETAIL_URL",
    "STREAM_SOURCE_CLASSES",
    "CorosStreams",
    "FitFileStreams",
    "WahooStreams",
]


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
        result = self.download(url)
        if result is None:
            return StreamFetch.unavailable("the FIT file is no longer available")
        return result

    def download(self, url: str, *, calls: int = 1) -> StreamFetch | None:
        """The FIT file at ``url`` as streams; None when the link is gone (403/404/410: a
        signed link expired, or no file)."""
        if not _allowed(url, self.allowed_domains):
            raise BadPayloadError(
                self.provider_name, "the activity's file URL is not on the provider's host"
            )
        response = request(self.http, self.provider_name, "GET", url)
        if response.status_code in (401, 403, 404, 410):
            return None
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
            return StreamFetch.unavailable(
                f"the FIT file is unreadable: {exc.message[:200]}", api_calls=calls
            )
        if streams is None:
            return StreamFetch.unavailable("the FIT file holds no timed records", api_calls=calls)
        return StreamFetch(streams=streams, api_calls=calls)


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
    """The workout's ``fitUrl``; when it is missing or its signed link has expired, a fresh
    one from ``GET /v2/coros/sport/detail/fit?token&openId&labelId&mode&subMode``, whose COROS
    envelope carries ``data.fitUrl`` (independent integrations that recover expired links
    this way; COROS's own documentation is private)."""

    provider_name: ClassVar[str] = "coros"
    allowed_domains: ClassVar[tuple[str, ...]] = ("coros.com",)

    def fetch(self, tokens: TokenSet, target: StreamTarget) -> StreamFetch:
        url = self.file_url(target.payload)
        if url:
            result = self.download(url)
            if result is not None:
                return result
        fresh = self.fresh_url(tokens, target)
        if fresh is None:
            return StreamFetch.unavailable(
                "COROS names no FIT file for this workout", api_calls=2 if url else 1
            )
        result = self.download(fresh, calls=3 if url else 2)
        if result is None:
            return StreamFetch.unavailable("the FIT file is no longer available")
        return result

    def fresh_url(self, tokens: TokenSet, target: StreamTarget) -> str | None:
        payload = target.payload
        open_id = tokens.provider_user_id or payload.get("openId")
        mode, sub_mode = payload.get("mode"), payload.get("subMode")
        if not open_id or not isinstance(mode, int) or not isinstance(sub_mode, int):
            return None
        response = request(
            self.http,
            "coros",
            "GET",
            FIT_DETAIL_URL,
            params={
                "token": tokens.access_token,
                "openId": str(open_id),
                "labelId": target.external_id,
                "mode": mode,
                "subMode": sub_mode,
            },
        )
        if response.status_code != 200:
            raise ProviderError(
                "coros",
                f"asking for the FIT link failed (HTTP {response.status_code})",
                status_code=response.status_code,
            )
        body = response_json(response, "coros")
        if not isinstance(body, Mapping) or body.get("result") != SUCCESS_RESULT:
            result = body.get("result") if isinstance(body, Mapping) else None
            code = result if isinstance(result, str) and result.isdigit() else "?"
            raise ProviderUnavailableError("coros", f"FIT link refused (result {code[:8]})")
        data = body.get("data")
        fresh = data.get("fitUrl") if isinstance(data, Mapping) else None
        return fresh if isinstance(fresh, str) and fresh else None

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
