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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

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
    row = conn.execute(
        "select id, email, first_name, last_name, preferences from public.users"
        " where lower(email) = lower(%s)",
        [email.strip()],
    ).fetchone()
    if row is None:
        raise TrainlyticsError(
            f"no user with email {email.strip()}",
            hint="check the address, or create the user with `trainlytics users create`",
        )
    preferences = row[4] if isinstance(row[4], dict) else json.loads(row[4] or "{}")
    return Athlete(row[0], row[1], row[2], row[3], preferences)


@contextmanager
def as_athlete(conn: Conn, athlete_id: uuid.UUID) -> Iterator[None]:
    """Inside a transaction (or savepoint), act as the athlete behind PostgREST; restore after."""
    claims = json.dumps({"sub": str(athlete_id), "role": "authenticated", "aud": "authenticated"})
    with conn.transaction():
        conn.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true)",
            [claims],
        )
        try:
            yield
        finally:
            if not conn.broken and conn.info.transaction_status != TransactionStatus.INERROR:
                conn.execute("reset role")
                conn.execute("select set_config('request.jwt.claims', '', true)")


def _exists(conn: Conn, regclass: str | None = None, regprocedure: str | None = None) -> bool:
    if regclass is not None:
        row = conn.execute("select to_regclass(%s) is not null", [regclass]).fetchone()
    else:
        row = conn.execute("select to_regprocedure(%s) is not null", [regprocedure]).fetchone()
    return bool(row and row[0])


def _columns(conn: Conn, relation: str) -> set[str]:
    rows = conn.execute(
        "select attname from pg_attribute where attrelid = to_regclass(%s)"
        " and attnum > 0 and not attisdropped",
        [relation],
    ).fetchall()
    return {str(r[0]) for r in rows}


