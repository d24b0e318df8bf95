"""HTTP helpers shared by provider modules: one place that turns transport failures and HTTP
statuses into the exception hierarchy, without ever echoing a secret."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from trainlytics.clock import Clock, utc_now
from trainlytics.errors import BadPayloadError, ProviderUnavailableError, RateLimitedError

__all__ = ["parse_retry_after", "request", "response_json"]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or utc_now())).total_seconds())


def request(
    client: httpx.Client,
    provider: str,
    method: str,
    url: str,
    *,
    clock: Clock = utc_now,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request; timeouts, connection errors, 429 and 5xx become exceptions.

    Other statuses are returned for the caller to interpret (a 400 on a token endpoint means
    something different from a 404 on an activity)."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise ProviderUnavailableError(provider, f"{method} {_path(url)} timed out") from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailableError(
            provider, f"{method} {_path(url)} failed: {type(exc).__name__}"
        ) from exc
    if response.status_code == 429:
        raise RateLimitedError(
            provider,
            f"{method} {_path(url)} was rate limited",
            retry_after=parse_retry_after(response.headers.get("retry-after"), clock()),
            rate_limit_headers={
                name.lower(): value
                for name, value in response.headers.items()
                if "ratelimit" in name.lower().replace("-", "") or name.lower() == "retry-after"
            },
        )
    if response.status_code >= 500:
        raise ProviderUnavailableError(
            provider,
            f"{method} {_path(url)} answered {response.status_code}",
            status_code=response.status_code,
        )
    return response


def response_json(response: httpx.Response, provider: str) -> Any:
    """The JSON body, or BadPayloadError naming the endpoint (never quoting the body)."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadPayloadError(
            provider,
            f"{response.request.method} {_path(str(response.request.url))} answered "
            f"{response.status_code} with a body that is not JSON",
            status_code=response.status_code,
        ) from exc


def _path(url: str) -> str:
    """Scheme, host and path only: query strings may carry tokens (COROS, Garmin callbacks)."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}{parsed.path}"
