"""The sync engine: a connection's activities from its provider into ``public.activities``.

API
---
- ``SyncEngine(gateway, tokens, providers, *, limiter=None, clock=..., lease_seconds=300)``
    - ``run(connection_id, trigger, *, progress=None) -> SyncOutcome`` — one synchronisation.
    - ``process_event(connection_id, event, *, progress=None) -> SyncOutcome`` — one webhook
      event (what :meth:`Provider.fetch_for_event` says to ingest or delete).
    - ``check_configuration(connection_id)`` — raise an operator configuration error (provider
      not configured, token key missing) without recording anything; ``run`` and
      ``process_event`` call it first.
- ``SyncOutcome`` — status (``success | partial | failed | skipped``), the run id and counts.
- ``SyncProgress`` — what ``progress`` callbacks receive after each stored page.
- ``SyncBusyError`` (another run holds the connection; retry at ``retry_at``),
  ``SyncLeaseLostError`` (this run was closed as abandoned meanwhile) — both transient.
- ``is_transient(exc) -> bool`` — whether the job queue should retry after this failure.

How a run goes
--------------
1. ``public.sync_start`` opens the run (``sync_history`` row ``running``) and takes the
   connection's lease: one synchronisation per connection at a time, across machines.
2. Windows are planned from the durable cursor (``provider_connections.sync_cursor``, whose
   shape only this module knows — see :class:`Cursor`): a run that died mid-window resumes at
   the page where it stopped; an incremental run starts ``incremental_overlap`` before the end
   of the last completed window; an initial one ``backfill_horizon`` ago (or at
   :data:`HISTORY_START`), chunked into windows of at most ``max_window``, oldest first.
3. For each page: the shared rate limiter reserves a request, valid tokens are fetched (refreshed
   when close to expiry), :meth:`Provider.fetch_activities` fetches the page, and
   ``public.sync_ingest_page`` stores it — items, deletions, the run's counters and the next
   cursor — in ONE transaction, so the cursor only ever points past stored data.
4. ``public.sync_finish`` ends the run: success; partial (pages were stored, then an error);
   failed (nothing stored). The error (one line, no secret) is recorded on the run and on the
   connection, then raised for the job queue, which retries transient failures with backoff.

A webhook run (``process_event``) is a run with trigger ``webhook`` that does not take the
connection's exclusive lease (it may run beside a synchronisation; the newer-wins guard of
``ingest_activities`` keeps concurrent writes safe) and never moves the cursor. It follows the
``next_cursor`` of :meth:`Provider.fetch_for_event` (at most :data:`MAX_EVENT_STEPS` steps), each
step under the rate limiter and stored as it comes.

Deletions by omission: a page may declare ``complete_windows`` — start-time windows it lists
completely. ``sync_ingest_page`` then soft deletes the stored activities of those windows that
the page no longer lists (``public.delete_missing_activities``, in the page's transaction). Only
the Google Health (fitbit) event listing declares them: its DELETE notifications name no
exercise. Other listings are deliberately NOT reconciled: Strava and Wahoo lists span several
pages (a window's list is complete only across calls, and a run may resume mid-window), Polar
lists by upload time and only since registration, COROS's history limit is unknown, and Garmin
has no listing of a window (backfill is asynchronous) — a wrong claim of completeness would
delete the athlete's activities.

Refused items: a page's ``refused`` (items the provider module received but will not hand to
the ingest, e.g. Garmin callback items of another Garmin user) are recorded on the run by
``public.sync_refuse_items`` — counted as fetched and failed, their reasons beside the ingest's
skipped items — so fetched = created + updated + skipped + failed holds for every run.

Rate limits: every provider request is reserved in the shared buckets first; a page's reported
usage is recorded; a page (or event) that took more calls than the one reserved is charged the
difference (``rate_limit_charge``; fewer: the reservation is given back); and a 429's
``rate_limit_headers`` are parsed by :meth:`Provider.rate_limit_observations` and recorded, so
every worker backs off until the provider's window ends.

Operator configuration errors — the connection's provider not configured on this server, its
tokens sealed with a key ``TRAINLYTICS_TOKEN_KEYS`` lacks — are checked before a run starts and
raised without recording anything: they are the operator's to fix, never shown to the athlete
(no ``sync_history`` row, the connection's status and ``last_error`` untouched).

Errors (:func:`is_transient`): revoked tokens, missing scopes and configuration errors
are permanent (never retried); provider 5xx/timeouts/429, token-refresh hiccups, database drops,
garbled pages, a busy connection and a lost lease are transient (the job queue retries them with
backoff, a bounded number of times; COROS error envelopes arrive as transient
``ProviderUnavailableError`` unless the provider module knows the code means a dead token).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal, Protocol

from trainlytics.db import sync_runs
from trainlytics.db.gateway import Gateway
from trainlytics.errors import (
    BadPayloadError,
    ConfigError,
    DatabaseUnavailableError,
    HistoryNotGrantedError,
    InsufficientScopeError,
    ProviderError,
    ProviderNotConfiguredError,
    ProviderUnavailableError,
    RateLimitedError,
    SyncBusyError,
    SyncLeaseLostError,
    TokenKeyNotConfiguredError,
    TokenRefreshError,
    TokenRevokedError,
    TrainlyticsError,
)
from trainlytics.logs import get_logger
from trainlytics.providers.base import ActivityPage, Provider, SyncWindow, TokenSet, WebhookEvent
from trainlytics.sync.rate_limits import Bucket, Limiter, NoRateLimiter, buckets_for

__all__ = [
    "HISTORY_START",
    "MAX_EVENT_STEPS",
    "Cursor",
    "SyncEngine",
    "SyncOutcome",
    "SyncProgress",
    "is_transient",
    "plan_windows",
]

log = get_logger(__name__)

#: Most provider requests one webhook event may take (a runaway ``next_cursor`` ends there).
MAX_EVENT_STEPS = 100

#: Where "all history" starts when a provider has no backfill horizon.
HISTORY_START = datetime(2000, 1, 1, tzinfo=UTC)

OutcomeStatus = Literal["success", "partial", "failed", "skipped"]


class _Tokens(Protocol):
    def valid_tokens(self, connection_id: int) -> TokenSet: ...


@dataclass(frozen=True)
class SyncProgress:
    """Sent to the ``progress`` callback after each stored page."""

    connection_id: int
    sync_id: int
    window: SyncWindow
    windows_done: int
    windows_total: int
    pages: int
    fetched: int
    created: int
    updated: int
    skipped: int
    deleted: int
    api_calls: int


@dataclass(frozen=True)
class SyncOutcome:
    connection_id: int
    status: OutcomeStatus
    sync_id: int | None = None
    provider: str | None = None
    pages: int = 0
    fetched: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    api_calls: int = 0
    error: str | None = None
    #: Item errors (index, external_id, reason) of malformed items that were skipped.
    item_errors: tuple[Mapping[str, Any], ...] = ()
    #: Items received that could not be stored (malformed): fetched = created + updated +
    #: skipped + failed.
    failed: int = 0
    #: Streams that came with the pages (Garmin activityDetails) stored / refused (issue 18).
    streams_stored: int = 0
    streams_failed: int = 0


@dataclass(frozen=True)
class Cursor:
    """The engine's durable position, stored in ``provider_connections.sync_cursor``.

    ``synced_until``: every window ending at or before it is stored. ``window`` + ``page``:
    a window in progress and the provider's cursor of its next page (None: its first page).
    """

    synced_until: datetime | None = None
    window: SyncWindow | None = None
    page: Mapping[str, Any] | None = None

    VERSION = 1

    @classmethod
    def load(cls, value: Mapping[str, Any] | None) -> Cursor:
        if not value or value.get("v") != cls.VERSION:
            return cls()
        window = value.get("window")
        return cls(
            synced_until=_parse_time(value.get("synced_until")),
            window=(
                SyncWindow(_require_time(window["start"]), _require_time(window["end"]))
                if isinstance(window, Mapping)
                else None
            ),
            page=value.get("page") if isinstance(value.get("page"), Mapping) else None,
        )

    def dump(self) -> dict[str, Any]:
        return {
            "v": self.VERSION,
            "synced_until": self.synced_until.isoformat() if self.synced_until else None,
            "window": (
                {"start": self.window.start.isoformat(), "end": self.window.end.isoformat()}
                if self.window
                else None
            ),
            "page": dict(self.page) if self.page is not None else None,
        }


def plan_windows(
    provider: Provider, cursor: Cursor, last_sync_at: datetime | None, now: datetime
) -> tuple[list[SyncWindow], Mapping[str, Any] | None]:
    """The windows to synchronise, oldest first, and the page cursor to resume the first at."""
    windows: list[SyncWindow] = []
    resume: Mapping[str, Any] | None = None
    if cursor.window is not None:
        windows.append(cursor.window)
        resume = cursor.page
        start = cursor.window.end
    elif cursor.synced_until is not None:
        start = cursor.synced_until - provider.incremental_overlap
    elif last_sync_at is not None:  # synchronised before the engine kept a cursor
        start = last_sync_at - provider.incremental_overlap
    elif provider.backfill_horizon is not None:
        start = now - provider.backfill_horizon
    else:
        start = HISTORY_START
    if provider.backfill_horizon is not None:
        start = max(start, now - provider.backfill_horizon)
    windows.extend(_chunks(start, now, provider.max_window))
    return windows, resume


def _chunks(start: datetime, end: datetime, size: timedelta | None) -> Iterator[SyncWindow]:
    if start >= end:
        return
    if size is None:
        yield SyncWindow(start, end)
        return
    while start < end:
        stop = min(start + size, end)
        yield SyncWindow(start, stop)
        start = stop


def is_transient(exc: BaseException) -> bool:
    """Whether a failed run should be retried (with backoff) rather than given up."""
    if isinstance(
        exc,
        TokenRevokedError | ProviderNotConfiguredError | InsufficientScopeError | ConfigError,
    ):
        return False
    return isinstance(
        exc,
        ProviderUnavailableError
        | RateLimitedError
        | TokenRefreshError
        | DatabaseUnavailableError
        | SyncBusyError
        | SyncLeaseLostError
        # A truncated or garbled page is usually a glitch; the job's attempts are bounded.
        | BadPayloadError,
    )


@dataclass
class _Run:
    connection_id: int
    sync_id: int
    holder: str
    provider: Provider
    provider_user_id: str
    exclusive: bool
    pages: int = 0
    fetched: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    api_calls: int = 0
    stored_pages: int = 0
    item_errors: list[Mapping[str, Any]] = field(default_factory=list)
    streams_stored: int = 0
    streams_failed: int = 0

    def outcome(self, status: OutcomeStatus, error: str | None = None) -> SyncOutcome:
        return SyncOutcome(
            connection_id=self.connection_id,
            status=status,
            sync_id=self.sync_id,
            provider=self.provider.name,
            pages=self.pages,
            fetched=self.fetched,
            created=self.created,
            updated=self.updated,
            skipped=self.skipped,
            deleted=self.deleted,
            api_calls=self.api_calls,
            error=error,
            item_errors=tuple(self.item_errors[:100]),
            failed=self.failed,
            streams_stored=self.streams_stored,
            streams_failed=self.streams_failed,
        )


class SyncEngine:
    """Runs synchronisations (see the module docstring). Thread-safe: state is per run."""

    def __init__(
        self,
        gateway: Gateway,
        tokens: _Tokens,
        providers: Mapping[str, Provider],
        *,
        limiter: Limiter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease_seconds: int = 300,
        token_key_ids: frozenset[str] | None = None,
    ) -> None:
        self.gateway = gateway
        #: The token keys this deployment holds (None: not checked before a run).
        self.token_key_ids = token_key_ids
        self.tokens = tokens
        self.providers = providers
        self.limiter: Limiter = limiter if limiter is not None else NoRateLimiter()
        self._clock = clock
        self.lease_seconds = lease_seconds
        self._holder_prefix = f"{socket.gethostname()}:{os.getpid()}"

    # --- public ----------------------------------------------------------------------------

    def run(
        self,
        connection_id: int,
        trigger: str = "manual",
        *,
        progress: Callable[[SyncProgress], None] | None = None,
    ) -> SyncOutcome:
        """Synchronise the connection now. Raises the run's error after recording it (see
        :func:`is_transient`); returns ``skipped`` for an unknown or inactive connection."""
        started = self._start(connection_id, trigger, exclusive=True)
        if isinstance(started, SyncOutcome):
            return started
        run, row = started
        return self._guarded(run, lambda: self._synchronise(run, row, progress))

    def process_event(
        self,
        connection_id: int,
        event: WebhookEvent,
        *,
        progress: Callable[[SyncProgress], None] | None = None,
    ) -> SyncOutcome:
        """Apply one webhook event: what the provider says it means, ingested or deleted."""
        started = self._start(connection_id, "webhook", exclusive=False)
        if isinstance(started, SyncOutcome):
            return started
        run, _ = started

        def work() -> None:
            buckets = buckets_for(run.provider, run.provider_user_id)
            step: Mapping[str, Any] | None = None
            for steps in range(1, MAX_EVENT_STEPS + 1):
                tokens = self.tokens.valid_tokens(connection_id)
                fetch = (
                    partial(run.provider.fetch_for_event, tokens, event)
                    if step is None
                    else partial(run.provider.fetch_for_event, tokens, event, step)
                )
                page = self._fetch(run, buckets, fetch)
                now = self._clock()
                self._store(run, page, cursor=None)
                if progress is not None:
                    progress(self._progress(run, SyncWindow(now, now), steps - 1, steps))
                if page.next_cursor is None:
                    return
                # A webhook run keeps no durable cursor: a retry re-applies the whole event,
                # which the ingest's upsert makes harmless.
                step = page.next_cursor
            raise BadPayloadError(
                run.provider.name,
                f"a webhook event still had more to fetch after {MAX_EVENT_STEPS} requests",
            )

        return self._guarded(run, work)

    def check_configuration(self, connection_id: int) -> None:
        """Raise what only this deployment's operator can fix — the connection's provider not
        configured here, its tokens sealed with a key this deployment does not hold — BEFORE
        the run is recorded: such a failure is not the athlete's, so it must not reach what the
        athlete sees (``sync_history``, the connection's status and ``last_error``). The error
        is permanent (:func:`is_transient`): the CLI prints it, a worker logs it and the job
        fails without retries; the connection stays as it was."""
        row = sync_runs.connection_token_key(self.gateway, connection_id)
        if row is None:
            return  # an unknown connection: sync_start answers "unknown" (skipped)
        name = str(row["provider"])
        if name not in self.providers:
            prefix = name.upper()
            raise ProviderNotConfiguredError(
                name, [f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET"]
            )
        key_id = row.get("key_id")
        if self.token_key_ids is not None and key_id and key_id not in self.token_key_ids:
            raise TokenKeyNotConfiguredError(connection_id, str(key_id))

    def close_stale_runs(self, older_than: timedelta = timedelta(0)) -> int:
        """Close runs whose worker died (lease lapsed more than ``older_than`` ago)."""
        return sync_runs.close_stale_runs(self.gateway, older_than)

    # --- internals -------------------------------------------------------------------------

    def _start(
        self, connection_id: int, trigger: str, *, exclusive: bool
    ) -> tuple[_Run, dict[str, Any]] | SyncOutcome:
        self.check_configuration(connection_id)
        holder = f"{self._holder_prefix}:{uuid.uuid4().hex}"
        row = sync_runs.start(
            self.gateway,
            connection_id=connection_id,
            trigger=trigger,
            holder=holder,
            lease_seconds=self.lease_seconds,
            exclusive=exclusive,
        )
        status = row.get("status")
        if status == "busy":
            raise SyncBusyError(connection_id, _parse_time(row.get("lease_until")))
        if status != "started":
            reason = (
                "the connection does not exist"
                if status == "unknown"
                else "the connection holds no tokens (revoked or disconnected)"
            )
            log.info("sync of connection %s skipped: %s", connection_id, reason)
            return SyncOutcome(
                connection_id=connection_id,
                status="skipped",
                provider=row.get("provider"),
                error=reason,
            )
        provider_name = str(row["provider"])
        sync_id = int(row["sync_id"])
        provider = self.providers.get(provider_name)
        if provider is None:
            prefix = provider_name.upper()
            exc = ProviderNotConfiguredError(
                provider_name, [f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET"]
            )
            self._finish_call(sync_id, holder, "failed", exc.message, _details(exc))
            raise exc
        run = _Run(
            connection_id=connection_id,
            sync_id=sync_id,
            holder=holder,
            provider=provider,
            provider_user_id=str(row.get("provider_user_id") or ""),
            exclusive=exclusive,
        )
        return run, row

    def _guarded(self, run: _Run, work: Callable[[], None]) -> SyncOutcome:
        try:
            work()
        except HistoryNotGrantedError as exc:
            # The provider declined for a reason the athlete can fix: recorded as skipped,
            # with the hint as the connection's last_error; not raised, not retried.
            message = _describe(exc)
            if exc.hint:
                message = f"{message} ({exc.hint})"
            log.info(
                "sync %s of connection %s (%s) skipped: %s",
                run.sync_id,
                run.connection_id,
                run.provider.name,
                message,
            )
            self._finish(run, "skipped", message, _details(exc))
            return run.outcome("skipped", message)
        except SyncLeaseLostError:
            log.warning("sync %s of connection %s lost its lease", run.sync_id, run.connection_id)
            raise
        except BaseException as exc:
            status: OutcomeStatus = "partial" if run.stored_pages else "failed"
            message = _describe(exc)
            log.warning(
                "sync %s of connection %s (%s) %s: %s",
                run.sync_id,
                run.connection_id,
                run.provider.name,
                status,
                message,
            )
            # After a dropped connection a pool may hand out further dead ones: a few tries.
            for attempt in range(3):
                try:
                    self._finish(run, status, message, _details(exc))
                    break
                except DatabaseUnavailableError as finish_exc:
                    if attempt == 2:
                        log.warning(
                            "sync %s could not be closed (%s); the stale-run sweep will",
                            run.sync_id,
                            _describe(finish_exc),
                        )
                except Exception as finish_exc:  # the original error matters more
                    log.warning("sync %s could not be closed: %s", run.sync_id, finish_exc)
                    break
            raise
        self._finish(run, "success", None, None)
        return run.outcome("success")

    def _synchronise(
        self, run: _Run, row: Mapping[str, Any], progress: Callable[[SyncProgress], None] | None
    ) -> None:
        provider = run.provider
        cursor = Cursor.load(row.get("sync_cursor"))
        now = self._clock()
        windows, page_cursor = plan_windows(
            provider, cursor, _parse_time(row.get("last_sync_at")), now
        )
        if windows:
            self._heartbeat(run, SyncWindow(windows[0].start, windows[-1].end))
        buckets = buckets_for(provider, run.provider_user_id)
        synced_until = cursor.synced_until
        for index, window in enumerate(windows):
            while True:
                tokens = self.tokens.valid_tokens(run.connection_id)
                page = self._fetch(
                    run, buckets, partial(provider.fetch_activities, tokens, window, page_cursor)
                )
                if page.next_cursor is None:
                    synced_until = window.end
                    after = Cursor(synced_until=synced_until)
                else:
                    after = Cursor(synced_until=synced_until, window=window, page=page.next_cursor)
                self._store(run, page, cursor=after.dump())
                if progress is not None:
                    progress(self._progress(run, window, index, len(windows)))
                if page.next_cursor is None:
                    break
                page_cursor = page.next_cursor
            page_cursor = None

    def _fetch(
        self, run: _Run, buckets: tuple[Bucket, ...], fetch: Callable[[], ActivityPage]
    ) -> ActivityPage:
        """One provider step under the shared limiter: a request is reserved first; a 429's
        rate-limit headers are recorded (through the provider's own parser) so every worker
        backs off, not only this one; the page's reported usage is recorded; and a page that
        took more (or fewer) calls than the one reserved is charged the difference."""
        provider = run.provider
        self.limiter.acquire(provider.name, buckets)
        try:
            page = fetch()
        except RateLimitedError as exc:
            if exc.rate_limit_headers:
                try:
                    self.limiter.observe(provider.rate_limit_observations(exc.rate_limit_headers))
                except Exception as observe_exc:  # the 429 itself matters more
                    log.warning(
                        "rate-limit headers of a %s 429 not recorded: %s",
                        provider.name,
                        _describe(observe_exc),
                    )
            raise
        self.limiter.observe(page.rate_limits)
        if page.api_calls != 1:
            self.limiter.charge(buckets, page.api_calls - 1)
        return page

    def _store(self, run: _Run, page: ActivityPage, *, cursor: Mapping[str, Any] | None) -> None:
        row = sync_runs.ingest_page(
            self.gateway,
            sync_id=run.sync_id,
            holder=run.holder,
            items=page.items,
            deleted_external_ids=[str(x) for x in page.deleted_external_ids],
            api_calls=page.api_calls,
            cursor=cursor,
            lease_seconds=self.lease_seconds,
            complete_starts=[w.start for w in page.complete_windows],
            complete_ends=[w.end for w in page.complete_windows],
        )
        if not row.get("lease_held"):
            raise SyncLeaseLostError(
                f"sync {run.sync_id} of connection {run.connection_id} was closed as abandoned "
                "while it ran; its progress up to the last stored page is kept"
            )
        run.pages += 1
        run.stored_pages += 1
        run.fetched += len(page.items)
        run.created += int(row.get("created") or 0)
        run.updated += int(row.get("updated") or 0)
        run.skipped += int(row.get("skipped") or 0)
        run.deleted += int(row.get("deleted") or 0)
        run.api_calls += page.api_calls
        errors = row.get("errors") or []
        if isinstance(errors, list):
            run.failed += len(errors)
            run.item_errors.extend(e for e in errors if isinstance(e, Mapping))
        if page.refused:
            self._refuse(run, page.refused)
        if page.streams:
            self._store_streams(run, page)
        if int(row.get("created") or 0) + int(row.get("updated") or 0):
            self._derive_timezones(run)

    def _store_streams(self, run: _Run, page: ActivityPage) -> None:
        """Streams that came with the page (issue 18: Garmin activityDetails), stored after
        its items; counted on the outcome, recorded per activity
        (``public.activity_stream_fetches``), never the run's failure."""
        from trainlytics.sync.streams import store_page_streams

        try:
            stored, failed = store_page_streams(self.gateway, run.connection_id, page.streams)
        except DatabaseUnavailableError:
            raise
        except Exception as exc:
            log.warning(
                "sync %s: streams of connection %s not stored: %s",
                run.sync_id,
                run.connection_id,
                _describe(exc),
            )
            failed, stored = len(page.streams), 0
        run.streams_stored += stored
        run.streams_failed += failed

    def _refuse(self, run: _Run, refused: Sequence[Mapping[str, Any]]) -> None:
        """Items the provider step refused before the ingest: counted as fetched and failed,
        with their reasons, on the run (``public.sync_refuse_items``) and in the outcome."""
        entries = [
            {
                "index": None,
                "external_id": (
                    None if item.get("external_id") is None else str(item["external_id"])[:200]
                ),
                "reason": str(item.get("reason") or "refused")[:500],
            }
            for item in refused
        ]
        if not sync_runs.refuse_items(
            self.gateway, sync_id=run.sync_id, holder=run.holder, refused=entries
        ):
            raise SyncLeaseLostError(
                f"sync {run.sync_id} of connection {run.connection_id} was closed as abandoned "
                "while it ran; its progress up to the last stored page is kept"
            )
        run.fetched += len(entries)
        run.failed += len(entries)
        run.item_errors.extend(entries)

    def _derive_timezones(self, run: _Run) -> None:
        """Rows of the connection without a zone get the zone of their start position (issue
        15); a failure here is logged, never the sync's failure (the next page retries)."""
        from trainlytics.importers.timezones import derive_timezones

        try:
            derive_timezones(self.gateway, connection_id=run.connection_id)
        except Exception as exc:
            log.warning(
                "sync %s: time zones of connection %s not derived: %s",
                run.sync_id,
                run.connection_id,
                _describe(exc),
            )

    def _heartbeat(self, run: _Run, window: SyncWindow) -> None:
        if not sync_runs.heartbeat(
            self.gateway,
            sync_id=run.sync_id,
            holder=run.holder,
            window_start=window.start,
            window_end=window.end,
            lease_seconds=self.lease_seconds,
        ):
            raise SyncLeaseLostError(f"sync {run.sync_id} was closed as abandoned while it ran")

    def _finish(
        self,
        run: _Run,
        status: OutcomeStatus,
        message: str | None,
        details: Mapping[str, Any] | None,
    ) -> None:
        self._finish_call(run.sync_id, run.holder, status, message, details, failed=run.failed)

    def _finish_call(
        self,
        sync_id: int,
        holder: str,
        status: OutcomeStatus,
        message: str | None,
        details: Mapping[str, Any] | None,
        *,
        failed: int | None = None,
    ) -> None:
        sync_runs.finish(
            self.gateway,
            sync_id=sync_id,
            holder=holder,
            status=status,
            error_message=message,
            error_details=details,
            activities_failed=failed,
        )

    def _progress(self, run: _Run, window: SyncWindow, index: int, total: int) -> SyncProgress:
        return SyncProgress(
            connection_id=run.connection_id,
            sync_id=run.sync_id,
            window=window,
            windows_done=index,
            windows_total=total,
            pages=run.pages,
            fetched=run.fetched,
            created=run.created,
            updated=run.updated,
            skipped=run.skipped,
            deleted=run.deleted,
            api_calls=run.api_calls,
        )


# --- helpers ---------------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    """One line for the athlete and operators: our messages never hold a secret; anything
    else is named by its type only (its text could echo a request)."""
    if isinstance(exc, TrainlyticsError):
        text = exc.message
    elif isinstance(exc, NotImplementedError):
        text = str(exc) or "not implemented"
    else:
        text = f"unexpected {type(exc).__name__}"
    return " ".join(text.split())[:1000]


def _details(exc: BaseException) -> dict[str, Any]:
    details: dict[str, Any] = {"error": type(exc).__name__, "transient": is_transient(exc)}
    if isinstance(exc, ProviderError):
        details["provider"] = exc.provider
        if exc.status_code is not None:
            details["status_code"] = exc.status_code
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        details["retry_after"] = exc.retry_after
    if isinstance(exc, TrainlyticsError) and exc.hint:
        details["hint"] = exc.hint
    return details


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _require_time(value: Any) -> datetime:
    parsed = _parse_time(value)
    if parsed is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return parsed
