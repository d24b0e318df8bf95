"""What an athlete's report and ``trainlytics stats`` show, read from the statistics views.

Everything is read **as the athlete** — the same transaction-local role and JWT claims
PostgREST sets — so row-level security decides what appears, exactly as in the frontend: the
report can never include another athlete's rows, and views without a ``user_id`` column (such
as ``sync_statistics``) are already narrowed to the athlete. Statistics objects that a database
may not have yet (training load, records, recurring sync errors, volume by provider) are looked
up in the catalog first; a missing one leaves its section empty with a note instead of failing.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from trainlytics.db import report_queries as queries
from trainlytics.db.report_queries import as_athlete
from trainlytics.errors import TrainlyticsError

__all__ = [
    "Athlete",
    "Connection",
    "LoadDay",
    "Period",
    "RecentActivity",
    "Record",
    "RecurringError",
    "ReportData",
    "SourceTotal",
    "SportTotal",
    "SyncRun",
    "SyncStatistic",
    "WeekVolume",
    "as_athlete",
    "find_athlete",
    "load_report_data",
    "parse_day",
]

Conn = psycopg.Connection[Any]

DEFAULT_WEEKS = 12
MAX_WEEKS = 520


@dataclass(frozen=True)
class Athlete:
    id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    preferences: dict[str, Any]

    @property
    def display_name(self) -> str:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return name or self.email


@dataclass(frozen=True)
class Period:
    """Whole local calendar weeks, Monday ``start`` to Sunday ``end`` inclusive; ``as_of`` is
    the day the report describes (today, or ``--until``): day-by-day series stop there rather
    than extrapolate into the rest of the week."""

    start: dt.date
    end: dt.date
    as_of: dt.date

    @property
    def weeks(self) -> list[dt.date]:
        count = (self.end - self.start).days // 7 + 1
        return [self.start + dt.timedelta(weeks=i) for i in range(count)]


@dataclass(frozen=True)
class WeekVolume:
    week_start: dt.date
    activity_type: str
    activity_count: int
    distance: float  # m
    moving_time: float  # s
    elevation_gain: float  # m


@dataclass(frozen=True)
class SportTotal:
    activity_type: str
    activity_count: int
    distance: float  # m
    moving_time: float  # s
    elevation_gain: float  # m
    calories: float  # kcal


@dataclass(frozen=True)
class SourceTotal:
    source: str  # a provider name, or "file" / "manual"
    activity_count: int
    distance: float  # m
    moving_time: float  # s


@dataclass(frozen=True)
class LoadDay:
    day: dt.date
    load: float
    ctl: float
    atl: float
    tsb: float


@dataclass(frozen=True)
class Record:
    activity_type: str
    record: str  # longest_distance, longest_duration, biggest_climb, fastest
    standard_distance: float | None  # m, for fastest
    value: float
    unit: str  # m or s
    achieved_on: dt.date | None
    activity_name: str | None


@dataclass(frozen=True)
class Connection:
    provider: str
    username: str | None
    status: str
    connected_at: dt.datetime | None
    last_sync_at: dt.datetime | None
    last_error: str | None
    consecutive_failures: int


@dataclass(frozen=True)
class SyncStatistic:
    provider: str
    sync_status: str
    total_created: int
    sync_count: int


@dataclass(frozen=True)
class SyncRun:
    provider: str
    trigger: str
    status: str
    started_at: dt.datetime
    completed_at: dt.datetime | None
    created: int
    updated: int
    error: str | None


@dataclass(frozen=True)
class RecurringError:
    provider: str | None
    error: str
    occurrences: int
    detail: str


@dataclass(frozen=True)
class RecentActivity:
    start_local: dt.datetime
    name: str | None
    activity_type: str
    source: str
    distance: float | None
    moving_time: int | None
    elevation_gain: float | None
    average_heartrate: float | None
    average_watts: float | None


@dataclass
class ReportData:
    athlete: Athlete
    period: Period
    generated_at: dt.datetime
    weekly: list[WeekVolume] = field(default_factory=list)
    sports: list[SportTotal] = field(default_factory=list)
    sources: list[SourceTotal] = field(default_factory=list)
    load: list[LoadDay] | None = None  # None: the database has no training-load statistics
    records: list[Record] | None = None  # None: the database has no records view
    connections: list[Connection] = field(default_factory=list)
    sync_statistics: list[SyncStatistic] = field(default_factory=list)
    recent_syncs: list[SyncRun] = field(default_factory=list)
    recurring_errors: list[RecurringError] | None = None  # None: no such view
    recent_activities: list[RecentActivity] = field(default_factory=list)

    @property
    def has_activities(self) -> bool:
        return bool(self.weekly)


def parse_day(text: str | None) -> dt.date | None:
    """A ``YYYY-MM-DD`` option value (None stays None), or a clear error."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise TrainlyticsError(
            f"{text!r} is not a date", hint="expected YYYY-MM-DD, e.g. 2026-11-30"
        ) from None


def find_athlete(conn: Conn, email: str) -> Athlete:
    """The profile of the user with this email (any case), or a clear error."""
    row = queries.user_profile_by_email(conn, email.strip())
    if row is None:
        raise TrainlyticsError(
            f"no user with email {email.strip()}",
            hint="check the address, or create the user with `trainlytics users create`",
        )
    preferences = row[4] if isinstance(row[4], dict) else json.loads(row[4] or "{}")
    return Athlete(row[0], row[1], row[2], row[3], preferences)


