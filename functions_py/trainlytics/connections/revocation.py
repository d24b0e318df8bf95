"""Revoking a disconnected connection's tokens at the provider: one path for every disconnect.

A disconnect happens in SQL, whoever asks for it (the athlete's ``update provider_connections
set status = 'disconnected'`` through the Data API, the HTTP disconnect, a deauthorisation):
the status trigger moves the tokens to ``private.token_revocations`` and queues a
``trainlytics:revoke_tokens`` job. Revoking is an HTTP call, so it happens here:
:func:`revoke_queued` claims queued revocations (``public.token_revocations_claim``), opens
the tokens, refreshes an expired access token when it can (some providers revoke by access
token only), asks the provider to revoke, and records the outcome
(``public.token_revocation_finish``). The worker's job and the HTTP disconnect both call it;
:func:`sweep_revocations`, the periodic ``trainlytics:sweep_revocations`` job (every 10
minutes), pages through the whole queue with the same code, so a row whose job was never
queued (job queue not installed yet) or ran out of retries is revoked all the same.

Outcomes: revoked (the row goes); failed (kept for the next attempt; dropped unrevoked after
the 5th, with an error line); deferred, when this server cannot try at all — the provider's
client id/secret or the sealing key is not configured, an operator error: the attempt is not
counted, the row is kept, and each drain logs one warning line naming what to configure. A row
queued for more than 30 days is dropped whatever the reason (ciphertext is never kept for ever).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from trainlytics.errors import (
    ConfigError,
    ProviderNotConfiguredError,
    TokenRevokedError,
    TrainlyticsError,
    UnknownProviderError,
)
from trainlytics.logs import get_logger
from trainlytics.providers import get_provider

if TYPE_CHECKING:
    from trainlytics.connections.crypto import TokenCipher
    from trainlytics.db.store import ConnectionStore, QueuedRevocation, RevocationOutcome
    from trainlytics.providers.base import Provider, TokenSet

__all__ = ["SWEEP_BATCH", "RevocationReport", "revoke_queued", "sweep_revocations"]

logger = get_logger(__name__)


@dataclass
class RevocationReport:
    """What one drain of the queue did."""

    #: Connection ids whose tokens the provider revoked (or had already revoked).
    revoked: list[int] = field(default_factory=list)
    #: Connection id -> why the attempt failed (the row waits for a retry).
    failed: dict[int, str] = field(default_factory=dict)
    #: Connection id -> the operator error that kept this server from trying (not an attempt).
    deferred: dict[int, str] = field(default_factory=dict)
    #: Connection id -> why its tokens were given up unrevoked (budget spent, or too old).
    dropped: dict[int, str] = field(default_factory=dict)


#: Rows claimed per call by the sweep.
SWEEP_BATCH = 100


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
        _attempt(store, cipher, providers, queued, clock(), report)
    _log_deferred(report)
    return report


def sweep_revocations(
    store: ConnectionStore,
    cipher: TokenCipher,
    providers: Mapping[str, Provider],
    *,
    batch_size: int = SWEEP_BATCH,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RevocationReport:
    """Attempt every queued revocation once (those another worker holds are skipped), in
    batches by id, so a row released for a retry waits for the next sweep."""
    report = RevocationReport()
    after = 0
    while batch := store.claim_due_revocations(after, batch_size):
        for queued in batch:
            _attempt(store, cipher, providers, queued, clock(), report)
        after = max(queued.revocation_id for queued in batch)
    _log_deferred(report)
    return report


def _attempt(
    store: ConnectionStore,
    cipher: TokenCipher,
    providers: Mapping[str, Provider],
    queued: QueuedRevocation,
    now: datetime,
    report: RevocationReport,
) -> None:
    outcome, error = _revoke_one(cipher, providers, queued, now)
    result = store.finish_revocation(queued.revocation_id, outcome=outcome, error=error)
    if outcome == "revoked":
        report.revoked.append(queued.connection_id)
        logger.info(
            "%s: tokens of disconnected connection %s revoked at the provider",
            queued.provider,
            queued.connection_id,
        )
        return
    reason = error or "unknown error"
    if result == "dropped":
        report.dropped[queued.connection_id] = reason
        logger.error(
            "%s: gave up revoking the tokens of disconnected connection %s after %s attempt(s) "
            "(attempt budget spent, or queued for over 30 days): %s; the tokens were deleted "
            "unrevoked (they stay valid at the provider until they expire or the athlete "
            "removes the app there)",
            queued.provider,
            queued.connection_id,
            queued.attempts if outcome == "failed" else queued.attempts - 1,
            reason,
        )
    elif outcome == "deferred":
        report.deferred[queued.connection_id] = reason
    elif result == "retry":
        report.failed[queued.connection_id] = reason
        logger.warning(
            "%s: revoking the tokens of connection %s failed (attempt %s): %s",
            queued.provider,
            queued.connection_id,
            queued.attempts,
            reason,
        )


def _log_deferred(report: RevocationReport) -> None:
    """One operator-facing line for every revocation this server could not even attempt."""
    if not report.deferred:
        return
    by_reason: dict[str, list[int]] = {}
    for connection_id, reason in report.deferred.items():
        by_reason.setdefault(reason, []).append(connection_id)
    logger.warning(
        "%s queued revocation(s) cannot be attempted on this server (operator configuration; "
        "not counted as attempts, kept until configured or 30 days after the disconnect): %s",
        len(report.deferred),
        "; ".join(
            f"{reason} (connections {', '.join(map(str, sorted(ids)))})"
            for reason, ids in sorted(by_reason.items())
        ),
    )


def _revoke_one(
    cipher: TokenCipher,
    providers: Mapping[str, Provider],
    queued: QueuedRevocation,
    now: datetime,
) -> tuple[RevocationOutcome, str | None]:
    """The outcome, and the reason when not revoked (without any token)."""
    try:
        provider = get_provider(providers, queued.provider)
    except (ProviderNotConfiguredError, UnknownProviderError) as exc:
        return "deferred", _with_hint(exc)
    if queued.sealed.key_id not in cipher.key_ids:
        return "deferred", (
            f"tokens sealed with key {queued.sealed.key_id!r}, which is not configured "
            "(add it to TRAINLYTICS_TOKEN_KEYS)"
        )
    try:
        tokens: TokenSet = cipher.open(
            queued.sealed, user_id=queued.user_id, provider=queued.provider
        )
    except TrainlyticsError as exc:
        return "failed", exc.message
    # The ciphertexts do not carry the account id; some revocations need it (Polar).
    tokens = replace(tokens, provider_user_id=queued.provider_user_id)
    try:
        if provider.needs_refresh(tokens, now, 60.0):
            try:
                tokens = replace(provider.refresh(tokens), provider_user_id=queued.provider_user_id)
            except TokenRevokedError:
                return "revoked", None  # the provider no longer honours these tokens
            except (ProviderNotConfiguredError, ConfigError):
                raise
            except TrainlyticsError as exc:
                logger.info(
                    "%s: connection %s: no fresh token to revoke with (%s); using the stored one",
                    queued.provider,
                    queued.connection_id,
                    exc.message,
                )
        provider.revoke(tokens)
    except TokenRevokedError:
        return "revoked", None
    except (ProviderNotConfiguredError, ConfigError) as exc:
        return "deferred", _with_hint(exc)
    except TrainlyticsError as exc:
        return "failed", exc.message
    return "revoked", None


def _with_hint(exc: TrainlyticsError) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else exc.message
