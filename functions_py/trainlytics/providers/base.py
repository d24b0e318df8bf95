"""The contract every provider module fulfils.

A provider module (``providers/<name>.py``) holds all of that provider's knowledge on the Python
side: URLs and scopes at the top, then OAuth, identity, revocation and webhook verification,
with its quirks explained where they are handled. Nothing outside ``providers/`` branches on a
provider's name: the connect flow, token lifecycle and webhook endpoints only call the methods
below, through the registry in ``providers/__init__.py``.

Secrets (tokens, client secrets, authorization codes, PKCE verifiers) never enter an exception
message, a log line or a ``repr``: :class:`TokenSet` hides them from ``repr``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx

from trainlytics.clock import Clock, utc_now

__all__ = [
    "DEFAULT_MAX_WEBHOOK_BODY_BYTES",
    "RECEIVED_AT_KEY",
    "AccessCheck",
    "ActivityPage",
    "Provider",
    "ProviderCredentials",
    "ProviderIdentity",
    "RateLimitObservation",
    "SyncWindow",
    "TokenSet",
    "WebhookEvent",
    "WebhookEventKind",
    "WebhookRequest",
    "WebhookResponse",
]


@dataclass(frozen=True)
class ProviderCredentials:
    """One provider application's configuration, read from the environment by ``config``."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    #: Secret or token the provider uses to authenticate its webhooks (Polar signature key,
    #: Wahoo webhook token, Strava verify token, ...); None when webhooks are not configured.
    webhook_secret: str | None = field(default=None, repr=False)
    #: Other provider-specific settings (e.g. Strava's push subscription id).
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenSet:
    """Tokens as a provider returned them, normalised. ``repr`` shows no secret."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    #: When the access token expires (UTC); None when the provider says it does not.
    expires_at: datetime | None = None
    #: When the refresh token expires (Garmin says; most providers do not).
    refresh_token_expires_at: datetime | None = None
    #: Scopes the token response says were granted, when it says.
    scopes: tuple[str, ...] | None = None
    #: The athlete's id at the provider when the token response carries it (Strava athlete.id,
    #: Polar x_user_id, COROS openId, Fitbit user_id).
    provider_user_id: str | None = None
    #: Non-secret extras of the token response worth keeping (e.g. Strava's athlete summary).
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderIdentity:
    """Who the athlete is at the provider, and what they granted."""

    provider_user_id: str
    username: str | None
    profile: Mapping[str, Any]
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class WebhookRequest:
    """An incoming webhook request, with the raw body that signatures are computed over."""

    method: str
    #: Header names lower-cased.
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    #: The sender's address as the server saw it (rate limiting of failed verifications).
    client: str | None = None


WebhookEventKind = Literal[
    "activity_created",
    "activity_updated",
    "activity_deleted",
    # The provider holds new data for the athlete (a ping, a notification without content).
    "activities_available",
    # The athlete withdrew the app's access at the provider.
    "deauthorized",
    # The athlete changed which permissions the app has.
    "permissions_changed",
]


@dataclass(frozen=True)
class WebhookEvent:
    """One thing a webhook told us, routed by the provider's user id."""

    provider_user_id: str
    kind: WebhookEventKind
    #: The provider's activity id, when the event is about one activity.
    object_id: str | None
    #: The event item as received (for a push, the whole activity), for the sync worker.
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class WebhookResponse:
    status_code: int
    body: Any = None  # JSON-serialisable, or None for an empty body


@dataclass(frozen=True)
class AccessCheck:
    """What the provider itself says about the app's access to an athlete's account, asked
    with the athlete's own token (:meth:`Provider.check_access`)."""

    #: The provider refused the athlete's token: access was withdrawn.
    withdrawn: bool
    #: Required scopes/permissions the athlete no longer grants (empty when unknown or none).
    missing: tuple[str, ...] = ()
    #: Everything the provider says the athlete grants now (None when it does not say); a
    #: confirmed permission change stores it as the connection's scopes.
    granted: tuple[str, ...] | None = None


