"""The Strava bulk export ("Download or Delete Your Account"): ``activities.csv`` plus the
original activity files under ``activities/`` (FIT, GPX or TCX, gzipped or not).

Each CSV row is one activity. When its ``Filename`` points to a file in the archive, the file
gives the metrics and the content hash (so the same file imported on its own, or from another
export, is the same activity); the row gives the name, the description and the sport (Strava's
sport words). A row without a file (entered by hand on Strava) is imported from the CSV alone.

CSV facts relied on: the header repeats some names; the first ``Elapsed Time`` is seconds and
the first ``Distance`` kilometres, the second ``Distance`` metres (preferred when present);
speeds are m/s, elevations m, ``Calories`` kcal; ``Activity Date`` is UTC in the form
``Jan 2, 2024, 7:12:04 AM`` (some exports put a narrow no-break space before AM/PM).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

from trainlytics.errors import FileImportError
from trainlytics.importers.archive import Archive
from trainlytics.importers.base import ImportOutcome, ParsedActivity, sha256_hex
from trainlytics.importers.files import parse_activity_file

__all__ = ["find_activities_csv", "read_strava_export"]

DATE_FORMATS = ("%b %d, %Y, %I:%M:%S %p", "%d %b %Y, %H:%M:%S", "%Y-%m-%d %H:%M:%S")


def find_activities_csv(archive: Archive) -> str | None:
    """The path of activities.csv at the archive's root or one folder down."""
    candidates = [n for n in archive.names() if n.lower().rsplit("/", 1)[-1] == "activities.csv"]
    candidates = [n for n in candidates if n.count("/") <= 1]
    return min(candidates, key=lambda n: n.count("/")) if candidates else None


def _date(text: str) -> datetime | None:
    cleaned = " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _number(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


class _Row:
    def __init__(self, header: list[str], values: list[str]) -> None:
        self.columns: dict[str, list[str]] = {}
        for name, value in zip(header, values, strict=False):
            self.columns.setdefault(name.strip(), []).append(value)

    def text(self, name: str, occurrence: int = 0) -> str | None:
        values = self.columns.get(name, [])
        if len(values) <= occurrence:
            return None
        return values[occurrence].strip() or None

    def number(self, name: str, occurrence: int = 0) -> float | None:
        return _number(self.text(name, occurrence))

    def canonical(self) -> str:
        return json.dumps(self.columns, sort_keys=True, ensure_ascii=False)


def _distance_m(row: _Row) -> float | None:
    metres = row.number("Distance", 1)
    if metres is not None:
        return metres
    km = row.number("Distance", 0)
    return km * 1000 if km is not None else None


def read_strava_export(archive: Archive, csv_name: str) -> Iterator[ImportOutcome]:
    """One outcome per row of the export's activities.csv."""
    try:
        text = archive.read(csv_name).decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text))
        header = next(reader)
    except (UnicodeDecodeError, StopIteration, csv.Error) as exc:
        yield ImportOutcome(
            f"{archive.label}: {csv_name}",
            error=FileImportError(
                f"{archive.label}: {csv_name} is not a readable CSV file ({exc})",
                hint="is this a Strava bulk export? Download it again",
            ),
        )
        return
    if "Activity ID" not in header or "Activity Date" not in header:
        yield ImportOutcome(
            f"{archive.label}: {csv_name}",
            error=FileImportError(
                f"{archive.label}: {csv_name} has no Activity ID / Activity Date columns",
                hint="expected the activities.csv of a Strava bulk export",
            ),
        )
        return
    root = csv_name.rsplit("/", 1)[0] + "/" if "/" in csv_name else ""
    names = set(archive.names())
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        row = _Row(header, values)
        activity_id = row.text("Activity ID") or f"line {number}"
        label = f"{archive.label}: activity {activity_id}"
        try:
            yield ImportOutcome(label, activity=_activity(archive, row, root, names, label))
        except FileImportError as exc:
            yield ImportOutcome(label, error=exc)


def _activity(
    archive: Archive, row: _Row, root: str, names: set[str], label: str
) -> ParsedActivity:
    file_name = row.text("Filename")
    if file_name:
        member = root + file_name
        if member not in names:
            raise FileImportError(
                f"{label}: {file_name} is listed but missing from the export",
                hint="the archive is incomplete; download it again",
            )
        parsed = parse_activity_file(archive.read(member), member)
    else:
        start = _date(row.text("Activity Date") or "")
        if start is None:
            raise FileImportError(
                f"{label}: unreadable Activity Date {row.text('Activity Date')!r}",
                hint="expected e.g. 'Jan 2, 2024, 7:12:04 AM' (UTC)",
            )
        parsed = ParsedActivity(
            format="strava_export",
            sha256=sha256_hex(("strava_export:" + row.canonical()).encode()),
            start_time=start,
            is_manual=True,
        )
    parsed.format = "strava_export"
    parsed.sport = row.text("Activity Type") or parsed.sport
    parsed.sub_sport = None
    parsed.sport_vocabulary = "strava" if row.text("Activity Type") else parsed.sport_vocabulary
    parsed.name = row.text("Activity Name") or parsed.name
    parsed.description = row.text("Activity Description") or parsed.description
    csv_values = {
        "elapsed_time": row.number("Elapsed Time"),
        "moving_time": row.number("Moving Time"),
        "distance": _distance_m(row),
        "average_speed": row.number("Average Speed"),
        "max_speed": row.number("Max Speed"),
        "average_heartrate": row.number("Average Heart Rate"),
        "max_heartrate": row.number("Max Heart Rate"),
        "average_watts": row.number("Average Watts"),
        "max_watts": row.number("Max Watts"),
        "normalized_watts": row.number("Weighted Average Power"),
        "average_cadence": row.number("Average Cadence"),
        "max_cadence": row.number("Max Cadence"),
        "elevation_gain": row.number("Elevation Gain"),
        "elevation_loss": row.number("Elevation Loss"),
        "calories": row.number("Calories"),
    }
    for key, value in csv_values.items():
        if getattr(parsed, key) is None and value is not None:
            setattr(parsed, key, value)
    parsed.extras = {
        **parsed.extras,
        **{
            key: value
            for key, value in {
                "strava_activity_id": row.text("Activity ID"),
                "commute": row.text("Commute"),
                "gear": row.text("Activity Gear"),
                "source_file": file_name,
            }.items()
            if value is not None
        },
    }
    return parsed