def _period(conn: Conn, athlete: Athlete, weeks: int, until: dt.date | None) -> Period:
    if not 1 <= weeks <= MAX_WEEKS:
        raise TrainlyticsError(
            f"--weeks must be between 1 and {MAX_WEEKS}, not {weeks}", hint="e.g. --weeks 12"
        )
    if until is None:
        # Today, unless the athlete has nothing in the period: then end at their last activity,
        # so an older history (an imported archive) still gives a report with content.
        today = dt.date.today()
        last = queries.last_activity_day(conn, athlete.id)
        first_day = today - dt.timedelta(weeks=weeks)
        until = last if last is not None and last < first_day else today
    end_monday = until - dt.timedelta(days=until.weekday())
    return Period(
        end_monday - dt.timedelta(weeks=weeks - 1), end_monday + dt.timedelta(days=6), until
    )


def _num(value: Any) -> float:
    return float(value) if value is not None else 0.0


def load_report_data(
    conn: Conn,
    email: str,
    *,
    weeks: int = DEFAULT_WEEKS,
    until: dt.date | None = None,
    recent: int = 10,
) -> ReportData:
    """Everything the report and ``stats`` show for the athlete ``email`` over ``weeks`` weeks
    ending with the week of ``until`` (default: see :func:`_period`)."""
    athlete = find_athlete(conn, email)
    period = _period(conn, athlete, weeks, until)
    data = ReportData(athlete, period, dt.datetime.now(dt.UTC))
    has_load = queries.function_exists(conn, "public.training_load_series(uuid, date, date)")
    has_records = queries.relation_exists(conn, "public.personal_records")
    has_recurring = queries.relation_exists(conn, "public.recurring_sync_errors")
    # Count each workout once where duplicate grouping exists (its primary copy).
    primary_only = "primary_activity_id" in queries.column_names(conn, "public.activities")
    user, start, end = athlete.id, period.start, period.end
    with as_athlete(conn, athlete.id):
        data.weekly = [
            WeekVolume(
                r["week_start"],
                str(r["activity_type"]),
                int(r["activity_count"]),
                _num(r["total_distance"]),
                _num(r["total_moving_time"]),
                _num(r["total_elevation_gain"]),
            )
            for r in queries.weekly_volume(conn, user, start, end)
        ]
        data.sports = [
            SportTotal(
                str(r["activity_type"]),
                int(r["n"]),
                _num(r["distance"]),
                _num(r["moving_time"]),
                _num(r["elevation"]),
                _num(r["calories"]),
            )
            for r in queries.sport_totals(conn, user, start, end)
        ]
        # Every stored copy, by where it came from (a workout synced from two providers
        # counts for both: this is about sources, not training volume).
        data.sources = [
            SourceTotal(str(r["src"]), int(r["n"]), _num(r["distance"]), _num(r["moving_time"]))
            for r in queries.source_totals(conn, user, start, end)
        ]
        if has_load:
            data.load = [
                LoadDay(r["day"], _num(r["load"]), _num(r["ctl"]), _num(r["atl"]), _num(r["tsb"]))
                for r in queries.training_load(conn, user, start, period.as_of)
            ]
        if has_records:
            data.records = _records(queries.personal_records(conn, user))
        data.connections = [
            Connection(
                str(r["provider"]),
                r["provider_username"],
                str(r["status"]),
                r["connected_at"],
                r["last_sync_at"],
                r["last_error"],
                int(r["consecutive_failures"]),
            )
            for r in queries.provider_connections(conn, user)
        ]
        data.sync_statistics = [
            SyncStatistic(
                str(r["provider"]),
                str(r["sync_status"]),
                int(r["total_created"] or 0),
                int(r["sync_count"]),
            )
            for r in queries.sync_statistics(conn)
        ]
        data.recent_syncs = [
            SyncRun(
                str(r["provider"]),
                str(r["sync_trigger"]),
                str(r["sync_status"]),
                r["sync_started_at"],
                r["sync_completed_at"],
                int(r["activities_created"]),
                int(r["activities_updated"]),
                r["error_message"],
            )
            for r in queries.recent_syncs(conn, user)
        ]
        if has_recurring:
            data.recurring_errors = _recurring_errors(queries.recurring_errors(conn, user))
        data.recent_activities = [
            RecentActivity(
                r["start_date_local"],
                r["name"],
                str(r["activity_type"]),
                str(r["src"]),
                r["distance"],
                r["moving_time"],
                r["elevation_gain"],
                r["average_heartrate"],
                r["average_watts"],
            )
            for r in queries.recent_activities(conn, user, recent, primary_only=primary_only)
        ]
    return data


_RECORD_ORDER = {"longest_distance": 0, "longest_duration": 1, "biggest_climb": 2, "fastest": 3}


def _records(rows: list[dict[str, Any]]) -> list[Record]:
    records = [
        Record(
            str(r["activity_type"]),
            str(r["record"]),
            float(r["standard_distance"]) if r["standard_distance"] is not None else None,
            _num(r["value"]),
            "m" if r["record"] in ("longest_distance", "biggest_climb") else "s",
            r["achieved_on"],
            r["activity_name"],
        )
        for r in rows
    ]
    records.sort(
        key=lambda r: (r.activity_type, _RECORD_ORDER.get(r.record, 9), r.standard_distance or 0)
    )
    return records


def _recurring_errors(rows: list[dict[str, Any]]) -> list[RecurringError]:
    return [
        RecurringError(
            str(r["provider"]) if r["provider"] is not None else None,
            str(r["error_message"] or "(no message)"),
            int(r["failures"]),
            "failing run after run"
            if r["kind"] == "failing_connection"
            else f"same error on {r['connections']} connections",
        )
        for r in rows
    ]
