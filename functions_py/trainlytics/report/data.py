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

from trainlytics.db import report_details as details_db
from trainlytics.db import report_queries as db
from trainlytics.db.report_queries import Conn, Row, as_athlete
from trainlytics.errors import TrainlyticsError
from trainlytics.report.activity import ZoneTime
from trainlytics.streams import ActivityStreams, Lap

__all__ = [
    "ActivityDetail",
    "Athlete",
    "ComplianceWeek",
    "Connection",
    "Effort",
    "LoadDay",
    "Period",
    "PlannedWorkout",
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
    "coached_athletes",
    "find_athlete",
    "load_report_data",
    "parse_day",
]

DEFAULT_WEEKS = 12
MAX_WEEKS = 520
#: How many of the recent activities get a page of their own (route, splits, charts, zones).
DETAILED_ACTIVITIES = 5


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
    id: int | None = None
    elapsed_time: int | None = None
    load: float | None = None


@dataclass(frozen=True)
class Effort:
    """A best effort from the streams work's views (``public.activity_best_efforts``,
    ``season_best_efforts``, ``all_time_best_efforts``): ``effort`` distance (value: fastest
    time in s over ``span`` m) or power (value: best average W over ``span`` s)."""

    scope: str  # "activity", "season" or "all_time"
    activity_type: str
    effort: str
    span: float
    label: str
    value: float
    achieved_on: dt.date | None = None


@dataclass(frozen=True)
class ActivityDetail:
    """One recent activity's page: its summary and, when stored and readable, its streams and
    (where the database keeps them) its best efforts."""

    activity: RecentActivity
    streams: ActivityStreams | None
    efforts: list[Effort] | None = None  # None: computed from the streams by the report
    #: Time in zones by kind (heart_rate, power, pace; pace bounds in s/km) from
    #: public.activity_time_in_zones; None: computed from the streams by the report.
    zones: dict[str, list[ZoneTime]] | None = None
    #: The device's laps (public.activity_laps, as the reader may read them); empty: none.
    laps: list[Lap] = field(default_factory=list)


@dataclass(frozen=True)
class PlannedWorkout:
    planned_date: dt.date
    name: str
    activity_type: str
    planned_duration: float | None  # s
    planned_distance: float | None  # m
    planned_load: float | None
    completed: bool  # fulfilled by an activity the reader may read
    completed_time: float | None  # s
    completed_distance: float | None  # m
    completed_load: float | None


@dataclass(frozen=True)
class ComplianceWeek:
    week_start: dt.date
    planned_count: int
    completed_count: int
    planned_duration: float  # s
    completed_duration: float  # s
    planned_load: float
    completed_load: float


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
    # Issue 18: the athlete's settings (public.get_athlete_settings: {key: {value, source}}),
    # one page per recent activity, planned vs completed. None: the database lacks them.
    settings: dict[str, Any] | None = None
    details: list[ActivityDetail] = field(default_factory=list)
    planned: list[PlannedWorkout] | None = None
    compliance: list[ComplianceWeek] | None = None
    #: This season's and all-time best efforts (None: the database has no such views).
    best_efforts: list[Effort] | None = None
    #: Who the data was read as: the athlete, or a coach (then account sections are left out).
    reader: Athlete | None = None

    @property
    def units(self) -> str:
        value = (self.settings or {}).get("units", {}).get("value")
        return "imperial" if value == "imperial" else "metric"

    def setting(self, key: str) -> Any:
        return (self.settings or {}).get(key, {}).get("value")

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
    row = db.user_profile_by_email(conn, email.strip())
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
        # The latest start first, then the latest local day among the starts just before it:
        # two reads of a few rows each, whatever the history (issue 16).
        latest = db.latest_activity_start(conn, athlete.id)
        last = db.last_activity_day(conn, athlete.id, latest) if latest is not None else None
        first_day = today - dt.timedelta(weeks=weeks)
        until = last if last is not None and last < first_day else today
    end_monday = until - dt.timedelta(days=until.weekday())
    return Period(
        end_monday - dt.timedelta(weeks=weeks - 1), end_monday + dt.timedelta(days=6), until
    )


