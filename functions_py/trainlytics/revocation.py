"""Revoking a disconnected connection's tokens at the provider: one path for every disconnect.

A disconnect happens in SQL, whoever asks for it (the athlete's ``update provider_connections
set status = 'disconnected'`` through the Data API, the HTTP disconnect, a deauthorisation):
the status trigger moves the tokens to ``private.token_revocations`` and queues a
``trainlytics:revoke_tokens`` job. Revoking is an HTTP call, so it happens here:
:func:`revoke_queued` claims queued revocations (``public.token_revocations_claim``), opens
the tokens, refreshes an expired access token when it can (some providers revoke by access
token only), asks the provider to revoke, and records the outcome
(``public.token_revocation_finish``: done, or released for a retry; dropped after 5
attempts). The worker's job and the HTTP disconnect both call it; nothing else revokes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from trainlytics.errors import TokenRevokedError, TrainlyticsError
from trainlytics.logs import get_logger

if TYPE_CHECKING:
    from trainlytics.crypto import TokenCipher
    from trainlytics.providers.base import Provider, TokenSet
    from trainlytics.store import ConnectionStore, QueuedRevocation

__all__ = ["RevocationReport", "revoke_queued"]

logger = get_logger(__name__)


@dataclass
class RevocationReport:
    """What one drain of the queue did."""

    #: Connection ids whose tokens the provider revoked (or had already revoked).
    revoked: list[int] = field(default_factory=list)
    #: Connection id -> why the attempt failed (the row waits for a retry, or was dropped).
    failed: dict[int, str] = field(default_factory=dict)


def revoke_queued(
    store: ConnectionStore,
    cipher: TokenCipher,
    providers: Mapping[str, Provider],
    *,
    connection_id: int | None = None,
    limit: int = 50,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RevocationReport:
    """Revoke the queued tokens (of one connection, or up to ``limit`` of any)."""
    report = RevocationReport()
    for queued in store.claim_revocations(connection_id, limit):
        error = _revoke_one(cipher, providers, queued, clock())
        store.finish_revocation(queued.revocation_id, revoked=error is None, error=error)
        if error is None:
            report.revoked.append(queued.connection_id)
            logger.info(
                "%s: tokens of disconnected connection %s revoked at the provider",
                queued.provider,
                queued.connection_id,
            )
        else:
            report.failed[queued.connection_id] = error
            logger.warning(
                "%s: revoking the tokens of connection %s failed (attempt %s): %s",
                queued.provider,
                queued.connection_id,
                queued.attempts,
                error,
            )
    return report


def _revoke_one(
    cipher: TokenCipher,
    providers: Mapping[str, Provider],
    queued: QueuedRevocation,
    now: datetime,
) -> str | None:
    """None when revoked (or already revoked); otherwise the reason, without any token."""
    provider = providers.get(queued.provider)
    if provider is None:
        return f"provider {queued.provider} is not configured in this process"
    try:
        tokens: TokenSet = cipher.open(
            queued.sealed, user_id=queued.user_id, provider=queued.provider
        )
    except TrainlyticsError as exc:
        return exc.message
    # The ciphertexts do not carry the account id; some revocations need it (Polar).
    tokens = replace(tokens, provider_user_id=queued.provider_user_id)
    if provider.needs_refresh(tokens, now, 60.0):
        try:
            tokens = replace(provider.refresh(tokens), provider_user_id=queued.provider_user_id)
        except TokenRevokedError:
            return None  # the provider no longer honours these tokens: nothing left to revoke
        except TrainlyticsError as exc:
            logger.info(
                "%s: connection %s: no fresh token to revoke with (%s); using the stored one",
                queued.provider,
                queued.connection_id,
                exc.message,
            )
    try:
        provider.revoke(tokens)
    except TokenRevokedError:
        return None
    except TrainlyticsError as exc:
        return exc.message
    return None
