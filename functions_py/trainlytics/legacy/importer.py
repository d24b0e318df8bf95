"""``trainlytics legacy import``: a Trainlytics v1 database into v2, user by user.

How it works
------------
- **v1 is only read**, in ONE read-only ``repeatable read`` transaction (a consistent snapshot;
  the server refuses any write). Rows travel as v1's own ``to_jsonb``; activities are read a
  batch of users at a time and passed to v2 as JSON text, never parsed here.
- **Per v1 user, one v2 transaction**: the Supabase Auth user (keeping the bcrypt hash; see
  :mod:`trainlytics.legacy.auth_users`), then ``public.legacy_import_user`` as ``service_role``,
  which does the data work in SQL (profile, Strava connection and tokens, activities through
  ``public.ingest_activities`` and the Strava normaliser, workouts, ``sync_history``, and the
  ``private.legacy_users`` mapping row). A user is imported whole or not at all: a failure is
  reported and the next user goes on; an interrupted run leaves only whole users behind, and
  the next run skips the users the mapping already holds (idempotent and resumable). On a
  Supabase project the auth user comes from the Auth admin API before the transaction (its
  id is recorded first in ``private.legacy_auth_pending`` so a resumed run reuses it, and it is
  deleted again if the user's data import fails).
- Decisions made here, because they need every v1 user or a secret: emails are trimmed, spaces
  removed and lowercased; v1 users whose emails collide after that are reported and only one
  is imported (verified first, then the most recently updated, then the oldest id: never a
  silent merge); an address already registered in v2 (not by this import) is reported and
  skipped; coaches are imported before athletes, so workouts find their coach; of several v1
  Strava connections of a user the newest usable one (active, with an access token) wins and
  the others are reported; its tokens are encrypted with the current key
  (``TRAINLYTICS_TOKEN_KEYS``) — a connection without usable tokens arrives ``revoked`` with
  the reason. Password reset tokens are not carried: Supabase Auth's recovery flow replaces
  them.
- **Report**: per v1 table, rows read, created, already there, skipped with reasons, plus the
  notes (roles read from messy values, preferences kept verbatim, email collisions, connection
  choices, failures); ``LegacyReport.to_json()`` is what ``--report`` writes.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import IsolationLevel
from psycopg.rows import TupleRow

from trainlytics.connections.crypto import TokenCipher
from trainlytics.db import legacy_queries as q
from trainlytics.db.database import connect, redact_url
from trainlytics.errors import AuthUserExistsError, TrainlyticsError
from trainlytics.legacy.auth_users import (
    AdminApiAuthUsers,
    LegacyAuthUser,
    LocalAuthUsers,
    is_bcrypt_hash,
)
from trainlytics.providers.base import TokenSet
from trainlytics.users.auth_admin import validate_email

__all__ = [
    "V1_TABLES",
    "LegacyImporter",
    "LegacyReport",
    "TableReport",
    "normalize_email",
]

Connection = psycopg.Connection[TupleRow]

#: The v1 tables and the columns the import reads (``shared/legacy/v1_schema.sql``).
V1_TABLES: dict[str, tuple[str, ...]] = {
    "users": (
        "id",
        "email",
        "password_hash",
        "first_name",
        "last_name",
        "avatar_url",
        "role",
        "is_active",
        "is_verified",
        "preferences",
        "created_at",
        "updated_at",
    ),
    "strava_connections": (
        "id",
        "user_id",
        "strava_athlete_id",
        "strava_username",
        "athlete_data",
        "access_token",
        "refresh_token",
        "token_expires_at",
        "scope",
        "last_sync_at",
        "is_active",
        "created_at",
        "updated_at",
    ),
    "activities": ("id", "user_id", "strava_activity_id", "raw_data", "start_date", "is_manual"),
    "workouts": ("id", "user_id", "coach_id", "title", "planned_date", "completed_activity_id"),
    "password_reset_tokens": ("id", "user_id"),
}

#: One import at a time per v2 database (advisory lock key, "legacy").
_LOCK_KEY = 0x6C65_6761_6379
_WHITESPACE = re.compile(r"\s+")
#: Reasons longer lists are cut at, in the JSON report (counts stay exact).
MAX_DETAILS = 2000

RESET_TOKENS_REASON = (
    "not carried: Supabase Auth's password recovery replaces v1 reset tokens (users ask for a "
    "new link)"
)


def normalize_email(raw: str | None) -> str | None:
    """The address without any whitespace, lowercased, or None when it is not an address."""
    if raw is None:
        return None
    try:
        return validate_email(_WHITESPACE.sub("", raw))
    except TrainlyticsError:
        return None


# Reports -----------------------------------------------------------------------------------------


@dataclass
class TableReport:
    """What happened to the rows of one v1 table."""

    read: int = 0
    created: int = 0
    already_there: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    details: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, reason: str, v1_id: Any = None, count: int = 1) -> None:
        self.skipped[reason] += count
        if v1_id is not None and len(self.details) < MAX_DETAILS:
            self.details.append({"v1_id": v1_id, "reason": reason})

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "created": self.created,
            "already_there": self.already_there,
            "skipped": self.skipped_total,
            "skipped_by_reason": dict(self.skipped.most_common()),
            "skipped_rows": self.details,
        }


@dataclass
class LegacyReport:
    """The closing report of one run."""

    source: str
    target: str
    auth_mode: str
    dry_run: bool
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    interrupted: bool = False
    tables: dict[str, TableReport] = field(
        default_factory=lambda: {name: TableReport() for name in V1_TABLES}
    )
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def note(self, kind: str, entry: dict[str, Any]) -> None:
        if len(self.notes[kind]) < MAX_DETAILS:
            self.notes[kind].append(entry)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "source": self.source,
                "target": self.target,
                "auth_mode": self.auth_mode,
                "dry_run": self.dry_run,
                "interrupted": self.interrupted,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "tables": {name: table.as_dict() for name, table in self.tables.items()},
                "notes": dict(self.notes),
            },
            option=orjson.OPT_INDENT_2,
        )


# Planning ----------------------------------------------------------------------------------------


@dataclass
class PlannedUser:
    v1: dict[str, Any]
    email: str
    connections: list[dict[str, Any]]
    workouts_json: str = "[]"
    workouts_count: int = 0
    activities_count: int = 0

    @property
    def v1_id(self) -> int:
        return int(self.v1["id"])


def _usable(connection: Mapping[str, Any]) -> bool:
    return bool(
        connection.get("is_active")
        and (connection.get("access_token") or "").strip()
        and (connection.get("strava_athlete_id") or "").strip()
    )


def choose_connection(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[Mapping[str, Any] | None, list[Mapping[str, Any]]]:
    """The v1 connection row that wins (newest usable, else newest) and the others."""
    if not rows:
        return None, []
    ordered = sorted(
        rows,
        key=lambda r: (_usable(r), str(r.get("updated_at") or ""), int(r["id"])),
        reverse=True,
    )
    return ordered[0], ordered[1:]


def connection_status(row: Mapping[str, Any]) -> tuple[str, str | None]:
    """``active``, or ``revoked`` with the reason the athlete reads."""
    if not (row.get("strava_athlete_id") or "").strip():
        return "revoked", (
            "Trainlytics v1 did not know the Strava athlete of this connection: reconnect "
            "Strava to sync again"
        )
    if not (row.get("access_token") or "").strip():
        return "revoked", (
            "Trainlytics v1 kept no access token for this Strava connection: reconnect Strava "
            "to sync again"
        )
    if not row.get("is_active"):
        return "revoked", (
            "this Strava connection was inactive in Trainlytics v1: reconnect Strava to sync again"
        )
    return "active", None


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# The import ---------------------------------------------------------------------------------------

AuthUsers = LocalAuthUsers | AdminApiAuthUsers


class LegacyImporter:
    """One run of the legacy import (see the module docstring)."""

    def __init__(
        self,
        source_url: str,
        target_url: str,
        *,
        auth: AuthUsers,
        cipher: TokenCipher | None,
        dry_run: bool = False,
        batch_users: int = 50,
        on_plan: Callable[[int, int], None] | None = None,
        on_user: Callable[[int, int], None] | None = None,
        before_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.source_url = source_url
        self.target_url = target_url
        self.auth = auth
        self.dry_run = dry_run
        if cipher is None and dry_run:
            # A dry run rolls everything back: a throwaway key seals nothing that is kept.
            cipher = TokenCipher({"dry-run": secrets.token_bytes(32)}, "dry-run")
        self.cipher = cipher
        self.batch_users = max(1, batch_users)
        self.on_plan = on_plan
        self.on_user = on_user
        #: Test hook: called inside each user's transaction before it commits (fault injection).
        self.before_commit = before_commit
        self.report = LegacyReport(
            source=redact_url(source_url),
            target=redact_url(target_url),
            auth_mode=auth.mode,
            dry_run=dry_run,
        )

    # -- connections --

    def _open_source(self) -> Connection:
        conn = connect(self.source_url)
        conn.read_only = True
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        return conn

    def run(self) -> LegacyReport:
        """Import everything; the report is complete even when the run is interrupted."""
        try:
            with self._open_source() as v1, connect(self.target_url, autocommit=True) as v2:
                self._check_target(v2)
                self._check_source(v1)
                try:
                    self._run(v1, v2)
                finally:
                    q.release_lock(v2, _LOCK_KEY)
                    v1.rollback()
        except BaseException:
            self.report.interrupted = True
            raise
        finally:
            self.report.finished_at = datetime.now(UTC)
        return self.report

    def _check_target(self, v2: Connection) -> None:
        if not q.has_legacy_import_function(v2):
            raise TrainlyticsError(
                f"{redact_url(self.target_url)} has no legacy import function",
                hint="run `trainlytics db migrate` (or `supabase db push`) on the v2 database",
            )
        with v2.transaction():
            try:
                q.as_service_role(v2)
            except psycopg.errors.InsufficientPrivilege as exc:
                raise TrainlyticsError(
                    "this database login cannot act as service_role",
                    hint="connect as the superuser locally, or as postgres on Supabase",
                ) from exc
        if isinstance(self.auth, LocalAuthUsers):
            self.auth.check(v2)
        if not q.try_lock(v2, _LOCK_KEY):
            raise TrainlyticsError(
                "another legacy import is running on this database",
                hint="wait for it to finish; a run can be interrupted and resumed at any time",
            )

    def _check_source(self, v1: Connection) -> None:
        rows = q.v1_columns(v1, V1_TABLES)
        present: dict[str, set[str]] = defaultdict(set)
        for table, column in rows:
            present[table].add(column)
        for table, columns in V1_TABLES.items():
            if table not in present:
                raise TrainlyticsError(
                    f"{redact_url(self.source_url)} is not a Trainlytics v1 database: it has no "
                    f"table {table}",
                    hint="--from must name the v1 database (the shape of tests/fixtures/legacy/)",
                )
            missing = [c for c in columns if c not in present[table]]
            if missing:
                raise TrainlyticsError(
                    f"the v1 table {table} lacks column(s) {', '.join(missing)}",
                    hint="--from must be a Trainlytics v1 database",
                )

    # -- planning --

    def _plan(self, v1: Connection, v2: Connection) -> list[PlannedUser]:
        report = self.report
        users = q.v1_users(v1)
        connections: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in q.v1_connections(v1):
            connections[int(row["user_id"])].append(row)
        activity_counts = q.v1_activity_counts(v1)
        workouts = q.v1_workouts(v1)
        coach_ids = q.v1_coach_ids(v1)
        reset_count = q.v1_reset_token_count(v1)
        report.tables["password_reset_tokens"].read = reset_count
        if reset_count:
            report.tables["password_reset_tokens"].skip(RESET_TOKENS_REASON, count=reset_count)

        totals: tuple[tuple[str, int], ...] = (
            ("users", len(users)),
            ("strava_connections", sum(len(v) for v in connections.values())),
            ("activities", sum(int(v) for v in activity_counts.values())),
            ("workouts", sum(n for _, n in workouts.values())),
        )
        for name, count in totals:
            report.tables[name].read = count

        mapped, pending, registered = q.v2_identities(v2)

        # Emails: normalised, then grouped; one user per address.
        by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for user in users:
            email = normalize_email(user.get("email"))
            if email is None:
                self._skip_user(user, f"email {user.get('email')!r} is not an address")
                continue
            by_email[email].append(user)

        planned: list[PlannedUser] = []
        for email, group in by_email.items():
            group.sort(
                key=lambda u: (
                    int(u["id"]) not in mapped,
                    not u.get("is_verified"),
                    _negated(str(u.get("updated_at") or "")),
                    int(u["id"]),
                )
            )
            kept, others = group[0], group[1:]
            if others:
                report.note(
                    "email_collisions",
                    {
                        "email": email,
                        "imported_v1_id": kept["id"],
                        "not_imported_v1_ids": [u["id"] for u in others],
                        "v1_emails": [u.get("email") for u in group],
                    },
                )
                for other in others:
                    self._skip_user(
                        other,
                        f"email collides with v1 user #{kept['id']} once case and spaces are "
                        "normalised: not merged (give one of them another address in v1 and "
                        "run the import again)",
                    )
            v1_id = int(kept["id"])
            if v1_id in mapped:
                self._already_there(kept, connections, activity_counts, workouts)
                continue
            owner = registered.get(email)
            # An auth user this import created for the same v1 user before it was interrupted
            # is not someone else's account: it is reused.
            if owner is not None and owner != pending.get(v1_id):
                self._skip_user(
                    kept,
                    "the address is already registered in v2 (an account not made by this "
                    "import): not merged",
                )
                continue
            text, count = workouts.get(v1_id, ("[]", 0))
            planned.append(
                PlannedUser(
                    v1=kept,
                    email=email,
                    connections=connections.get(v1_id, []),
                    workouts_json=text,
                    workouts_count=count,
                    activities_count=int(activity_counts.get(v1_id, 0)),
                )
            )
        # Coaches first: a workout's coach must already be a v2 user.
        planned.sort(key=lambda p: (p.v1_id not in coach_ids, p.v1_id))
        self._skipped_dependents(users, planned, mapped, connections, activity_counts, workouts)
        return planned

    def _skip_user(self, user: Mapping[str, Any], reason: str) -> None:
        self.report.tables["users"].skip(reason, user["id"])

    def _already_there(
        self,
        user: Mapping[str, Any],
        connections: Mapping[int, list[dict[str, Any]]],
        activity_counts: Mapping[int, int],
        workouts: Mapping[int, tuple[str, int]],
    ) -> None:
        v1_id = int(user["id"])
        tables = self.report.tables
        tables["users"].already_there += 1
        tables["strava_connections"].already_there += len(connections.get(v1_id, []))
        tables["activities"].already_there += int(activity_counts.get(v1_id, 0))
        tables["workouts"].already_there += workouts.get(v1_id, ("", 0))[1]

    def _skipped_dependents(
        self,
        users: Sequence[Mapping[str, Any]],
        planned: Sequence[PlannedUser],
        mapped: Mapping[int, Any],
        connections: Mapping[int, list[dict[str, Any]]],
        activity_counts: Mapping[int, int],
        workouts: Mapping[int, tuple[str, int]],
    ) -> None:
        """Rows of users who will not be imported, counted as skipped."""
        going = {p.v1_id for p in planned} | set(mapped)
        tables = self.report.tables
        for user in users:
            v1_id = int(user["id"])
            if v1_id in going:
                continue
            reason = f"its v1 user #{v1_id} is not imported (see users)"
            for row in connections.get(v1_id, []):
                tables["strava_connections"].skip(reason, row["id"])
            if activity_counts.get(v1_id):
                tables["activities"].skip(reason, count=int(activity_counts[v1_id]))
            if workouts.get(v1_id):
                tables["workouts"].skip(reason, count=workouts[v1_id][1])

    # -- importing --

    def _run(self, v1: Connection, v2: Connection) -> None:
        planned = self._plan(v1, v2)
        if self.on_plan is not None:
            self.on_plan(len(planned), sum(p.activities_count for p in planned))
        for batch in _batches(planned, self.batch_users):
            activities = self._read_activities(v1, [p.v1_id for p in batch])
            for user in batch:
                self._import_user(v2, user, activities.get(user.v1_id, "[]"))
                if self.on_user is not None:
                    self.on_user(user.v1_id, user.activities_count)

    def _read_activities(self, v1: Connection, user_ids: list[int]) -> dict[int, str]:
        return q.v1_activities(v1, user_ids)

    def _connection_argument(self, user: PlannedUser, user_id: uuid.UUID) -> dict[str, Any] | None:
        chosen, _ = choose_connection(user.connections)
        if chosen is None:
            return None
        status, reason = connection_status(chosen)
        argument: dict[str, Any] = {
            key: chosen.get(key)
            for key in (
                "id",
                "strava_athlete_id",
                "strava_username",
                "athlete_data",
                "scope",
                "last_sync_at",
                "token_expires_at",
                "created_at",
            )
        }
        argument["status"] = status
        argument["reason"] = reason
        if status == "active":
            if self.cipher is None:
                raise TrainlyticsError(
                    "TRAINLYTICS_TOKEN_KEYS is not set: the Strava tokens cannot be encrypted",
                    hint="export the same token keys the v2 functions use",
                )
            refresh = (chosen.get("refresh_token") or "").strip() or None
            sealed = self.cipher.seal(
                TokenSet(
                    access_token=str(chosen["access_token"]).strip(),
                    refresh_token=refresh,
                    expires_at=_parse_time(chosen.get("token_expires_at")),
                ),
                user_id=user_id,
                provider="strava",
            )
            argument["key_id"] = sealed.key_id
            argument["access_token_ciphertext"] = sealed.access_token_ciphertext
            argument["refresh_token_ciphertext"] = sealed.refresh_token_ciphertext
        return argument

    def _auth_user(self, user: PlannedUser, user_id: uuid.UUID) -> LegacyAuthUser:
        password_hash = user.v1.get("password_hash")
        if not is_bcrypt_hash(password_hash):
            password_hash = None
        return LegacyAuthUser(
            user_id=user_id,
            email=user.email,
            password_hash=password_hash,
            confirmed=bool(user.v1.get("is_verified")),
            first_name=(user.v1.get("first_name") or "").strip()[:100] or None,
            last_name=(user.v1.get("last_name") or "").strip()[:100] or None,
            created_at=_parse_time(user.v1.get("created_at")),
        )

    def _import_user(self, v2: Connection, user: PlannedUser, activities: str) -> None:
        tables = self.report.tables
        if isinstance(self.auth, AdminApiAuthUsers) and self.dry_run:
            # Auth users on a Supabase project exist only through the API: nothing to simulate.
            tables["users"].created += 1
            self.report.note(
                "dry_run",
                {"v1_user_id": user.v1_id, "note": "admin API: user not simulated"},
            )
            return
        try:
            if isinstance(self.auth, AdminApiAuthUsers):
                result = self._import_via_api(v2, self.auth, user, activities)
            else:
                result = self._import_locally(v2, self.auth, user, activities)
        except (psycopg.Error, TrainlyticsError) as exc:
            reason = _one_line(exc)
            tables["users"].skip(f"failed, nothing of this user imported: {reason}", user.v1_id)
            self.report.note("failures", {"v1_user_id": user.v1_id, "error": reason})
            cause = f"its v1 user #{user.v1_id} failed (see users)"
            for row in user.connections:
                tables["strava_connections"].skip(cause, row["id"])
            if user.activities_count:
                tables["activities"].skip(cause, count=user.activities_count)
            if user.workouts_count:
                tables["workouts"].skip(cause, count=user.workouts_count)
            return
        self._record(user, result)

    def _call(
        self,
        v2: Connection,
        user: PlannedUser,
        user_id: uuid.UUID,
        connection: dict[str, Any] | None,
        activities: str,
    ) -> dict[str, Any]:
        v1_user = {k: v for k, v in user.v1.items() if k != "password_hash"}
        result = q.import_user(
            v2,
            user_id=user_id,
            v1_user=v1_user,
            connection=connection,
            activities=activities,
            workouts=user.workouts_json,
        )
        if self.before_commit is not None:
            self.before_commit(user.v1_id)
        return result

    def _import_locally(
        self, v2: Connection, auth: LocalAuthUsers, user: PlannedUser, activities: str
    ) -> dict[str, Any]:
        user_id = uuid.uuid4()
        connection = self._connection_argument(user, user_id)
        with v2.transaction(force_rollback=self.dry_run):
            auth.insert(v2, self._auth_user(user, user_id))
            return self._call(v2, user, user_id, connection, activities)

    def _import_via_api(
        self, v2: Connection, auth: AdminApiAuthUsers, user: PlannedUser, activities: str
    ) -> dict[str, Any]:
        with v2.transaction():
            q.as_service_role(v2)
            pending = q.pending_user(v2, user.v1_id)
            if pending is None:
                user_id = uuid.uuid4()
                q.add_pending(v2, user.v1_id, user_id)
                exists = False
            else:
                user_id = pending
                exists = q.profile_exists(v2, user_id)
        if not exists:
            try:
                auth.create(self._auth_user(user, user_id))
            except AuthUserExistsError:
                self._forget_pending(v2, user.v1_id)
                raise
        connection = self._connection_argument(user, user_id)
        try:
            with v2.transaction():
                result = self._call(v2, user, user_id, connection, activities)
                q.delete_pending(v2, user.v1_id)
        except (psycopg.Error, TrainlyticsError):
            # Undo the auth user, so a failed user leaves nothing behind.
            auth.delete(user_id)
            self._forget_pending(v2, user.v1_id)
            raise
        return result

    def _forget_pending(self, v2: Connection, v1_id: int) -> None:
        with v2.transaction():
            q.as_service_role(v2)
            q.delete_pending(v2, v1_id)

    def _record(self, user: PlannedUser, result: Mapping[str, Any]) -> None:
        tables = self.report.tables
        report = self.report
        tables["users"].created += 1
        if not is_bcrypt_hash(user.v1.get("password_hash")):
            report.note(
                "passwords_not_carried",
                {
                    "v1_user_id": user.v1_id,
                    "reason": "the v1 password hash is not bcrypt: the user must reset "
                    "their password",
                },
            )
        chosen, others = choose_connection(user.connections)
        if chosen is not None and others:
            for other in others:
                tables["strava_connections"].skip(
                    f"superseded: v1 user #{user.v1_id} has a newer usable connection "
                    f"(#{chosen['id']} was imported)",
                    other["id"],
                )
            report.note(
                "connection_choices",
                {
                    "v1_user_id": user.v1_id,
                    "imported_v1_connection_id": chosen["id"],
                    "not_imported_v1_connection_ids": [o["id"] for o in others],
                },
            )
        notes = result.get("notes") or {}
        if "role" in notes:
            report.note("roles_mapped", {"v1_user_id": user.v1_id, **notes["role"]})
        if "preferences" in notes:
            entry = {"v1_user_id": user.v1_id, "note": notes["preferences"]}
            report.note("preferences_kept_verbatim", entry)
        connection = notes.get("connection")
        if connection is not None:
            tables["strava_connections"].created += 1
            if connection.get("status") != "active":
                report.note(
                    "connections_revoked",
                    {"v1_user_id": user.v1_id, **connection},
                )
        activities = result.get("activities") or {}
        tables["activities"].created += int(activities.get("created", 0))
        tables["activities"].already_there += int(activities.get("duplicates", 0))
        for item in activities.get("skipped", []):
            tables["activities"].skip(str(item.get("reason")), item.get("v1_id"))
        for item in activities.get("rebuilt_from_columns", []):
            report.note("activities_rebuilt_from_columns", dict(item))
        workouts = result.get("workouts") or {}
        tables["workouts"].created += int(workouts.get("created", 0))
        for item in workouts.get("notes", []):
            report.note("workouts", dict(item))


def _negated(text: str) -> str:
    """A sort key that orders ISO timestamps newest first within an ascending sort."""
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def _batches(items: Sequence[PlannedUser], size: int) -> Iterator[Sequence[PlannedUser]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, TrainlyticsError):
        return exc.message
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        message = diag.message_primary or str(exc).strip().splitlines()[0]
        return f"{diag.sqlstate}: {message}" if diag.sqlstate else message
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