def _num(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _opt(value: Any) -> float | None:
    return float(value) if value is not None else None


def load_report_data(
    conn: Conn,
    email: str,
    *,
    weeks: int = DEFAULT_WEEKS,
    until: dt.date | None = None,
    recent: int = 10,
    reader: Athlete | None = None,
    detailed: int = DETAILED_ACTIVITIES,
) -> ReportData:
    """Everything the report and ``stats`` show for the athlete ``email`` over ``weeks`` weeks
    ending with the week of ``until`` (default: see :func:`_period`).

    Read as the athlete, or as ``reader`` (a coach): then row-level security gives only what
    the coach may read (no private and no Strava-sourced activity, no streams from Strava), and
    the account sections (connections, synchronisations) are left out."""
    athlete = find_athlete(conn, email)
    has_load = db.function_exists(conn, "public.training_load_series(uuid, date, date)")
    has_records = db.relation_exists(conn, "public.personal_records")
    has_recurring = db.relation_exists(conn, "public.recurring_sync_errors")
    has_settings = db.function_exists(conn, "public.get_athlete_settings(uuid)")
    has_streams = db.relation_exists(conn, "public.activity_streams")
    has_laps = db.relation_exists(conn, "public.activity_laps")
    has_compliance = db.relation_exists(conn, "public.weekly_compliance")
    has_loads = db.relation_exists(conn, "public.activity_loads")
    has_efforts = db.relation_exists(conn, "public.all_time_best_efforts") and db.relation_exists(
        conn, "public.season_best_efforts"
    )
    has_activity_efforts = db.relation_exists(conn, "public.activity_best_efforts")
    has_zones = db.function_exists(conn, "public.activity_time_in_zones(bigint)")
    # Count each workout once where duplicate grouping exists (its primary copy).
    primary_only = "primary_activity_id" in db.column_names(conn, "public.activities")
    as_coach = reader is not None and reader.id != athlete.id
    with as_athlete(conn, reader.id if reader is not None else athlete.id):
        period = _period(conn, athlete, weeks, until)
        data = ReportData(athlete, period, dt.datetime.now(dt.UTC), reader=reader)
        uid, start, end = athlete.id, period.start, period.end
        data.weekly = [
            WeekVolume(
                r["week_start"],
                str(r["activity_type"]),
                int(r["activity_count"]),
                _num(r["total_distance"]),
                _num(r["total_moving_time"]),
                _num(r["total_elevation_gain"]),
            )
            for r in db.weekly_volume(conn, uid, start, end)
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
            for r in db.sport_totals(conn, uid, start, end)
        ]
        # Every stored copy, by where it came from (a workout synced from two providers
        # counts for both: this is about sources, not training volume).
        data.sources = [
            SourceTotal(str(r["src"]), int(r["n"]), _num(r["distance"]), _num(r["moving_time"]))
            for r in db.source_totals(conn, uid, start, end)
        ]
        if has_load:
            data.load = [
                LoadDay(r["day"], _num(r["load"]), _num(r["ctl"]), _num(r["atl"]), _num(r["tsb"]))
                for r in db.training_load(conn, uid, start, period.as_of)
            ]
        if has_records:
            data.records = _records(db.personal_records(conn, uid))
        if not as_coach:
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
                for r in db.provider_connections(conn, uid)
            ]
            data.sync_statistics = [
                SyncStatistic(
                    str(r["provider"]),
                    str(r["sync_status"]),
                    int(r["total_created"] or 0),
                    int(r["sync_count"]),
                )
                for r in db.sync_statistics(conn)
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
                for r in db.recent_syncs(conn, uid)
            ]
            if has_recurring:
                data.recurring_errors = _recurring_errors(db.recurring_errors(conn, uid))
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
                int(r["id"]),
                r["elapsed_time"],
                float(r["load"]) if r.get("load") is not None else None,
            )
            for r in db.recent_activities(
                conn, uid, recent, primary_only=primary_only, with_load=has_loads
            )
        ]
        if has_settings:
            data.settings = details_db.athlete_settings(conn, uid)
        chosen = data.recent_activities[:detailed]
        ids = [a.id for a in chosen if a.id is not None]
        streams = _streams(details_db.activity_streams(conn, ids)) if has_streams and ids else {}
        laps = _laps(details_db.activity_laps(conn, ids)) if has_laps and ids else {}
        efforts = (
            _activity_efforts(ids, details_db.activity_best_efforts(conn, ids) if ids else [])
            if has_activity_efforts
            else None
        )
        data.details = [
            ActivityDetail(
                a,
                streams.get(a.id or 0),
                efforts.get(a.id or 0, []) if efforts is not None else None,
                _zones(details_db.activity_time_in_zones(conn, a.id))
                if has_zones and a.id is not None and a.id in streams
                else None,
                laps.get(a.id or 0, []),
            )
            for a in chosen
        ]
        if has_efforts:
            data.best_efforts = _best_efforts(details_db.best_efforts(conn, uid, period.as_of))
        if has_compliance:
            data.planned = _planned(details_db.planned_workouts(conn, uid, start, end))
            data.compliance = _compliance(details_db.weekly_compliance(conn, uid, start, end))
    return data


