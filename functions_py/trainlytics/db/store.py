"""Typed wrappers over the connection SQL functions — the only Python naming them.

API (``ConnectionStore(gateway: Gateway)``)
------------------------------------------
- ``create_oauth_state(*, state_hash, user_id, provider, code_verifier, redirect_uri, scopes,
  ttl_seconds=600) -> datetime`` — when the state expires.
- ``consume_oauth_state(*, state_hash, provider) -> ConsumedState`` — ``status`` is one of
  ``ok | unknown | expired | reused | wrong_provider``; user_id/code_verifier/redirect_uri only
  for ``ok``. The state is spent whatever the status.
- ``upsert_connection(*, user_id, provider, identity: ProviderIdentity, sealed: SealedTokens)
  -> UpsertResult`` — ``status`` ``connected | reconnected | linked_to_other_user``.
- ``find_by_provider_user(provider, provider_user_id) -> ConnectionRef | None`` — active only.
- ``find_all_by_provider_user(provider, provider_user_id) -> list[AccountConnection]`` — every
  connection of that provider account that is not disconnected (for access events).
- ``find_for_user(user_id, provider) -> UserConnection | None`` — any status.
- ``get_tokens(connection_id) -> StoredTokens | None`` — None for an unknown connection;
  ``StoredTokens.sealed`` is None when no tokens are held (revoked / disconnected).
- ``acquire_refresh_lease(connection_id, holder, seconds) -> Lease | None`` (None: no tokens).
- ``store_refreshed(connection_id, holder, sealed) -> int | None`` — new version, or None when
  ``holder`` no longer holds the lease.
- ``release_lease(connection_id, holder, failure=None) -> bool``
- ``mark_revoked(connection_id, reason) -> bool`` — whether the status changed.
- ``disconnect(connection_id, *, delete_activities) -> DisconnectResult`` — the same SQL as
  an athlete's ``update provider_connections set status = 'disconnected'``: tokens queued for
  revocation, Strava activities deleted.
- ``claim_revocations(connection_id=None, limit=50) -> list[QueuedRevocation]``,
  ``claim_due_revocations(after_id, limit) -> list[QueuedRevocation]`` (the sweep's keyset
  claim) and ``finish_revocation(revocation_id, *, outcome, error=None) -> FinishOutcome``
  (``revoked | retry | deferred | dropped | gone``) — the revocation queue.
- ``tokens_for_rotation(current_key_id, after_connection_id, limit) -> list[RotationRow]``
- ``replace_ciphertexts(connection_id, expected_version, sealed) -> bool``
- ``revocations_for_rotation(current_key_id, after_id, limit) -> list[RevocationRotationRow]``
  and ``replace_revocation_ciphertexts(rows) -> int`` (one set-based call per batch).

Athlete settings (functions over a psycopg connection, acting as the athlete under RLS):
``get_athlete_settings(conn, user_id, *, reader=None) -> AthleteSettings | None``,
``set_athlete_settings(conn, user_id, changes)``, ``set_ftp(conn, user_id, ftp_w,
effective_from)``, ``remove_ftp(conn, user_id, effective_from)``; refusals raise
``SettingsError`` (SQLSTATE + one line).

API (``StreamStore(gateway: Gateway)``, issue 18)
-------------------------------------------------
- ``store_streams(activity_id, streams: ActivityStreams, *, source=None) -> int`` — stores or
  replaces the activity's streams (``public.ingest_activity_streams``); the sample count.
  ``source`` defaults to the activity's provider, else ``file``. Bad streams raise
  ``GatewayError`` (SQLSTATE 22023) naming the channel; nothing stored changes.
- ``delete_streams(activity_id) -> None``
- ``store_file_streams(user_id, sha256, streams) -> int | None`` — the streams of the
  athlete's activity imported from the file with that content hash; None when there is none.

Ids: connection ids are ``int``, user ids ``uuid.UUID``, providers the ``provider_type`` string.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, cast

import psycopg
from psycopg.types.json import Jsonb

from trainlytics.connections.crypto import SealedTokens
from trainlytics.db.gateway import Gateway
from trainlytics.errors import SettingsError
from trainlytics.providers.base import ProviderIdentity
from trainlytics.streams import ActivityStreams

__all__ = [
    "CONNECTION_FUNCTIONS",
    "FUNCTIONS",
    "SETTING_KEYS",
    "STREAM_FUNCTIONS",
    "AccountConnection",
    "AthleteSettings",
    "ConnectionRef",
    "ConnectionStore",
    "ConsumedState",
    "DisconnectResult",
    "FinishOutcome",
    "FtpEntry",
    "Lease",
    "QueuedRevocation",
    "ResealedRevocation",
    "RevocationOutcome",
    "RevocationRotationRow",
    "RotationRow",
    "StateStatus",
    "StoredTokens",
    "StreamStore",
    "UpsertResult",
    "UpsertStatus",
    "UserConnection",
    "get_athlete_settings",
    "remove_ftp",
    "set_athlete_settings",
    "set_ftp",
]

#: Every SQL function this module calls (its part of the allow-list, ``trainlytics.db``).
CONNECTION_FUNCTIONS = frozenset(
    {
        "oauth_state_create",
        "oauth_state_consume",
        "connection_upsert",
        "connection_find_by_provider_user",
        "connection_find_all_by_provider_user",
        "connection_find_for_user",
        "connection_mark_revoked",
        "connection_disconnect",
        "connection_update_permissions",
        "connection_count_live",
        "tokens_get",
        "tokens_acquire_refresh_lease",
        "tokens_store_refreshed",
        "tokens_release_lease",
        "tokens_for_rotation",
        "tokens_replace_ciphertexts",
        "token_revocations_claim",
        "token_revocation_finish",
        "token_revocations_claim_due",
        "token_revocations_for_rotation",
        "token_revocations_replace_ciphertexts",
    }
)
#: The SQL functions of :class:`StreamStore`.
STREAM_FUNCTIONS = frozenset({"ingest_activity_streams", "ingest_file_streams"})
#: The name every typed module of ``trainlytics.db`` declares its SQL functions under.
FUNCTIONS = CONNECTION_FUNCTIONS | STREAM_FUNCTIONS

StateStatus = Literal["ok", "unknown", "expired", "reused", "wrong_provider"]
UpsertStatus = Literal["connected", "reconnected", "linked_to_other_user"]
ConnectionStatus = Literal["active", "error", "revoked", "disconnected"]
#: What a revocation attempt came to: ``deferred`` is an operator error on this server (provider
#: or key not configured), which does not count as an attempt.
RevocationOutcome = Literal["revoked", "failed", "deferred"]
#: What became of the row: ``retry`` / ``deferred`` keep it, ``dropped`` gave it up unrevoked
#: (attempt budget spent, or queued too long), ``gone`` it was no longer queued.
FinishOutcome = Literal["revoked", "retry", "deferred", "dropped", "gone"]


@dataclass(frozen=True)
class ConsumedState:
    status: StateStatus
    user_id: uuid.UUID | None = None
    code_verifier: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpsertResult:
    status: UpsertStatus
    connection_id: int | None


@dataclass(frozen=True)
class ConnectionRef:
    connection_id: int
    user_id: uuid.UUID


@dataclass(frozen=True)
class AccountConnection:
    connection_id: int
    user_id: uuid.UUID
    status: ConnectionStatus


@dataclass(frozen=True)
class UserConnection:
    connection_id: int
    status: ConnectionStatus
    provider_user_id: str
    has_tokens: bool


@dataclass(frozen=True)
class StoredTokens:
    connection_id: int
    user_id: uuid.UUID
    provider: str
    provider_user_id: str
    status: ConnectionStatus
    #: None when the connection holds no tokens (revoked or disconnected).
    sealed: SealedTokens | None
    version: int | None
    lease_holder: str | None
    lease_until: datetime | None


@dataclass(frozen=True)
class Lease:
    acquired: bool
    #: The tokens' version now; differs from the one read before if someone refreshed.
    version: int


@dataclass(frozen=True)
class DisconnectResult:
    changed: bool
    activities_deleted: int


@dataclass(frozen=True)
class QueuedRevocation:
    """Tokens of a disconnected connection, claimed for revocation at the provider."""

    revocation_id: int
    connection_id: int
    user_id: uuid.UUID
    provider: str
    provider_user_id: str
    sealed: SealedTokens
    attempts: int


@dataclass(frozen=True)
class RevocationRotationRow:
    """A queued revocation sealed with another key than the current one."""

    revocation_id: int
    user_id: uuid.UUID
    provider: str
    sealed: SealedTokens
    #: Rows still to rotate, this one included.
    remaining: int


@dataclass(frozen=True)
class ResealedRevocation:
    """A queued revocation's tokens sealed anew, replacing those sealed with ``expected_key_id``."""

    revocation_id: int
    expected_key_id: str
    sealed: SealedTokens


