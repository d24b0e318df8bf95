"""The athlete's offline HTML report: data (:mod:`.data`), charts (:mod:`.charts`) and page
(:mod:`.html`).

``write_report(conn, email, path)`` is what ``trainlytics report`` and the demo call.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import psycopg

from trainlytics.errors import TrainlyticsError
from trainlytics.report.data import DEFAULT_WEEKS, ReportData, load_report_data
from trainlytics.report.html import render_report

__all__ = ["DEFAULT_WEEKS", "ReportData", "load_report_data", "render_report", "write_report"]


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
    target = path.expanduser()
    if target.exists() and target.is_dir():
        raise TrainlyticsError(
            f"{target} is a directory", hint="give a file name, e.g. --output report.html"
        )
    data = load_report_data(conn, email, weeks=weeks, until=until)
    page = render_report(data)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise TrainlyticsError(
            f"cannot write {target}: {exc.strerror or exc}",
            hint="choose a writable location for --output",
        ) from exc
    return data