def _streams(rows: list[Row]) -> dict[int, ActivityStreams]:
    return {
        int(r["activity_id"]): ActivityStreams(
            time_s=[float(t) for t in r["time_s"]],
            distance_m=r["distance_m"],
            lat=r["lat"],
            lon=r["lon"],
            altitude_m=r["altitude_m"],
            heart_rate=r["heart_rate"],
            power_w=r["power_w"],
            speed_mps=r["speed_mps"],
        )
        for r in rows
    }


def _laps(rows: list[Row]) -> dict[int, list[Lap]]:
    result: dict[int, list[Lap]] = {}
    for r in rows:
        result.setdefault(int(r["activity_id"]), []).append(
            Lap(
                start_s=float(r["start_offset_s"]),
                elapsed_s=r["elapsed_s"],
                moving_s=r["moving_s"],
                distance_m=r["distance_m"],
                avg_hr=r["avg_heart_rate"],
                max_hr=r["max_heart_rate"],
                avg_power_w=r["avg_power_w"],
                avg_cadence=r["avg_cadence"],
                elevation_gain_m=r["elevation_gain_m"],
            )
        )
    return result


def _activity_efforts(ids: list[int], rows: list[Row]) -> dict[int, list[Effort]]:
    """Each activity's standard best efforts (an empty list for one without any)."""
    result: dict[int, list[Effort]] = {i: [] for i in ids}
    for r in rows:
        result.setdefault(int(r["activity_id"]), []).append(
            Effort(
                "activity",
                str(r["activity_type"]),
                str(r["effort"]),
                float(r["span"]),
                str(r["label"]),
                float(r["value"]),
            )
        )
    return result


def _zones(rows: list[Row]) -> dict[str, list[ZoneTime]]:
    """Time in each zone by kind; pace comes as speed bounds (m/s, slow to fast) and is turned
    into s/km here."""
    zones: dict[str, list[ZoneTime]] = {}
    for r in rows:
        low, high = r["min_value"], r["max_value"]
        if r["kind"] == "pace":
            low = 1000.0 / low if low else None
            high = 1000.0 / high if high else None
        zones.setdefault(str(r["kind"]), []).append(
            ZoneTime(
                int(r["zone"]),
                float(low) if low is not None else None,
                float(high) if high is not None else None,
                float(r["seconds"]),
            )
        )
    return zones


def _best_efforts(rows: list[Row]) -> list[Effort]:
    return [
        Effort(
            str(r["scope"]),
            str(r["activity_type"]),
            str(r["effort"]),
            float(r["span"]),
            str(r["label"]),
            float(r["value"]),
            r["local_date"],
        )
        for r in rows
    ]


def _planned(rows: list[Row]) -> list[PlannedWorkout]:
    """A workout counts as completed only through an activity the reader may read."""
    return [
        PlannedWorkout(
            r["planned_date"],
            str(r["name"]),
            str(r["activity_type"]),
            _opt(r["planned_duration"]),
            _opt(r["planned_distance"]),
            _opt(r["planned_load"]),
            r["activity_id"] is not None,
            _opt(r["completed_time"]),
            _opt(r["completed_distance"]),
            _opt(r["completed_load"]),
        )
        for r in rows
    ]


def _compliance(rows: list[Row]) -> list[ComplianceWeek]:
    return [
        ComplianceWeek(
            r["week_start"],
            int(r["planned_count"]),
            int(r["completed_count"]),
            _num(r["planned_duration"]),
            _num(r["completed_duration"]),
            _num(r["planned_load"]),
            _num(r["completed_load"]),
        )
        for r in rows
    ]


def coached_athletes(conn: Conn, coach_email: str) -> tuple[Athlete, list[str]]:
    """The coach and the emails of the athletes who granted them active access, read as the
    coach (row-level security on coach_athletes and users decides)."""
    coach = find_athlete(conn, coach_email)
    with as_athlete(conn, coach.id):
        emails = details_db.coached_athlete_emails(conn, coach.id)
    return coach, emails


_RECORD_ORDER = {"longest_distance": 0, "longest_duration": 1, "biggest_climb": 2, "fastest": 3}


def _records(rows: list[Row]) -> list[Record]:
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


def _recurring_errors(rows: list[Row]) -> list[RecurringError]:
    # Under the athlete's RLS, shared errors are counted over their own connections only.
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
