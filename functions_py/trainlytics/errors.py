"""The exception hierarchy: every expected failure carries what a person needs to act.

The CLI reports a :class:`TrainlyticsError` as one line, without a traceback; the HTTP app maps
each class to a status code.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "AuthenticationError",
    "BadPayloadError",
    "ConfigError",
    "DatabaseNotReadyError",
    "DatabaseUnavailableError",
    "HistoryNotGrantedError",
    "InsufficientScopeError",
    "MigrationError",
    "OAuthStateError",
    "ProviderCapacityError",
    "ProviderError",
    "ProviderNotConfiguredError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "SettingsError",
    "TokenExchangeError",
    "TokenRefreshError",
    "TokenRevokedError",
    "TrainlyticsError",
    "WebhookVerificationError",
]


class TrainlyticsError(Exception):
    """An expected failure a person can act on; ``hint`` says how."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class DatabaseUnavailableError(TrainlyticsError):
    """The database could not be reached or started."""


class DatabaseNotReadyError(TrainlyticsError):
    """The database is reachable but not migrated (or lacks the job queue) for this command."""


class MigrationError(TrainlyticsError):
    """A migration (or the local bootstrap) failed; its transaction was rolled back."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        statement_number: int | None = None,
        statement: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.statement_number = statement_number
        self.statement = statement


# --- Configuration, authentication, OAuth ---------------------------------------------------
# Messages never contain a token, secret, authorization code or PKCE verifier: they may reach
# logs, HTTP responses and the athlete's screen.


class SettingsError(TrainlyticsError):
    """An athlete setting was refused by the database; ``sqlstate`` says why (22023: an invalid
    value, 42501: not allowed)."""

    def __init__(self, message: str, *, sqlstate: str | None, hint: str | None = None) -> None:
        super().__init__(f"{sqlstate or 'error'}: {message}", hint=hint)
        self.sqlstate = sqlstate


class ConfigError(TrainlyticsError):
    """The environment is missing or has an invalid setting (the message names the variable)."""


class ProviderNotConfiguredError(TrainlyticsError):
    """A provider's client id / secret / redirect URI are not configured on this deployment."""

    def __init__(self, provider: str, missing: list[str]) -> None:
        super().__init__(
            f"provider {provider} is not configured on this server",
            hint="set " + ", ".join(missing),
        )
        self.provider = provider
        self.missing = missing


class AuthenticationError(TrainlyticsError):
    """The caller's Supabase access token is missing, malformed, expired or not for us."""


class OAuthStateError(TrainlyticsError):
    """An OAuth callback's state is unknown, expired, already used, or for another provider."""


class ProviderCapacityError(TrainlyticsError):
    """The provider lets this application connect no more athletes (Strava's Standard tier:
    10). Nothing is sent to the provider; the operator must raise the limit there."""


class InsufficientScopeError(TrainlyticsError):
    """The athlete did not grant the permissions the sync needs."""

    def __init__(self, provider: str, missing: list[str]) -> None:
        super().__init__(
            f"{provider} access was granted without {', '.join(missing)}",
            hint="reconnect and keep every requested permission ticked",
        )
        self.provider = provider
        self.missing = missing


class WebhookVerificationError(TrainlyticsError):
    """A webhook request failed its provider's authenticity check."""


# --- Provider API errors ------------------------------------------------------------------------


class ProviderError(TrainlyticsError):
    """A provider API call failed. ``status_code`` is the HTTP status when there was one."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status_code: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"{provider}: {message}", hint=hint)
        self.provider = provider
        self.status_code = status_code


class TokenExchangeError(ProviderError):
    """The provider refused to exchange an authorization code for tokens."""


class TokenRefreshError(ProviderError):
    """A token refresh failed for a reason that may pass (network, 5xx): retry later."""


class TokenRevokedError(ProviderError):
    """The provider refused the tokens (400/401 on refresh, deauthorised): reconnect needed."""


class RateLimitedError(ProviderError):
    """The provider answered 429 (or its own rate-limit signal); retry after ``retry_after`` s."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        retry_after: float | None,
        status_code: int = 429,
        rate_limit_headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(provider, message, status_code=status_code)
        self.retry_after = retry_after
        #: The response's rate-limit headers (e.g. Strava's X-RateLimit-Usage), lower-cased,
        #: so a caller can tell a 15-minute limit from a daily one. Never holds a secret.
        self.rate_limit_headers: Mapping[str, str] = dict(rate_limit_headers or {})


class ProviderUnavailableError(ProviderError):
    """Timeout, connection failure or 5xx: transient, retry with backoff."""


class BadPayloadError(ProviderError):
    """The provider answered with something that is not the documented shape."""


class HistoryNotGrantedError(ProviderError):
    """The provider refused to export history because the athlete has not granted it (Garmin
    answers a backfill 403 without HISTORICAL_DATA_EXPORT). Not a failure of the connection:
    the synchronisation records a ``skipped`` run whose message and hint tell the athlete what
    to grant; new activities keep arriving by webhook."""
