"""The exception hierarchy: every expected failure carries what a person needs to act.

The CLI reports a :class:`TrainlyticsError` as one line, without a traceback; the HTTP app maps
each class to a status code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

__all__ = [
    "AuthUserExistsError",
    "AuthenticationError",
    "BadPayloadError",
    "ConfigError",
    "DatabaseNotReadyError",
    "DatabaseUnavailableError",
    "FileImportError",
    "GatewayError",
    "HistoryNotGrantedError",
    "InsufficientScopeError",
    "JsonTooDeepError",
    "MigrationError",
    "OAuthStateError",
    "ProviderCapacityError",
    "ProviderError",
    "ProviderNotConfiguredError",
    "ProviderUnavailableError",
    "RateLimitWait",
    "RateLimitedError",
    "SchemaError",
    "SettingsError",
    "SyncBusyError",
    "SyncLeaseLostError",
    "TokenDecryptionError",
    "TokenExchangeError",
    "TokenKeyNotConfiguredError",
    "TokenRefreshError",
    "TokenRevokedError",
    "TrainlyticsError",
    "TypegenError",
    "UnknownProviderError",
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


# --- Errors of the modules around the providers and the database (one place for all) ---------


class UnknownProviderError(TrainlyticsError):
    """A name that is not one of the supported providers (the HTTP app answers 404)."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        names = sorted(known)
        super().__init__(
            f"unknown provider {name!r}", hint="one of " + ", ".join(names) if names else None
        )
        self.provider = name


class TokenDecryptionError(TrainlyticsError):
    """A stored token cannot be decrypted: unknown key id, or ciphertext/AAD do not match."""


class TokenKeyNotConfiguredError(ConfigError):
    """A connection's tokens are sealed with a key ``TRAINLYTICS_TOKEN_KEYS`` does not hold."""

    def __init__(self, connection_id: int, key_id: str) -> None:
        super().__init__(
            f"the tokens of connection {connection_id} are sealed with key {key_id!r}, which "
            "TRAINLYTICS_TOKEN_KEYS does not hold on this server",
            hint=f"add {key_id}:<its base64 key> to TRAINLYTICS_TOKEN_KEYS (after the current "
            "key), then run `trainlytics tokens rotate-key`",
        )
        self.connection_id = connection_id
        self.key_id = key_id


class RateLimitWait(RateLimitedError):
    """Our shared limiter has no request left in a bucket before ``retry_at``."""

    def __init__(self, provider: str, bucket: str, retry_at: datetime, now: datetime) -> None:
        super().__init__(
            provider,
            f"rate limit {bucket} is used up until {retry_at.isoformat()}",
            retry_after=max(0.0, (retry_at - now).total_seconds()),
            status_code=429,
        )
        self.bucket = bucket
        self.retry_at = retry_at


class SyncBusyError(TrainlyticsError):
    """Another synchronisation of the connection is running (its lease is live)."""

    def __init__(self, connection_id: int, retry_at: datetime | None) -> None:
        when = f" until {retry_at.isoformat()}" if retry_at else ""
        super().__init__(
            f"connection {connection_id} is already being synchronised{when}",
            hint="wait for that run to finish",
        )
        self.connection_id = connection_id
        self.retry_at = retry_at


class SyncLeaseLostError(TrainlyticsError):
    """The run was closed as abandoned while it ran (its lease lapsed): stop at once."""


class GatewayError(TrainlyticsError):
    """A SQL function call failed. ``code`` is the SQLSTATE (or PostgREST code) when known."""

    def __init__(self, function: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{function}: {message}")
        self.function = function
        self.code = code


class FileImportError(TrainlyticsError):
    """A file is corrupt, truncated or not an activity format Trainlytics reads."""


class JsonTooDeepError(ValueError):
    """The document nests deeper than allowed."""


class AuthUserExistsError(TrainlyticsError):
    """Supabase Auth already has a user with this email (422 ``email_exists``)."""


class TypegenError(TrainlyticsError):
    """The types could not be generated (no node, no generator installed, generator failed)."""


class SchemaError(TrainlyticsError):
    """The schema snapshot could not be generated (no pg_dump, a failing migration, ...)."""
