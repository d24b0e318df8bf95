"""Connecting and disconnecting a provider account: plain functions over :class:`Deps`.

The HTTP app (:mod:`trainlytics.api.app`) is a thin layer over these, so each can also be
deployed on its own (one serverless function per endpoint).

- :func:`start_connection`: the caller proves who they are with their Supabase access token.
  A one-time state (``secrets.token_urlsafe(32)``) is stored as its SHA-256 only, bound to the
  user and the provider, for :data:`STATE_TTL_SECONDS`; providers that take PKCE get an S256
  challenge whose verifier (RFC 7636, 86 characters) waits in the state row. Returns the
  provider's authorize URL.
- Tokens never dangle: when a completion fails *after* the code exchange (a required scope
  missing, the identity unreadable, the account actively linked to another user, a storage
  failure), the tokens just obtained are revoked at once (Wahoo caps an app at 10 unrevoked
  tokens per athlete; Polar users and Garmin registrations would stay registered) — unless
  that provider account holds a live connection here: every provider's revocation ends the
  app's access for the whole account (Strava deauthorise, Garmin deregistration, Polar user
  deletion, Google grant revocation, Wahoo and COROS deauthorise), so revoking would cut it.
  A reconnect to a *different* account of the same provider revokes the replaced account's
  tokens the same way; a reconnect of the same account keeps the provider's single grant.
- :func:`start_connection` refuses a new athlete once the provider application is full
  (:meth:`Provider.athlete_capacity`, Strava's Standard tier: 10 athletes): the athlete gets
  ``provider_capacity`` (503) with a clear message instead of Strava's own "Limit of connected
  athletes exceeded" page, and the operator an ERROR log line with what to do.
- :func:`callback_bounce`: where the provider redirects the athlete's browser
  (``GET /oauth/{provider}/callback``). It completes nothing: it only forwards the query
  (``code``, ``state``, ``scope``, ``error``...) to the frontend page
  ``${TRAINLYTICS_FRONTEND_URL}/connections/complete?provider=<p>&...``.
- :func:`complete_connection`: the frontend page POSTs that query with the signed-in athlete's
  own Supabase access token (``POST /connections/{provider}/complete``). The flow is thereby
  bound to the browser that finishes it, not only to the user who started it: the state must
  have been issued to the very user whose token completes it (else ``state_user_mismatch``,
  and the code is never exchanged). An attacker who starts a flow and sends the authorize
  link to a victim gets nothing: the victim's browser completes with the victim's token, which
  is refused for the attacker's state; the attacker cannot complete it either, never seeing
  the code. Then it spends the state (unknown, expired, reused or
  another provider's state is refused), honours an ``error`` the provider sent back (the
  athlete declined), exchanges the code, checks the granted scopes, reads the athlete's id and
  profile, seals the tokens (AES-GCM, :mod:`trainlytics.connections.crypto`), creates or
  reactivates the connection (a reconnect reuses the row, so activities keep their
  connection), queues the initial backfill, and returns the outcome (``status``
  ``connected`` or ``error`` with a short reason code, :data:`REASONS`); none carries a token,
  code or secret.
- :func:`disconnect`: marks the connection disconnected through the same SQL as the athlete's
  own ``update provider_connections set status = 'disconnected'`` (the status trigger queues
  the tokens for revocation and deletes the data of providers whose terms require it:
  ``Provider.delete_activities_on_disconnect`` mirrors ``private.provider_deletes_data_on_
  disconnect``, Strava's API agreement), then revokes the app's access at the provider at once
  (:mod:`trainlytics.connections.revocation`, the worker's code; a failure there is logged, not
  fatal: the job retries). Activities of other providers are kept.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from trainlytics.connections.revocation import revoke_queued
from trainlytics.errors import (
    InsufficientScopeError,
    OAuthStateError,
    ProviderCapacityError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    TokenExchangeError,
    TrainlyticsError,
)
from trainlytics.logs import get_logger
from trainlytics.providers import base as provider_base
from trainlytics.providers import get_provider
from trainlytics.providers.base import Provider

if TYPE_CHECKING:
    from trainlytics.config import Settings
    from trainlytics.connections.crypto import TokenCipher
    from trainlytics.connections.tokens import TokenService
    from trainlytics.db.store import ConnectionStore
    from trainlytics.sync.jobs import JobQueue

__all__ = [
    "REASONS",
    "STATE_TTL_SECONDS",
    "CallbackResult",
    "Deps",
    "DisconnectResult",
    "StartResult",
    "callback_bounce",
    "code_challenge_s256",
    "complete_connection",
    "disconnect",
    "hash_state",
    "new_code_verifier",
    "start_connection",
]

logger = get_logger(__name__)

STATE_TTL_SECONDS = 600

#: Reason codes the frontend may receive after ``status=error``.
REASONS = {
    "access_denied": "the athlete declined at the provider",
    "invalid_state": "the link is not one we issued (forged or for another session)",
    "expired_state": "the link expired; start again",
    "reused_state": "the link was already used",
    "wrong_provider": "the link was issued for another provider",
    "insufficient_scope": "a required permission was not granted",
    "exchange_failed": "the provider refused the authorization code",
    "provider_unavailable": "the provider did not answer; try again later",
    "provider_error": "the provider answered something unexpected",
    "account_linked_elsewhere": "this provider account is linked to another Trainlytics user",
    "state_user_mismatch": "the link was started by another Trainlytics account; start again",
    "invalid_callback": "the provider's redirect could not be forwarded",
}
#: Longest provider redirect query forwarded to the frontend (codes and states are short).
MAX_CALLBACK_QUERY_CHARS = 4096
_STATE_STATUS_REASONS = {
    "unknown": "invalid_state",
    "expired": "expired_state",
    "reused": "reused_state",
    "wrong_provider": "wrong_provider",
}


@dataclass(frozen=True)
class Deps:
    """What the flows need, built once per process (see :func:`trainlytics.api.app.build_deps`)."""

    settings: Settings
    #: Configured providers by name (``trainlytics.providers.build_providers``).
    providers: Mapping[str, Provider]
    store: ConnectionStore
    cipher: TokenCipher
    tokens: TokenService
    jobs: JobQueue
    #: Verifies a Supabase access token and returns the user id (AuthenticationError).
    authenticate: Callable[[str], uuid.UUID]


@dataclass(frozen=True)
class StartResult:
    provider: str
    authorize_url: str
    expires_at: datetime


@dataclass(frozen=True)
class CallbackResult:
    provider: str
    status: str  # "connected" | "error"
    redirect_url: str
    reason: str | None = None
    connection_id: int | None = None


@dataclass(frozen=True)
class DisconnectResult:
    provider: str
    #: False when there was nothing to disconnect (never connected, or already disconnected).
    disconnected: bool
    revoked_at_provider: bool
    activities_deleted: int


# --- state and PKCE ----------------------------------------------------------------------------


def hash_state(state: str) -> str:
    """What is stored of a state: its SHA-256, hex."""
    return hashlib.sha256(state.encode()).hexdigest()


def new_code_verifier() -> str:
    """A PKCE code verifier: 86 characters of ``[A-Za-z0-9_-]`` (RFC 7636 allows 43-128)."""
    return secrets.token_urlsafe(64)


def code_challenge_s256(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- the flows ---------------------------------------------------------------------------------


def start_connection(deps: Deps, bearer_token: str, provider_name: str) -> StartResult:
    """Begin connecting ``provider_name`` for the caller; returns the authorize URL."""
    user_id = deps.authenticate(bearer_token)
    provider = get_provider(deps.providers, provider_name)
    capacity = provider.athlete_capacity()
    if capacity is not None:
        others = deps.store.count_live_connections(provider_name, except_user=user_id)
        if others >= capacity:
            message, hint = provider.capacity_message(capacity)
            logger.error(
                "%s: user %s refused: %s live connections reach the application's limit of %s",
                provider_name,
                user_id,
                others,
                capacity,
            )
            raise ProviderCapacityError(message, hint=hint)
    state = secrets.token_urlsafe(32)
    verifier = new_code_verifier() if provider.uses_pkce else None
    challenge = code_challenge_s256(verifier) if verifier is not None else None
    expires_at = deps.store.create_oauth_state(
        state_hash=hash_state(state),
        user_id=user_id,
        provider=provider_name,
        code_verifier=verifier,
        redirect_uri=provider.credentials.redirect_uri,
        scopes=list(provider.required_scopes),
        ttl_seconds=STATE_TTL_SECONDS,
    )
    url = provider.authorization_url(state=state, code_challenge=challenge)
    logger.info("user %s started connecting %s", user_id, provider_name)
    return StartResult(provider=provider_name, authorize_url=url, expires_at=expires_at)


def frontend_redirect(
    deps: Deps, provider_name: str, status: str, reason: str | None = None
) -> str:
    params = {"provider": provider_name, "status": status}
    if reason is not None:
        params["reason"] = reason
    return f"{deps.settings.frontend_url}/connections?{urlencode(params)}"


def _error(deps: Deps, provider_name: str, reason: str) -> CallbackResult:
    return CallbackResult(
        provider=provider_name,
        status="error",
        reason=reason,
        redirect_url=frontend_redirect(deps, provider_name, "error", reason),
    )


def callback_bounce(deps: Deps, provider_name: str, query: Mapping[str, str]) -> str:
    """Where to send the browser the provider redirected to our callback: the frontend's
    completion page, with the provider's query forwarded (see the module docstring). Nothing
    is spent or exchanged here. Raises only for an unknown or unconfigured provider."""
    get_provider(deps.providers, provider_name)
    forwarded = {key: value for key, value in query.items() if key != "provider"}
    encoded = urlencode(forwarded)
    if len(encoded) > MAX_CALLBACK_QUERY_CHARS:
        logger.warning("%s callback with an oversized query: not forwarded", provider_name)
        return frontend_redirect(deps, provider_name, "error", "invalid_callback")
    params = urlencode({"provider": provider_name})
    suffix = f"&{encoded}" if encoded else ""
    return f"{deps.settings.frontend_url}/connections/complete?{params}{suffix}"


def complete_connection(
    deps: Deps, bearer_token: str, provider_name: str, query: Mapping[str, str]
) -> CallbackResult:
    """Complete a connection for the caller from the provider's redirect query (see the module
    docstring).

    Raises for a missing or invalid access token (nothing is spent then) and for an unknown or
    unconfigured provider; every other failure is ``status=error`` with a reason code."""
    caller = deps.authenticate(bearer_token)
    provider = get_provider(deps.providers, provider_name)
    state = query.get("state")
    if not state:
        logger.warning("%s completion without a state", provider_name)
        return _error(deps, provider_name, "invalid_state")
    consumed = deps.store.consume_oauth_state(state_hash=hash_state(state), provider=provider_name)
    if consumed.status != "ok" or consumed.user_id is None:
        reason = _STATE_STATUS_REASONS.get(consumed.status, "invalid_state")
        logger.warning("%s completion refused: state %s", provider_name, consumed.status)
        return _error(deps, provider_name, reason)
    user_id = consumed.user_id
    if user_id != caller:
        # The state was issued to another user: the link was started elsewhere and sent to
        # this athlete (account-linking CSRF). Spent, never exchanged.
        logger.warning(
            "%s completion refused: the state was issued to user %s, completed by user %s",
            provider_name,
            user_id,
            caller,
        )
        return _error(deps, provider_name, "state_user_mismatch")
    if query.get("error"):
        # The athlete declined (or the provider refused the request): the state is spent.
        logger.info("%s callback for user %s: the provider sent an error", provider_name, user_id)
        return _error(deps, provider_name, "access_denied")
    code = query.get("code")
    if not code:
        logger.warning("%s callback for user %s without a code", provider_name, user_id)
        return _error(deps, provider_name, "exchange_failed")
    try:
        tokens = provider.exchange_code(
            code=code, code_verifier=consumed.code_verifier, callback_query=query
        )
    except TrainlyticsError as exc:
        reason = _reason_for(exc)
        logger.warning(
            "%s callback for user %s failed (%s): %s", provider_name, user_id, reason, exc.message
        )
        return _error(deps, provider_name, reason)
    identity: provider_base.ProviderIdentity | None = None
    try:
        identity = provider.fetch_identity(tokens, callback_query=query)
        missing = provider.missing_scopes(identity)
        if missing:
            raise InsufficientScopeError(provider_name, missing)
    except TrainlyticsError as exc:
        reason = _reason_for(exc)
        logger.warning(
            "%s callback for user %s failed (%s): %s", provider_name, user_id, reason, exc.message
        )
        _revoke_unstored(deps, provider, tokens, identity)
        return _error(deps, provider_name, reason)

    previous = deps.store.find_for_user(user_id, provider_name)
    replaced: provider_base.TokenSet | None = None
    if (
        previous is not None
        and previous.has_tokens
        and previous.provider_user_id != identity.provider_user_id
    ):
        # The athlete reconnects with another account: the old account's tokens are replaced.
        try:
            replaced = dataclasses.replace(
                deps.tokens.stored_tokens(previous.connection_id)[1],
                provider_user_id=previous.provider_user_id,
            )
        except TrainlyticsError as exc:
            logger.info("%s: replaced tokens unreadable (%s)", provider_name, exc.message)
    try:
        outcome = deps.store.upsert_connection(
            user_id=user_id,
            provider=provider_name,
            identity=identity,
            sealed=deps.cipher.seal(tokens, user_id=user_id, provider=provider_name),
        )
    except Exception:
        _revoke_unstored(deps, provider, tokens, identity)
        raise
    if outcome.connection_id is None:
        logger.warning(
            "%s account %s of user %s is actively linked to another user",
            provider_name,
            identity.provider_user_id,
            user_id,
        )
        _revoke_unstored(deps, provider, tokens, identity)
        return _error(deps, provider_name, "account_linked_elsewhere")
    if replaced is not None:
        _revoke_unstored(deps, provider, replaced, None)
    deps.jobs.enqueue_sync(outcome.connection_id, "initial")
    logger.info(
        "user %s %s %s (connection %s)",
        user_id,
        outcome.status,
        provider_name,
        outcome.connection_id,
    )
    return CallbackResult(
        provider=provider_name,
        status="connected",
        redirect_url=frontend_redirect(deps, provider_name, "connected"),
        connection_id=outcome.connection_id,
    )


def _revoke_unstored(
    deps: Deps,
    provider: Provider,
    tokens: provider_base.TokenSet,
    identity: provider_base.ProviderIdentity | None,
) -> bool:
    """Revoke tokens that no stored connection holds (see the module docstring); never raises.
    Skipped when the provider account holds a live connection here (the revocation would end
    that connection's access too). Returns whether the provider accepted the revocation."""
    account = identity.provider_user_id if identity is not None else tokens.provider_user_id
    if account:
        try:
            live = [
                c
                for c in deps.store.find_all_by_provider_user(provider.name, account)
                if c.status in ("active", "error")
            ]
        except TrainlyticsError as exc:
            logger.warning(
                "%s: tokens of a failed connection not revoked: the account's connections "
                "could not be read (%s)",
                provider.name,
                exc.message,
            )
            return False
        if live:
            logger.info(
                "%s: tokens of a failed connection not revoked: account %s has a live "
                "connection here, which a revocation would end",
                provider.name,
                account,
            )
            return False
        tokens = dataclasses.replace(tokens, provider_user_id=account)
    try:
        provider.revoke(tokens)
    except TrainlyticsError as exc:
        logger.warning(
            "%s: revoking the tokens of a failed connection failed: %s", provider.name, exc.message
        )
        return False
    except Exception as exc:  # a token we cannot keep must not crash the answer
        logger.warning(
            "%s: revoking the tokens of a failed connection failed: %s",
            provider.name,
            type(exc).__name__,
        )
        return False
    logger.info("%s: tokens of a failed connection revoked at the provider", provider.name)
    return True


def _reason_for(exc: TrainlyticsError) -> str:
    if isinstance(exc, InsufficientScopeError):
        return "insufficient_scope"
    if isinstance(exc, OAuthStateError):
        return "invalid_state"
    if isinstance(exc, ProviderUnavailableError | RateLimitedError):
        return "provider_unavailable"
    if isinstance(exc, TokenExchangeError):
        return "exchange_failed"
    if isinstance(exc, ProviderError):
        return "provider_error"
    return "provider_error"


def disconnect(deps: Deps, bearer_token: str, provider_name: str) -> DisconnectResult:
    """Disconnect the caller's ``provider_name`` connection (see the module docstring).

    The same SQL as the athlete's own ``update provider_connections set status =
    'disconnected'`` (``public.connection_disconnect``: tokens queued for revocation, Strava
    activities deleted), then the revocation it queued is done at once, by the same code as the
    worker's job (:func:`trainlytics.connections.revocation.revoke_queued`)."""
    user_id = deps.authenticate(bearer_token)
    provider = get_provider(deps.providers, provider_name)
    found = deps.store.find_for_user(user_id, provider_name)
    if found is None:
        return DisconnectResult(provider_name, False, False, 0)
    outcome = deps.store.disconnect(
        found.connection_id, delete_activities=provider.delete_activities_on_disconnect
    )
    report = revoke_queued(
        deps.store, deps.cipher, deps.providers, connection_id=found.connection_id
    )
    revoked = found.connection_id in report.revoked
    deleted = outcome.activities_deleted
    logger.info(
        "user %s disconnected %s (connection %s, revoked at provider: %s, activities deleted: %s)",
        user_id,
        provider_name,
        found.connection_id,
        revoked,
        deleted,
    )
    return DisconnectResult(
        provider=provider_name,
        disconnected=found.status != "disconnected",
        revoked_at_provider=revoked,
        activities_deleted=deleted,
    )
