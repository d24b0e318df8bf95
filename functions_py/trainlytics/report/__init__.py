"""The athlete's offline HTML report: data (:mod:`.data`), charts (:mod:`.charts`) and page
(:mod:`.html`).

``write_report(conn, email, path)`` is what ``trainlytics report`` and the demo call;
``write_coach_report(conn, coach_email, path)`` is ``trainlytics report --coach``: every athlete
with an active grant, each read as the coach (row-level security decides what appears).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import psycopg

from trainlytics.errors import TrainlyticsError
from trainlytics.report.data import (
    DEFAULT_WEEKS,
    ReportData,
    coached_athletes,
    load_report_data,
)
from trainlytics.report.html import render_coach_report, render_report

__all__ = [
    "DEFAULT_WEEKS",
    "ReportData",
    "load_report_data",
    "render_coach_report",
    "render_report",
    "write_coach_report",
    "write_report",
]


def write_report(
    conn: psycopg.Connection[Any],
    email: str,
    path: Path,
    *,
    weeks: int = DEFAULT_WEEKS,
    until: dt.date | None = None,
) -> ReportData:
    """Render the report of the athlete ``email`` into ``path`` (parents created); the data
    it shows is returned."""
    target = _target(path)
    data = load_report_data(conn, email, weeks=weeks, until=until)
    _write(target, render_report(data))
    return data


def write_coach_report(
    conn: psycopg.Connection[Any],
    coach_email: str,
    path: Path,
    *,
    weeks: int = DEFAULT_WEEKS,
    until: dt.date | None = None,
) -> list[ReportData]:
    """Render the report of every athlete who granted ``coach_email`` active access, read as
    the coach, into ``path``; the data of each athlete is returned."""
    target = _target(path)
    coach, emails = coached_athletes(conn, coach_email)
    reports = [
        load_report_data(conn, email, weeks=weeks, until=until, reader=coach) for email in emails
    ]
    _write(target, render_coach_report(coach.display_name, coach.email, reports))
    return reports


def _target(path: Path) -> Path:
    target = path.expanduser()
    if target.exists() and target.is_dir():
        raise TrainlyticsError(
            f"{target} is a directory", hint="give a file name, e.g. --output report.html"
        )
    return target


def _write(target: Path, page: str) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise TrainlyticsError(
            f"cannot write {target}: {exc.strerror or exc}",
            hint="choose a writable location for --output",
        ) from exc