@dataclass(frozen=True)
class RotationRow:
    connection_id: int
    user_id: uuid.UUID
    provider: str
    sealed: SealedTokens
    version: int
    #: Rows still to rotate, this one included.
    remaining: int


class ConnectionStore:
    """Connections, OAuth states and encrypted tokens, over any :class:`Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def _one(self, function: str, args: dict[str, Any]) -> dict[str, Any] | None:
        rows = self.gateway.call(function, args)
        return rows[0] if rows else None

    # --- OAuth states ---------------------------------------------------------------------

    def create_oauth_state(
        self,
        *,
        state_hash: str,
        user_id: uuid.UUID,
        provider: str,
        code_verifier: str | None,
        redirect_uri: str,
        scopes: tuple[str, ...] | list[str] = (),
        ttl_seconds: int = 600,
    ) -> datetime:
        row = self._one(
            "oauth_state_create",
            {
                "p_state_hash": state_hash,
                "p_user_id": user_id,
                "p_provider": provider,
                "p_code_verifier": code_verifier,
                "p_redirect_uri": redirect_uri,
                "p_scopes": list(scopes),
                "p_ttl_seconds": ttl_seconds,
            },
        )
        assert row is not None  # noqa: S101 - an insert returns its row
        return _datetime(row["expires_at"])

    def consume_oauth_state(self, *, state_hash: str, provider: str) -> ConsumedState:
        row = self._one("oauth_state_consume", {"p_state_hash": state_hash, "p_provider": provider})
        if row is None:
            return ConsumedState("unknown")
        return ConsumedState(
            status=cast(StateStatus, row["status"]),
            user_id=_uuid_or_none(row["user_id"]),
            code_verifier=row["code_verifier"],
            redirect_uri=row["redirect_uri"],
            scopes=tuple(row["scopes"] or ()),
        )

    # --- Connections ----------------------------------------------------------------------

    def upsert_connection(
        self,
        *,
        user_id: uuid.UUID,
        provider: str,
        identity: ProviderIdentity,
        sealed: SealedTokens,
    ) -> UpsertResult:
        row = self._one(
            "connection_upsert",
            {
                "p_user_id": user_id,
                "p_provider": provider,
                "p_provider_user_id": identity.provider_user_id,
                "p_provider_username": identity.username,
                "p_provider_profile": dict(identity.profile),
                "p_scopes": list(identity.scopes),
                "p_key_id": sealed.key_id,
                "p_access_token_ciphertext": sealed.access_token_ciphertext,
                "p_refresh_token_ciphertext": sealed.refresh_token_ciphertext,
                "p_access_token_expires_at": sealed.access_token_expires_at,
                "p_refresh_token_expires_at": sealed.refresh_token_expires_at,
            },
        )
        assert row is not None  # noqa: S101 - the function always returns one row
        return UpsertResult(
            status=cast(UpsertStatus, row["status"]),
            connection_id=None if row["connection_id"] is None else int(row["connection_id"]),
        )

    def find_by_provider_user(self, provider: str, provider_user_id: str) -> ConnectionRef | None:
        row = self._one(
            "connection_find_by_provider_user",
            {"p_provider": provider, "p_provider_user_id": provider_user_id},
        )
        if row is None:
            return None
        return ConnectionRef(int(row["connection_id"]), _uuid(row["user_id"]))

    def find_all_by_provider_user(
        self, provider: str, provider_user_id: str
    ) -> list[AccountConnection]:
        rows = self.gateway.call(
            "connection_find_all_by_provider_user",
            {"p_provider": provider, "p_provider_user_id": provider_user_id},
        )
        return [
            AccountConnection(
                connection_id=int(row["connection_id"]),
                user_id=_uuid(row["user_id"]),
                status=cast(ConnectionStatus, row["status"]),
            )
            for row in rows
        ]

    def count_live_connections(self, provider: str, *, except_user: uuid.UUID) -> int:
        """Active or error connections of ``provider`` held by other users than
        ``except_user`` (the athletes the provider application serves)."""
        row = self._one(
            "connection_count_live",
            {"p_provider": provider, "p_except_user_id": except_user},
        )
        return int(next(iter(row.values())) or 0) if row else 0

    def find_for_user(self, user_id: uuid.UUID, provider: str) -> UserConnection | None:
        row = self._one("connection_find_for_user", {"p_user_id": user_id, "p_provider": provider})
        if row is None:
            return None
        return UserConnection(
            connection_id=int(row["connection_id"]),
            status=cast(ConnectionStatus, row["status"]),
            provider_user_id=row["provider_user_id"],
            has_tokens=bool(row["has_tokens"]),
        )

    def mark_revoked(self, connection_id: int, reason: str) -> bool:
        row = self._one(
            "connection_mark_revoked", {"p_connection_id": connection_id, "p_reason": reason}
        )
        return bool(row and row["changed"])

    def update_permissions(
        self,
        connection_id: int,
        scopes: Sequence[str],
        missing: Sequence[str],
        reason: str | None,
    ) -> str | None:
        """Store a confirmed permission change (``connection_update_permissions``); returns the
        connection's status after it (unchanged when it was revoked or disconnected; None for
        an unknown connection)."""
        row = self._one(
            "connection_update_permissions",
            {
                "p_connection_id": connection_id,
                "p_scopes": list(scopes),
                "p_missing": list(missing),
                "p_reason": reason,
            },
        )
        return None if row is None or row["status"] is None else str(row["status"])

    def disconnect(self, connection_id: int, *, delete_activities: bool) -> DisconnectResult:
        row = self._one(
            "connection_disconnect",
            {"p_connection_id": connection_id, "p_delete_activities": delete_activities},
        )
        if row is None:
            return DisconnectResult(changed=False, activities_deleted=0)
        return DisconnectResult(bool(row["changed"]), int(row["activities_deleted"]))

    def claim_revocations(
        self, connection_id: int | None = None, limit: int = 50
    ) -> list[QueuedRevocation]:
        rows = self.gateway.call(
            "token_revocations_claim", {"p_connection_id": connection_id, "p_limit": limit}
        )
        return _queued_revocations(rows)

    def claim_due_revocations(self, after_id: int, limit: int) -> list[QueuedRevocation]:
        """The sweep's claim: rows after ``after_id`` (by id), so a row released for a retry
        is not claimed twice in one sweep."""
        rows = self.gateway.call(
            "token_revocations_claim_due", {"p_after_id": after_id, "p_limit": limit}
        )
        return _queued_revocations(rows)

    def finish_revocation(
        self, revocation_id: int, *, outcome: RevocationOutcome, error: str | None = None
    ) -> FinishOutcome:
        """Record an attempt's outcome; what became of the row."""
        row = self._one(
            "token_revocation_finish",
            {"p_revocation_id": revocation_id, "p_outcome": outcome, "p_error": error},
        )
        return cast(FinishOutcome, row["outcome"]) if row else "gone"

    # --- Tokens -----------------------------------------------------------------------------

    def get_tokens(self, connection_id: int) -> StoredTokens | None:
        row = self._one("tokens_get", {"p_connection_id": connection_id})
        if row is None:
            return None
        sealed = None
        if row["access_token_ciphertext"] is not None:
            sealed = SealedTokens(
                key_id=row["key_id"],
                access_token_ciphertext=row["access_token_ciphertext"],
                refresh_token_ciphertext=row["refresh_token_ciphertext"],
                access_token_expires_at=_datetime_or_none(row["access_token_expires_at"]),
                refresh_token_expires_at=_datetime_or_none(row["refresh_token_expires_at"]),
            )
        return StoredTokens(
            connection_id=int(row["connection_id"]),
            user_id=_uuid(row["user_id"]),
            provider=row["provider"],
            provider_user_id=row["provider_user_id"],
            status=cast(ConnectionStatus, row["status"]),
            sealed=sealed,
            version=None if row["version"] is None else int(row["version"]),
            lease_holder=row["refresh_lease_holder"],
            lease_until=_datetime_or_none(row["refresh_lease_until"]),
        )

    def acquire_refresh_lease(self, connection_id: int, holder: str, seconds: int) -> Lease | None:
        row = self._one(
            "tokens_acquire_refresh_lease",
            {"p_connection_id": connection_id, "p_holder": holder, "p_seconds": seconds},
        )
        if row is None or row["version"] is None:
            return None
        return Lease(bool(row["acquired"]), int(row["version"]))

    def store_refreshed(self, connection_id: int, holder: str, sealed: SealedTokens) -> int | None:
        row = self._one(
            "tokens_store_refreshed",
            {
                "p_connection_id": connection_id,
                "p_holder": holder,
                "p_key_id": sealed.key_id,
                "p_access_token_ciphertext": sealed.access_token_ciphertext,
                "p_refresh_token_ciphertext": sealed.refresh_token_ciphertext,
                "p_access_token_expires_at": sealed.access_token_expires_at,
                "p_refresh_token_expires_at": sealed.refresh_token_expires_at,
            },
        )
        if row is None or not row["stored"]:
            return None
        return int(row["version"])

    def release_lease(self, connection_id: int, holder: str, failure: str | None = None) -> bool:
        row = self._one(
            "tokens_release_lease",
            {"p_connection_id": connection_id, "p_holder": holder, "p_failure": failure},
        )
        return bool(row and row["released"])

    # --- Key rotation -----------------------------------------------------------------------

    def tokens_for_rotation(
        self, current_key_id: str, after_connection_id: int, limit: int
    ) -> list[RotationRow]:
        rows = self.gateway.call(
            "tokens_for_rotation",
            {
                "p_current_key_id": current_key_id,
                "p_after_connection_id": after_connection_id,
                "p_limit": limit,
            },
        )
        return [
            RotationRow(
                connection_id=int(row["connection_id"]),
                user_id=_uuid(row["user_id"]),
                provider=row["provider"],
                sealed=SealedTokens(
                    key_id=row["key_id"],
                    access_token_ciphertext=row["access_token_ciphertext"],
                    refresh_token_ciphertext=row["refresh_token_ciphertext"],
                ),
                version=int(row["version"]),
                remaining=int(row["remaining"]),
            )
            for row in rows
        ]

    def replace_ciphertexts(
        self, connection_id: int, expected_version: int, sealed: SealedTokens
    ) -> bool:
        row = self._one(
            "tokens_replace_ciphertexts",
            {
                "p_connection_id": connection_id,
                "p_expected_version": expected_version,
                "p_key_id": sealed.key_id,
                "p_access_token_ciphertext": sealed.access_token_ciphertext,
                "p_refresh_token_ciphertext": sealed.refresh_token_ciphertext,
            },
        )
        return bool(row and row["replaced"])

    def revocations_for_rotation(
        self, current_key_id: str, after_id: int, limit: int
    ) -> list[RevocationRotationRow]:
        rows = self.gateway.call(
            "token_revocations_for_rotation",
            {"p_current_key_id": current_key_id, "p_after_id": after_id, "p_limit": limit},
        )
        return [
            RevocationRotationRow(
                revocation_id=int(row["revocation_id"]),
                user_id=_uuid(row["user_id"]),
                provider=row["provider"],
                sealed=SealedTokens(
                    key_id=row["key_id"],
                    access_token_ciphertext=row["access_token_ciphertext"],
                    refresh_token_ciphertext=row["refresh_token_ciphertext"],
                ),
                remaining=int(row["remaining"]),
            )
            for row in rows
        ]

    def replace_revocation_ciphertexts(self, rows: list[ResealedRevocation]) -> int:
        """One set-based call per batch; how many rows were replaced (a row revoked or rotated
        meanwhile is left alone)."""
        if not rows:
            return 0
        row = self._one(
            "token_revocations_replace_ciphertexts",
            {
                "p_rows": [
                    {
                        "revocation_id": r.revocation_id,
                        "expected_key_id": r.expected_key_id,
                        "key_id": r.sealed.key_id,
                        "access_token_ciphertext": r.sealed.access_token_ciphertext,
                        "refresh_token_ciphertext": r.sealed.refresh_token_ciphertext,
                    }
                    for r in rows
                ]
            },
        )
        return int(row["replaced"]) if row else 0


