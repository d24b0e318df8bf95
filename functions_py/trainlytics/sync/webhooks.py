"""Provider webhooks: verify on the raw body, route by the provider's user id, queue the work.

:func:`handle_webhook` is the whole endpoint, independent of the web framework (the HTTP app
has already refused a body over :attr:`Provider.max_webhook_body_bytes` with 413):

- ``GET``: the provider's subscription handshake (:meth:`Provider.handle_webhook_get`).
- ``POST``: a sender that failed verification too often recently is answered 429 at once
  (:class:`VerificationGuard`). Then :meth:`Provider.verify_webhook` on the raw bytes (before
  any parse where the provider signs the body). A forged request gets 401 and one log line
  naming the sender's address and its count of failures (never the value it tried); nothing
  is parsed, stored or queued. Then :meth:`Provider.parse_webhook` (a malformed or too deeply
  nested body: 400, one line). Each event is queued as a ``process_webhook_event`` job, with a
  queueing lock derived from the event so that a replay does not queue it twice; the answer is
  the provider's ack. Nothing here revokes, deletes or ingests:

  - ``deauthorized`` and ``permissions_changed`` events are queued for every connection of
    that provider account that is not disconnected (active, error or revoked: the Strava API
    agreement requires deleting its data whatever our status). The worker confirms the claim
    with the provider, using the athlete's own token (:func:`apply_access_event`), before
    revoking or deleting anything.
  - Other events are routed to the *active* connection of their provider account; an unknown
    owner is a logged no-op (the provider still gets its ack, or it would retry forever).

Answering fast is the point: providers give a few seconds (Strava 2 s, Garmin and Polar a
little more) before they retry, so nothing here calls the provider.

Log lines name the provider, the event kind and ids (control characters escaped, see
:mod:`trainlytics.logs`); never a header value, body, token or secret.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from trainlytics.db.gateway import Gateway
from trainlytics.db.store import ConnectionStore
from trainlytics.errors import (
    BadPayloadError,
    ProviderNotConfiguredError,
    TokenRevokedError,
    WebhookVerificationError,
)
from trainlytics.logs import get_logger
from trainlytics.providers import get_provider
from trainlytics.providers.base import (
    AccessCheck,
    Provider,
    TokenSet,
    WebhookEvent,
    WebhookRequest,
    WebhookResponse,
)
from trainlytics.sync.rate_limits import Limiter, buckets_for

if TYPE_CHECKING:
    from trainlytics.connections.connect import Deps

__all__ = [
    "ACCESS_EVENT_KINDS",
    "DEAUTHORIZED_REASON",
    "AccessEventOutcome",
    "VerificationGuard",
    "apply_access_event",
    "handle_webhook",
]

logger = get_logger(__name__)

#: What a confirmed deauthorisation at the provider leaves as the connection's last_error.
DEAUTHORIZED_REASON = "access was withdrawn at the provider; reconnect to sync again"
#: Events that claim the app lost (some) access: confirmed with the provider before acting.
ACCESS_EVENT_KINDS = frozenset({"deauthorized", "permissions_changed"})


class VerificationGuard:
    """Counts failed webhook verifications per (provider, sender address) in a sliding window;
    past ``limit`` failures within ``window_seconds`` that sender is answered 429 without
    verification until the window has passed — so an id or token cannot be found by counting
    (Strava's subscription id is a small integer). Per process: with N server processes a
    sender gets at most N * ``limit`` tries per window. Thread-safe."""

    def __init__(
        self,
        limit: int = 10,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_senders: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._max_senders = max_senders
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] > self.window_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def blocked(self, provider: str, sender: str) -> bool:
        """Whether ``sender`` is over the limit for ``provider`` right now."""
        with self._lock:
            return len(self._recent((provider, sender), self._clock())) >= self.limit

    def record_failure(self, provider: str, sender: str) -> int:
        """Count one failure; returns the sender's failures within the window."""
        key = (provider, sender)
        with self._lock:
            now = self._clock()
            times = self._recent(key, now)
            if key not in self._failures:
                if len(self._failures) >= self._max_senders:  # bounded memory: forget oldest
                    self._failures.pop(next(iter(self._failures)))
                self._failures[key] = times
            times.append(now)
            return len(times)


def handle_webhook(
    deps: Deps,
    provider_name: str,
    request: WebhookRequest,
    *,
    guard: VerificationGuard | None = None,
) -> WebhookResponse:
    """Answer one webhook request (see the module docstring)."""
    provider = get_provider(deps.providers, provider_name)
    method = request.method.upper()
    if method == "GET":
        return provider.handle_webhook_get(request)
    if method != "POST":
        return WebhookResponse(405, {"detail": "method not allowed"})
    sender = request.client or "unknown"
    if guard is not None and guard.blocked(provider_name, sender):
        logger.warning(
            "%s webhook from %s refused unverified: too many failed verifications",
            provider_name,
            sender,
        )
        return WebhookResponse(429, {"detail": "too many failed webhook verifications"})
    try:
        provider.verify_webhook(request)
    except WebhookVerificationError as exc:
        failures = guard.record_failure(provider_name, sender) if guard is not None else 0
        logger.warning(
            "%s webhook from %s rejected (%s failures in the last %.0f s): %s",
            provider_name,
            sender,
            failures,
            guard.window_seconds if guard is not None else 0,
            exc.message,
        )
        return WebhookResponse(401, {"detail": "webhook verification failed"})
    except BadPayloadError as exc:
        logger.warning("%s webhook with a malformed body: %s", provider_name, exc.message)
        return WebhookResponse(400, {"detail": "malformed webhook body"})
    try:
        events = provider.parse_webhook(request)
    except BadPayloadError as exc:
        logger.warning("%s webhook with a malformed body: %s", provider_name, exc.message)
        return WebhookResponse(400, {"detail": "malformed webhook body"})
    for event in events:
        _handle_event(deps, provider_name, event)
    return provider.webhook_ack_for(request)


def _handle_event(deps: Deps, provider_name: str, event: WebhookEvent) -> None:
    if event.kind in ACCESS_EVENT_KINDS:
        connections = deps.store.find_all_by_provider_user(provider_name, event.provider_user_id)
        if not connections:
            logger.info(
                "%s webhook %s for provider user %s: no connection, ignored",
                provider_name,
                event.kind,
                event.provider_user_id,
            )
        for found in connections:
            job = deps.jobs.enqueue_webhook_event(provider_name, found.connection_id, event)
            logger.info(
                "%s webhook %s for connection %s (%s): %s for confirmation with the provider",
                provider_name,
                event.kind,
                found.connection_id,
                found.status,
                "queued" if job.queued else "already queued (replay)",
            )
        return
    active = deps.store.find_by_provider_user(provider_name, event.provider_user_id)
    if active is None:
        logger.info(
            "%s webhook %s for provider user %s: no active connection, ignored",
            provider_name,
            event.kind,
            event.provider_user_id,
        )
        return
    job = deps.jobs.enqueue_webhook_event(provider_name, active.connection_id, event)
    logger.info(
        "%s webhook %s (object %s) for connection %s: %s",
        provider_name,
        event.kind,
        event.object_id,
        active.connection_id,
        "queued" if job.queued else "already queued (replay)",
    )


# --- the worker's side: confirming access events -------------------------------------------


class _Tokens(Protocol):
    def valid_tokens(self, connection_id: int) -> TokenSet: ...


@dataclass(frozen=True)
class AccessEventOutcome:
    #: ``revoked`` (access withdrawn: tokens deleted, connection revoked — and disconnected
    #: with its activities deleted where the provider's terms require it), ``ignored`` (the
    #: provider says the access still works: the event was not genuine, or is stale),
    #: ``permissions_updated`` (a permission change the provider confirmed: the granted
    #: scopes stored, the connection marked error while a required one is missing, active
    #: once granted back — tokens kept), or ``skipped`` (nothing to act on: unknown,
    #: disconnected, or another account).
    status: str
    activities_deleted: int = 0
    reason: str | None = None


def apply_access_event(
    gateway: Gateway,
    tokens: _Tokens,
    providers: Mapping[str, Provider],
    provider_name: str,
    connection_id: int,
    event: WebhookEvent,
    *,
    limiter: Limiter | None = None,
) -> AccessEventOutcome:
    """Confirm a ``deauthorized`` / ``permissions_changed`` event with the provider, then act.

    The claim is never taken from the webhook body. Evidence of withdrawal is the provider
    refusing the athlete's tokens: a refresh answered 400/401 (:class:`TokenRevokedError`
    from ``tokens.valid_tokens``, which also marks the connection revoked), the provider's
    own answer to :meth:`Provider.check_access`, or a connection already revoked because the
    provider refused its refresh token earlier. A permission change counts only when the
    provider itself no longer lists a required permission. Then: the connection is marked
    revoked and, where the provider's terms require it (Strava), disconnected with its
    activities deleted, through the same SQL function as the athlete's own disconnect
    (``public.connection_disconnect``). When the provider says the access still works, the
    event is logged and ignored. Transient provider failures propagate (the job queue
    retries). The provider request is reserved in the shared rate limiter first (``limiter``),
    so a flood of forged events cannot spend the budget the synchronisations need beyond it;
    the job queue keeps at most one such job per connection and kind waiting.
    """
    store = ConnectionStore(gateway)
    provider = providers.get(provider_name)
    if provider is None:
        prefix = provider_name.upper()
        raise ProviderNotConfiguredError(
            provider_name, [f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET"]
        )
    row = store.get_tokens(connection_id)
    if row is None or row.status == "disconnected":
        return AccessEventOutcome("skipped", reason="no such connection, or disconnected")
    if row.provider_user_id != event.provider_user_id:
        return AccessEventOutcome("skipped", reason="the connection is for another account")
    reason: str | None = None
    permissions: AccessCheck | None = None
    if row.sealed is None:
        if row.status == "revoked":
            reason = DEAUTHORIZED_REASON  # the provider refused our tokens earlier
    else:
        try:
            if limiter is not None:
                limiter.acquire(provider_name, buckets_for(provider, row.provider_user_id))
            check = provider.check_access(tokens.valid_tokens(connection_id))
        except TokenRevokedError:
            reason = DEAUTHORIZED_REASON
        except NotImplementedError:
            logger.warning(
                "%s webhook %s for connection %s cannot be confirmed with this provider; ignored",
                provider_name,
                event.kind,
                connection_id,
            )
            return AccessEventOutcome("ignored", reason="cannot be confirmed")
        else:
            if check.withdrawn:
                reason = DEAUTHORIZED_REASON
            elif event.kind == "permissions_changed" and check.granted is not None:
                permissions = check
            elif event.kind == "permissions_changed" and check.missing:
                reason = (
                    f"{', '.join(check.missing)} was withdrawn at the provider; reconnect and "
                    "grant it to sync again"
                )
    if reason is None and permissions is not None:
        assert permissions.granted is not None  # noqa: S101 - checked above
        missing_reason = (
            f"{', '.join(permissions.missing)} is no longer granted to Trainlytics at "
            f"{provider_name}; grant it again in the {provider_name} app to resume syncing"
            if permissions.missing
            else None
        )
        status = store.update_permissions(
            connection_id, permissions.granted, permissions.missing, missing_reason
        )
        logger.info(
            "%s webhook %s for connection %s confirmed by the provider: scopes stored, status %s%s",
            provider_name,
            event.kind,
            connection_id,
            status,
            f" (missing {', '.join(permissions.missing)})" if permissions.missing else "",
        )
        return AccessEventOutcome("permissions_updated", reason=missing_reason)
    if reason is None:
        logger.warning(
            "%s webhook %s for connection %s NOT confirmed: the provider still accepts the "
            "athlete's token; ignored",
            provider_name,
            event.kind,
            connection_id,
        )
        return AccessEventOutcome("ignored")
    store.mark_revoked(connection_id, reason)
    deleted = 0
    if provider.delete_activities_on_disconnect:
        deleted = store.disconnect(connection_id, delete_activities=True).activities_deleted
    logger.info(
        "%s webhook %s for connection %s confirmed by the provider: revoked (%s activities "
        "deleted)",
        provider_name,
        event.kind,
        connection_id,
        deleted,
    )
    return AccessEventOutcome("revoked", activities_deleted=deleted, reason=reason)