#: Payload key under which a provider module may stamp an event's arrival (epoch s), e.g. to
#: honour a ping's validity; not part of the event's identity (replays dedupe without it).
RECEIVED_AT_KEY = "trainlyticsReceivedAt"

#: Webhook bodies larger than this are refused with 413 before they are read (per provider:
#: :attr:`Provider.max_webhook_body_bytes`).
DEFAULT_MAX_WEBHOOK_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SyncWindow:
    """A half-open time window ``[start, end)`` of activity start times to synchronise (UTC)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class RateLimitObservation:
    """What one response's headers said about one rate-limit bucket."""

    #: The bucket's name, as in :attr:`Provider.rate_limit_buckets` (e.g.
    #: ``"strava:overall:15min"``, ``"strava:read:daily"``, ``"wahoo:5min"``).
    bucket: str
    #: Requests counted in the current window, as the provider reports it.
    used: int
    #: The bucket's limit, as the provider reports it.
    limit: int
    #: The bucket's window length in seconds.
    window_seconds: int


@dataclass(frozen=True)
class ActivityPage:
    """One step of a synchronisation: what to ingest, what to delete, where to continue."""

    #: Raw activity payloads, exactly in the shape ``private.normalize_<provider>`` takes.
    items: Sequence[Mapping[str, Any]]
    #: The provider's ids of activities deleted at the provider.
    deleted_external_ids: Sequence[str] = ()
    #: Where the next call continues within the same window; None when the window is done.
    next_cursor: Mapping[str, Any] | None = None
    #: Provider API calls made to produce this page.
    api_calls: int = 1
    #: Rate-limit state reported by the responses' headers.
    rate_limits: Sequence[RateLimitObservation] = ()
    #: The provider delivers this window asynchronously (Garmin backfill: the data arrives later
    #: through pings); the window counts as requested, not as done.
    pending: bool = False
    #: Windows (of activity start times) that this page lists *completely*: every activity the
    #: provider holds that starts in one of them is among ``items``. The engine then soft
    #: deletes the stored activities of those windows that are missing from ``items``
    #: (``public.delete_missing_activities``). Declare a window only when the provider's
    #: listing is known to be complete for it (no history limit, no filter by permission or
    #: upload time, no paging across calls) — a wrong claim deletes the athlete's activities.
    complete_windows: Sequence[SyncWindow] = ()
    #: Items received but refused before the ingest (never stored), each
    #: ``{"external_id": str | None, "reason": str}`` — e.g. a Garmin callback item of another
    #: Garmin user. The engine counts them as fetched and failed, with their reasons
    #: (``public.sync_refuse_items``), so a run's counts still add up.
    refused: Sequence[Mapping[str, Any]] = ()
    #: Streams that came with the page (Garmin ``activityDetails`` callbacks carry samples),
    #: keyed by the activity's external id, in the canonical form of
    #: :mod:`trainlytics.providers.stream_convert`. The engine stores them after the items;
    #: a failure there is counted and recorded on the activity, never the run's failure.
    streams: Mapping[str, Mapping[str, Sequence[Any]]] = field(default_factory=dict)