def _queued_revocations(rows: list[dict[str, Any]]) -> list[QueuedRevocation]:
    return [
        QueuedRevocation(
            revocation_id=int(row["revocation_id"]),
            connection_id=int(row["connection_id"]),
            user_id=_uuid(row["user_id"]),
            provider=row["provider"],
            provider_user_id=row["provider_user_id"],
            sealed=SealedTokens(
                key_id=row["key_id"],
                access_token_ciphertext=row["access_token_ciphertext"],
                refresh_token_ciphertext=row["refresh_token_ciphertext"],
                access_token_expires_at=_datetime_or_none(row["access_token_expires_at"]),
            ),
            attempts=int(row["attempts"]),
        )
        for row in rows
    ]


class StreamStore:
    """Activity streams (time series), over any :class:`Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def store_streams(
        self, activity_id: int, streams: ActivityStreams, *, source: str | None = None
    ) -> int:
        rows = self.gateway.call(
            "ingest_activity_streams",
            {"p_activity_id": activity_id, "p_streams": streams.to_json(), "p_source": source},
        )
        return int(rows[0]["sample_count"]) if rows else 0

    def delete_streams(self, activity_id: int) -> None:
        self.gateway.call(
            "ingest_activity_streams",
            {"p_activity_id": activity_id, "p_streams": {}, "p_source": None},
        )

    def store_file_streams(
        self, user_id: uuid.UUID, sha256: str, streams: ActivityStreams
    ) -> int | None:
        rows = self.gateway.call(
            "ingest_file_streams",
            {"p_user_id": user_id, "p_sha256": sha256, "p_streams": streams.to_json()},
        )
        return int(rows[0]["sample_count"]) if rows else None


# --- Values from either transport (psycopg: Python types; PostgREST: JSON strings) -----------


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    return None if value is None else _uuid(value)


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _datetime_or_none(value: Any) -> datetime | None:
    return None if value is None else _datetime(value)


# --- Athlete settings (issue 18) -------------------------------------------------------------
# The RPCs of migration 20261205220000_athlete_settings.sql, called as the athlete (their JWT
# claims, role authenticated), exactly as the frontend calls them through PostgREST: the same
# validation and the same row-level security decide, not this module.

#: The keys ``set_athlete_settings`` accepts (FTP goes through ``set_ftp``).
SETTING_KEYS = (
    "max_heart_rate",
    "resting_heart_rate",
    "threshold_heart_rate",
    "threshold_pace",
    "sex",
    "zones",
    "timezone",
    "units",
)


@dataclass(frozen=True)
class FtpEntry:
    effective_from: date
    ftp_w: int


@dataclass(frozen=True)
class AthleteSettings:
    """What ``public.get_athlete_settings`` returns: each setting's value and where it comes
    from (``settings``, ``preferences`` — the legacy users.preferences key —, ``default`` or
    ``unset``), today's FTP and the FTP history."""

    values: dict[str, Any]
    sources: dict[str, str]
    ftp_history: list[FtpEntry] = field(default_factory=list)

    @property
    def units(self) -> str:
        return str(self.values.get("units") or "metric")


