"""Valid access tokens on demand, with refreshes serialised across processes by a DB lease.

API
---
- ``TokenService(store, cipher, providers, *, margin_seconds=300, lease_seconds=60,
  wait_timeout=30.0, poll_interval=0.05)``
    - ``valid_tokens(connection_id: int) -> TokenSet`` — decrypted tokens, refreshed first when
      they expire within ``margin_seconds``.
    - ``stored_tokens(connection_id: int) -> tuple[StoredTokens, TokenSet]`` — decrypted as
      stored, no refresh (e.g. to revoke at the provider on disconnect).
- ``rotate_keys(store, cipher, *, batch_size=500, on_progress=None) -> RotationResult`` —
  re-encrypt every token row, and every revocation still queued, not under the current key
  (``trainlytics tokens rotate-key``).

Refresh protocol (single-use refresh tokens — Wahoo, Strava, Garmin rotate them — must never be
spent twice):

1. read the row (version ``v``); if the token is fresh enough, return it;
2. take the lease (``tokens_acquire_refresh_lease``); if acquired but the version is no longer
   ``v``, someone refreshed meanwhile: release and go to 1;
3. if acquired: ``provider.refresh`` → seal → ``tokens_store_refreshed`` (bumps the version,
   releases the lease). A refusal (``TokenRevokedError``, 400/401) marks the connection revoked
   with the reason and is raised — never retried; for a provider whose terms require deleting
   its data on deauthorisation (Strava), the refusal is that deauthorisation seen by the
   provider itself: the connection is disconnected with its activities deleted. Transient
   failures release the lease with a ``refresh_failed`` event and are raised for the job
   queue's retry;
4. if not acquired: poll (small sleeps, bounded by ``wait_timeout``) until the version moves
   or the lease is free or lapsed, then go to 1.

Errors: ``TokenRevokedError`` (no tokens held / refused), ``TokenRefreshError`` (waited too long,
lease lost), ``ProviderUnavailableError`` / ``RateLimitedError`` (transient, from the provider),
``ProviderNotConfiguredError``, ``TokenDecryptionError``.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from trainlytics.connections.crypto import TokenCipher
from trainlytics.db.store import ConnectionStore, ResealedRevocation, StoredTokens
from trainlytics.errors import (
    ProviderNotConfiguredError,
    TokenRefreshError,
    TokenRevokedError,
)
from trainlytics.logs import get_logger
from trainlytics.providers.base import Provider, TokenSet

__all__ = ["RotationResult", "TokenService", "rotate_keys"]

log = get_logger(__name__)


class TokenService:
    """Hands out valid tokens; one instance per process (thread-safe: holders are per call)."""

    def __init__(
        self,
        store: ConnectionStore,
        cipher: TokenCipher,
        providers: Mapping[str, Provider],
        *,
        margin_seconds: float = 300.0,
        lease_seconds: int = 60,
        wait_timeout: float = 30.0,
        poll_interval: float = 0.05,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.providers = providers
        self.margin_seconds = margin_seconds
        self.lease_seconds = lease_seconds
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self._holder_prefix = f"{socket.gethostname()}:{os.getpid()}"

    def stored_tokens(self, connection_id: int) -> tuple[StoredTokens, TokenSet]:
        """The connection's tokens, decrypted, as stored (no refresh)."""
        row = self._read(connection_id)
        return row, self._open(row)

    def valid_tokens(self, connection_id: int) -> TokenSet:
        """Tokens whose access token is valid for at least ``margin_seconds`` (if refreshable)."""
        deadline = time.monotonic() + self.wait_timeout
        while True:
            row = self._read(connection_id)
            tokens = self._open(row)
            provider = self._provider(row.provider)
            if not provider.needs_refresh(tokens, self._clock(), self.margin_seconds):
                return tokens
            assert row.version is not None  # noqa: S101 - tokens are held, so is a version
            holder = f"{self._holder_prefix}:{uuid.uuid4().hex}"
            lease = self.store.acquire_refresh_lease(connection_id, holder, self.lease_seconds)
            if lease is None:  # tokens deleted meanwhile (revoked/disconnected): re-read says so
                continue
            if lease.acquired:
                if lease.version != row.version:
                    self.store.release_lease(connection_id, holder)
                    continue
                return self._refresh(row, tokens, provider, holder)
            self._wait_for_refresh(connection_id, row.version, deadline)

    # --- internals ------------------------------------------------------------------------------

    def _read(self, connection_id: int) -> StoredTokens:
        row = self.store.get_tokens(connection_id)
        if row is None:
            raise TokenRevokedError("trainlytics", f"connection {connection_id} does not exist")
        if row.sealed is None:
            raise TokenRevokedError(
                row.provider,
                f"connection {connection_id} holds no tokens (status {row.status})",
                hint="the athlete must reconnect",
            )
        return row

    def _open(self, row: StoredTokens) -> TokenSet:
        assert row.sealed is not None  # noqa: S101 - checked by _read
        tokens = self.cipher.open(row.sealed, user_id=row.user_id, provider=row.provider)
        # Some providers need the athlete's id to act on the tokens (Polar revokes by deleting
        # /v3/users/{id}); the ciphertexts do not carry it, the connection row does.
        return replace(tokens, provider_user_id=row.provider_user_id)

    def _provider(self, name: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            prefix = name.upper()
            raise ProviderNotConfiguredError(
                name, [f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET"]
            )
        return provider

    def _refresh(
        self, row: StoredTokens, tokens: TokenSet, provider: Provider, holder: str
    ) -> TokenSet:
        connection_id = row.connection_id
        try:
            refreshed = provider.refresh(tokens)
        except TokenRevokedError as exc:
            log.warning("connection %s: refresh refused, marking revoked", connection_id)
            self.store.mark_revoked(connection_id, exc.message)
            if provider.delete_activities_on_disconnect:
                # The provider itself refused our grant: the athlete deauthorised us (Strava
                # invalidates every token of a deauthorised app), whether or not its webhook
                # reached us. Its terms require deleting its data now (issue 13).
                deleted = self.store.disconnect(connection_id, delete_activities=True)
                log.warning(
                    "connection %s: %s refused the refresh token: disconnected, %s activities "
                    "deleted as the provider's terms require",
                    connection_id,
                    provider.name,
                    deleted.activities_deleted,
                )
            raise
        except Exception as exc:
            reason = getattr(exc, "message", type(exc).__name__)
            log.warning("connection %s: refresh failed (%s)", connection_id, reason)
            self.store.release_lease(connection_id, holder, failure=str(reason))
            raise
        sealed = self.cipher.seal(refreshed, user_id=row.user_id, provider=row.provider)
        version = self.store.store_refreshed(connection_id, holder, sealed)
        if version is None:
            # Our lease lapsed and someone else took it while the provider answered: the new
            # tokens cannot be stored safely. Rare (lease_seconds >> a refresh round trip).
            log.error("connection %s: refresh lease lost before storing", connection_id)
            raise TokenRefreshError(
                row.provider,
                f"connection {connection_id}: the refresh lease lapsed before the refreshed "
                "tokens could be stored",
                hint="increase lease_seconds; the connection may need reconnecting",
            )
        log.info("connection %s: tokens refreshed (version %s)", connection_id, version)
        return refreshed

    def _wait_for_refresh(self, connection_id: int, version: int, deadline: float) -> None:
        """Sleep until the version moves, the lease is free or lapsed, or the deadline."""
        while True:
            if time.monotonic() >= deadline:
                raise TokenRefreshError(
                    "trainlytics",
                    f"connection {connection_id}: timed out waiting for another process's "
                    "token refresh",
                    hint="retry later",
                )
            self._sleep(self.poll_interval)
            row = self.store.get_tokens(connection_id)
            if row is None or row.sealed is None or row.version != version:
                return
            if row.lease_holder is None or (
                row.lease_until is not None and row.lease_until < self._clock()
            ):
                return


# --- Key rotation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RotationResult:
    #: Rows re-encrypted under the current key (token rows and queued revocations).
    reencrypted: int
    #: Rows changed concurrently (e.g. refreshed, hence already under the current key, or a
    #: revocation done meanwhile) and left alone; a later run picks up any that still need it.
    skipped: int
    #: Of ``reencrypted``, the rows of ``private.token_revocations`` (tokens of disconnected
    #: connections still waiting to be revoked at the provider).
    revocations: int = 0


def rotate_keys(
    store: ConnectionStore,
    cipher: TokenCipher,
    *,
    batch_size: int = 500,
    on_progress: Callable[[int, int], None] | None = None,
) -> RotationResult:
    """Re-encrypt every token row, and every queued revocation, not sealed with
    ``cipher.current_kid``, in batches.

    Idempotent: rows already under the current key are not touched, so running it again
    does nothing. ``on_progress(done, total)`` is called after each row (``total`` is known
    from the first batches on). Raises TokenDecryptionError if a row's key is not configured."""
    current = cipher.current_kid
    after = 0
    done = reencrypted = skipped = 0
    first = store.tokens_for_rotation(current, after, batch_size)
    first_revocations = store.revocations_for_rotation(current, 0, batch_size)
    total = (first[0].remaining if first else 0) + (
        first_revocations[0].remaining if first_revocations else 0
    )
    batch = first
    while batch:
        for row in batch:
            tokens = cipher.open(row.sealed, user_id=row.user_id, provider=row.provider)
            sealed = cipher.seal(tokens, user_id=row.user_id, provider=row.provider)
            if store.replace_ciphertexts(row.connection_id, row.version, sealed):
                reencrypted += 1
            else:
                skipped += 1
            done += 1
            after = row.connection_id
            if on_progress is not None:
                on_progress(done, max(total, done))
        batch = store.tokens_for_rotation(current, after, batch_size)
    # The revocation queue: one set-based replace per batch.
    revocations = 0
    pending = first_revocations
    while pending:
        resealed = [
            ResealedRevocation(
                revocation_id=row.revocation_id,
                expected_key_id=row.sealed.key_id,
                sealed=cipher.seal(
                    cipher.open(row.sealed, user_id=row.user_id, provider=row.provider),
                    user_id=row.user_id,
                    provider=row.provider,
                ),
            )
            for row in pending
        ]
        replaced = store.replace_revocation_ciphertexts(resealed)
        revocations += replaced
        skipped += len(resealed) - replaced
        done += len(resealed)
        if on_progress is not None:
            on_progress(done, max(total, done))
        pending = store.revocations_for_rotation(
            current, max(row.revocation_id for row in pending), batch_size
        )
    return RotationResult(
        reencrypted=reencrypted + revocations, skipped=skipped, revocations=revocations
    )