class Provider(ABC):
    """A provider's OAuth, identity, revocation and webhooks. One instance per application."""

    #: The ``provider_type`` enum value.
    name: ClassVar[str]
    #: How athletes and operators see the name ("COROS"); default: the name capitalised.
    display_name: ClassVar[str] = ""
    #: Where the provider stands in listings: its position in the ``provider_type`` enum
    #: (values are only ever appended, so a new provider takes the next number).
    position: ClassVar[int] = 1000
    #: Whether the authorize request carries a PKCE S256 challenge.
    uses_pkce: ClassVar[bool]
    #: Scopes (or permissions) the sync cannot do without.
    required_scopes: ClassVar[tuple[str, ...]]
    #: Suffix of the environment variable holding the webhook secret, read as
    #: ``<NAME>_<suffix>`` (e.g. ``"WEBHOOK_SECRET"`` gives POLAR_WEBHOOK_SECRET); None when the
    #: provider's webhooks need no secret of ours.
    webhook_secret_setting: ClassVar[str | None] = None
    #: Suffixes of further provider-specific variables, read into ``credentials.extra``.
    extra_settings: ClassVar[tuple[str, ...]] = ()
    #: Whether the provider's terms require deleting the data synchronised from it when the
    #: athlete disconnects or deauthorises (Strava's API agreement does).
    delete_activities_on_disconnect: ClassVar[bool] = False
    #: How far back the initial backfill goes (Polar: 30 days); None = all history.
    backfill_horizon: ClassVar[timedelta | None] = None
    #: Largest window one request may cover (Garmin backfill 30 days, Garmin pull 24 h, COROS
    #: 30 days); None = no limit.
    max_window: ClassVar[timedelta | None] = None
    #: Look-back overlap on incremental runs, so late-processed uploads are not missed.
    incremental_overlap: ClassVar[timedelta] = timedelta(hours=6)
    #: The provider's rate-limit buckets as ``(bucket, limit, window_seconds)`` per application,
    #: e.g. Strava ``("strava:overall:15min", 200, 900)``; a per-user bucket's name holds
    #: ``{user}`` (replaced by the provider user id).
    rate_limit_buckets: ClassVar[tuple[tuple[str, int, int], ...]] = ()
    #: Largest webhook body accepted; a larger one is answered 413 before it is read whole.
    max_webhook_body_bytes: ClassVar[int] = DEFAULT_MAX_WEBHOOK_BODY_BYTES

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.display_name and "name" in cls.__dict__:
            cls.display_name = cls.name.capitalize()

    def __init__(
        self, credentials: ProviderCredentials, http: httpx.Client, *, clock: Clock = utc_now
    ) -> None:
        self.credentials = credentials
        self.http = http
        #: The wall clock (token expiries, rate-limit waits, ping validity); tests inject one.
        self.clock = clock

    # --- OAuth ---------------------------------------------------------------------------------

    @abstractmethod
    def authorization_url(self, *, state: str, code_challenge: str | None) -> str:
        """The provider's authorize URL with our client id, redirect URI, scopes and state."""

    @abstractmethod
    def exchange_code(
        self, *, code: str, code_verifier: str | None, callback_query: Mapping[str, str]
    ) -> TokenSet:
        """Exchange an authorization code for tokens. Raises TokenExchangeError."""

    @abstractmethod
    def refresh(self, tokens: TokenSet) -> TokenSet:
        """Refresh the access token. The result holds the refresh token to keep from now on
        (a rotated one, or the old one when the provider keeps it). Raises TokenRevokedError
        when the provider refuses the refresh token (400/401), TokenRefreshError otherwise."""

    @abstractmethod
    def revoke(self, tokens: TokenSet) -> None:
        """Withdraw the app's access at the provider. Already-revoked tokens are not an error."""

    @abstractmethod
    def fetch_identity(
        self, tokens: TokenSet, *, callback_query: Mapping[str, str]
    ) -> ProviderIdentity:
        """The athlete's id, name, profile and granted scopes (from the token response, the
        callback query or the provider's API, as that provider requires). Performs any
        registration the provider demands after consent (Polar)."""

    def check_access(self, tokens: TokenSet) -> AccessCheck:
        """Ask the provider, with the athlete's token, whether the app still has access (and
        which required permissions are missing): the confirmation a webhook that claims a
        deauthorisation or a permission change needs before anything is revoked or deleted
        (webhook bodies are not proof: some are unsigned, some are authenticated only by a
        public value). Must be a read without side effects. Raise TokenRevokedError or return
        ``withdrawn=True`` when the provider refuses the token; other failures propagate
        (transient ones are retried by the job queue).

        Default: NotImplementedError — a provider that sends access events must say how they
        are confirmed; until then the worker ignores them (never acts on an unconfirmed
        claim). Not :meth:`fetch_identity` blindly: for some providers it registers the user
        (Polar)."""
        raise NotImplementedError(f"{self.name}: access events cannot be confirmed")

    def athlete_capacity(self) -> int | None:
        """How many athletes the provider lets this application connect (Strava's Standard
        tier: 10); None when the provider sets no such limit. ``start_connection`` refuses a
        new athlete once the application's active connections reach it."""
        return None

    def capacity_message(self, capacity: int) -> tuple[str, str]:
        """The message and hint (athlete and operator) when :meth:`athlete_capacity` is
        reached."""
        return (
            f"{self.name} connections are full ({capacity} athletes)",
            f"operator: raise the application's athlete limit at {self.name}",
        )

    def missing_scopes(self, identity: ProviderIdentity) -> list[str]:
        """Required scopes the athlete did not grant."""
        return [scope for scope in self.required_scopes if scope not in identity.scopes]

    def needs_refresh(self, tokens: TokenSet, now: datetime, margin_seconds: float) -> bool:
        """Whether to refresh before use: the token expires within the margin and can be
        refreshed."""
        if tokens.refresh_token is None or tokens.expires_at is None:
            return False
        return (tokens.expires_at - now).total_seconds() <= margin_seconds

    # --- Webhooks --------------------------------------------------------------------------------

    def handle_webhook_get(self, request: WebhookRequest) -> WebhookResponse:
        """Answer a GET on the webhook URL (subscription handshakes). Default: not allowed."""
        return WebhookResponse(405, {"detail": "method not allowed"})

    @abstractmethod
    def verify_webhook(self, request: WebhookRequest) -> None:
        """Check the request's authenticity on the raw body, before anything is parsed, stored
        or queued. Raises WebhookVerificationError."""

    @abstractmethod
    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        """The events of a verified request. Raises BadPayloadError for a malformed body.
        May return an empty list (e.g. a PING)."""

    def webhook_ack(self) -> WebhookResponse:
        """What to answer once the events are queued."""
        return WebhookResponse(200, {"status": "ok"})

    def webhook_ack_for(self, request: WebhookRequest) -> WebhookResponse:
        """What to answer this verified request once its events are queued; override when the
        answer depends on the request (a registration check). Default: :meth:`webhook_ack`."""
        return self.webhook_ack()

    # --- Activities ------------------------------------------------------------------------------

    def fetch_activities(
        self, tokens: TokenSet, window: SyncWindow, cursor: Mapping[str, Any] | None
    ) -> ActivityPage:
        """One page of the athlete's activities starting in ``window``, continuing at ``cursor``
        (None: the window's first page). Raises the :mod:`trainlytics.errors` exceptions
        (RateLimitedError, ProviderUnavailableError, TokenRevokedError, BadPayloadError, ...)."""
        raise NotImplementedError(f"{self.name}: fetch_activities is not implemented")

    def fetch_for_event(
        self, tokens: TokenSet, event: WebhookEvent, cursor: Mapping[str, Any] | None = None
    ) -> ActivityPage:
        """What a webhook event means to ingest or delete (Strava update: the activity's detail;
        delete: its id; a push the provider signs: the items in the event; a ping: the callback
        URL's content).

        An event whose content takes several calls may answer it in steps: a page with a
        ``next_cursor`` is followed by a call with that ``cursor`` (None: the first step)."""
        raise NotImplementedError(f"{self.name}: fetch_for_event is not implemented")

    def rate_limit_observations(self, headers: Mapping[str, str]) -> Sequence[RateLimitObservation]:
        """What a response's headers (lower-cased names) say about the provider's rate-limit
        buckets; used for the headers of a 429 (``RateLimitedError.rate_limit_headers``), so
        every worker backs off. Default: nothing (the provider sends no usable headers)."""
        return ()