@contextmanager
def _as_user(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> Iterator[None]:
    """Inside a transaction (or savepoint), be this user behind PostgREST; refused settings
    become a :class:`SettingsError` with the SQLSTATE."""
    claims = json.dumps({"sub": str(user_id), "role": "authenticated", "aud": "authenticated"})
    try:
        with conn.transaction():
            conn.execute(
                "select set_config('role', 'authenticated', true),"
                " set_config('request.jwt.claims', %s, true)",
                [claims],
            )
            yield
            conn.execute("reset role")
            conn.execute("select set_config('request.jwt.claims', '', true)")
    except (psycopg.errors.InvalidParameterValue, psycopg.errors.InsufficientPrivilege) as exc:
        message = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        raise SettingsError(message, sqlstate=exc.sqlstate) from None
    except psycopg.errors.CheckViolation as exc:
        raise SettingsError(
            f"refused by {exc.diag.constraint_name or 'a check constraint'}",
            sqlstate=exc.sqlstate,
        ) from None


def get_athlete_settings(
    conn: psycopg.Connection[Any], user_id: uuid.UUID, *, reader: uuid.UUID | None = None
) -> AthleteSettings | None:
    """The settings in effect for ``user_id``, read as ``reader`` (default: the athlete);
    None when the reader may not see them (RLS)."""
    with _as_user(conn, reader or user_id):
        row = conn.execute("select public.get_athlete_settings(%s)", [user_id]).fetchone()
    shown = row[0] if row else None
    if shown is None:
        return None
    history = [
        FtpEntry(date.fromisoformat(str(h["effective_from"])), int(h["ftp_w"]))
        for h in shown.pop("ftp_history", [])
    ]
    return AthleteSettings(
        values={k: v.get("value") for k, v in shown.items()},
        sources={k: str(v.get("source")) for k, v in shown.items()},
        ftp_history=history,
    )


def set_athlete_settings(
    conn: psycopg.Connection[Any], user_id: uuid.UUID, changes: Mapping[str, Any]
) -> None:
    """Apply ``changes`` (keys of :data:`SETTING_KEYS`; None clears) as the athlete."""
    with _as_user(conn, user_id):
        conn.execute("select public.set_athlete_settings(%s)", [Jsonb(dict(changes))])


def set_ftp(
    conn: psycopg.Connection[Any], user_id: uuid.UUID, ftp_w: int, effective_from: date | None
) -> None:
    """Record the athlete's FTP from ``effective_from`` (None: today)."""
    with _as_user(conn, user_id):
        conn.execute("select public.set_ftp(%s, %s)", [ftp_w, effective_from])


def remove_ftp(conn: psycopg.Connection[Any], user_id: uuid.UUID, effective_from: date) -> None:
    """Remove the athlete's FTP entry effective from that day."""
    with _as_user(conn, user_id):
        conn.execute("select public.remove_ftp(%s)", [effective_from])