def _period(conn: Conn, athlete: Athlete, weeks: int, until: dt.date | None) -> Period:
    if not 1 <= weeks <= MAX_WEEKS:
        raise TrainlyticsError(
            f"--weeks must be between 1 and {MAX_WEEKS}, not {weeks}", hint="e.g. --weeks 12"
        )
    if until is None:
        # Today, unless the athlete has nothing in the period: then end at their last activity,
        # so an older history (an imported archive) still gives a report with content.
        today = dt.date.today()
        # The latest start first (index order), then the latest local day among the starts
        # up to 36 h before it (UTC offsets lie within +-18 h): two reads of a few rows each,
        # whatever the history (issue 16), instead of a max over every activity.
        row = conn.execute(
            "select start_date from public.activities where user_id = %s and deleted_at is null"
            " order by start_date desc limit 1",
            [athlete.id],
        ).fetchone()
        last = None
        if row is not None:
            row = conn.execute(
                "select max(start_date_local)::date from public.activities"
                " where user_id = %s and deleted_at is null"
                " and start_date >= %s::timestamptz - interval '36 hours'",
                [athlete.id, row[0]],
            ).fetchone()
            last = row[0] if row else None
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
    has_load = _exists(conn, regprocedure="public.training_load_series(uuid, date, date)")
    has_records = _exists(conn, regclass="public.personal_records")
    has_recurring = _exists(conn, regclass="public.recurring_sync_errors")
    activity_columns = _columns(conn, "public.activities")
    # Count each workout once where duplicate grouping exists (its primary copy).
    recent_sql = _RECENT_PRIMARY_SQL if "primary_activity_id" in activity_columns else _RECENT_SQL
    with as_athlete(conn, athlete.id):
        cur = conn.cursor(row_factory=dict_row)
        params = {
            "user_id": athlete.id,
            "start": period.start,
            "end": period.end,
            "as_of": period.as_of,
        }
        data.weekly = [
            WeekVolume(
                r["week_start"],
                str(r["activity_type"]),
                int(r["activity_count"]),
                _num(r["total_distance"]),
                _num(r["total_moving_time"]),
                _num(r["total_elevation_gain"]),
            )
            for r in cur.execute(
                "select week_start, activity_type, activity_count, total_distance,"
                " total_moving_time, total_elevation_gain from public.weekly_volume"
                " where user_id = %(user_id)s and week_start between %(start)s and %(end)s"
                " order by week_start, activity_type",
                params,
            )
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
            for r in cur.execute(
                "select activity_type, sum(activity_count) as n, sum(total_distance) as distance,"
                " sum(total_moving_time) as moving_time,"
                " sum(total_elevation_gain) as elevation, sum(total_calories) as calories"
                " from public.weekly_volume"
                " where user_id = %(user_id)s and week_start between %(start)s and %(end)s"
                " group by activity_type order by sum(total_moving_time) desc, activity_type",
                params,
            )
        ]
        # Every stored copy, by where it came from (a workout synced from two providers
        # counts for both: this is about sources, not training volume).
        data.sources = [
            SourceTotal(str(r["src"]), int(r["n"]), _num(r["distance"]), _num(r["moving_time"]))
            for r in cur.execute(
                "select coalesce(a.provider::text, a.source::text) as src, count(*) as n,"
                " sum(a.distance) as distance, sum(a.moving_time) as moving_time"
                " from public.activities as a"
                " where a.user_id = %(user_id)s and a.deleted_at is null"
                " and a.start_date_local >= %(start)s"
                " and a.start_date_local < %(end)s::date + 1"
                # The same window on start_date (offsets within +-18 h), as timestamptz
                # values: an index range of the window (issue 16).
                " and a.start_date >= %(start_utc)s and a.start_date < %(end_utc)s"
                " group by 1 order by count(*) desc, 1",
                {
                    **params,
                    "start_utc": dt.datetime.combine(period.start, dt.time(), dt.UTC)
                    - dt.timedelta(hours=18),
                    "end_utc": dt.datetime.combine(period.end, dt.time(), dt.UTC)
                    + dt.timedelta(hours=42),
                },
            )
        ]
        if has_load:
            data.load = [
                LoadDay(r["day"], _num(r["load"]), _num(r["ctl"]), _num(r["atl"]), _num(r["tsb"]))
                for r in cur.execute(
                    "select day, load, ctl, atl, tsb"
                    " from public.training_load_series(%(user_id)s, %(start)s, %(as_of)s)"
                    " order by day",
                    params,
                )
            ]
        if has_records:
            data.records = _records(cur, params)
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
            for r in cur.execute(
                "select provider, provider_username, status, connected_at, last_sync_at,"
                " last_error, consecutive_failures from public.provider_connections"
                " where user_id = %(user_id)s order by provider",
                params,
            )
        ]
        data.sync_statistics = [
            SyncStatistic(
                str(r["provider"]),
                str(r["sync_status"]),
                int(r["total_created"] or 0),
                int(r["sync_count"]),
            )
            for r in cur.execute(
                "select provider, sync_status, total_created, sync_count"
                " from public.sync_statistics order by provider, sync_status"
            )
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
            for r in cur.execute(
                "select pc.provider, sh.sync_trigger, sh.sync_status, sh.sync_started_at,"
                " sh.sync_completed_at, sh.activities_created, sh.activities_updated,"
                " sh.error_message from public.sync_history as sh"
                " inner join public.provider_connections as pc on pc.id = sh.connection_id"
                " where sh.user_id = %(user_id)s order by sh.sync_started_at desc limit 8",
                params,
            )
        ]
        if has_recurring:
            data.recurring_errors = _recurring_errors(cur, params)
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
            for r in cur.execute(
                recent_sql,
                {**params, "limit": recent},
            )
        ]
    return data


_RECENT_SQL = """
select
    a.start_date_local, a.name, a.activity_type,
    coalesce(a.provider::text, a.source::text) as src, a.distance, a.moving_time,
    a.elevation_gain, a.average_heartrate, a.average_watts
from public.activities as a
where a.user_id = %(user_id)s and a.deleted_at is null
order by a.start_date desc
limit %(limit)s
"""
_RECENT_PRIMARY_SQL = _RECENT_SQL.replace(
    "a.deleted_at is null", "a.deleted_at is null and a.primary_activity_id is null"
)


_RECORD_ORDER = {"longest_distance": 0, "longest_duration": 1, "biggest_climb": 2, "fastest": 3}


def _records(cur: psycopg.Cursor[dict[str, Any]], params: dict[str, Any]) -> list[Record]:
    rows = cur.execute(
        "select pr.activity_type, pr.record, pr.standard_distance, pr.value, pr.achieved_on,"
        " a.name as activity_name"
        " from public.personal_records as pr"
        " left join public.activities as a on a.id = pr.activity_id"
        " where pr.user_id = %(user_id)s",
        params,
    ).fetchall()
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


def _recurring_errors(
    cur: psycopg.Cursor[dict[str, Any]], params: dict[str, Any]
) -> list[RecurringError]:
    # Under the athlete's RLS, shared errors are counted over their own connections only.
    rows = cur.execute(
        "select kind, provider, error_message, failures, connections"
        " from public.recurring_sync_errors"
        " where user_id is null or user_id = %(user_id)s"
        " order by last_failure_at desc",
        params,
    ).fetchall()
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
