"""The Garmin Connect data export ("Export Your Data" in the Garmin account): a zip with
``DI_CONNECT/DI-Connect-Fitness/<user>_summarizedActivities.json`` (the activity summaries)
and ``DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_*.zip`` (nested zips of the FIT
files the devices uploaded).

Each summary is one activity. The uploaded FIT file whose session starts within 120 s of it
gives the metrics and the content hash (the same file imported on its own is the same
activity); the summary gives the name and the sport (Garmin typeKeys such as running,
lap_swimming). A summary without a FIT file is imported from the summary alone; a FIT file
without a summary on its own.

Summary facts relied on: the JSON is ``[{"summarizedActivitiesExport": [...]}]``;
``beginTimestamp`` / ``startTimeGmt`` are ms since the epoch (UTC), ``startTimeLocal`` the
local wall clock as ms since the epoch (their difference is the UTC offset); ``duration``,
``elapsedDuration`` and ``movingDuration`` are ms; ``distance``, ``elevationGain`` and
``elevationLoss`` cm; ``avgSpeed`` / ``maxSpeed`` m/s divided by 10 (multiplied back);
``avgRunCadence`` counts one leg (passed on as such: the SQL normaliser doubles foot-sport
cadence); ``startLatitude`` / ``startLongitude`` are degrees; ``calories`` is taken as kcal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from trainlytics.errors import FileImportError
from trainlytics.importers.archive import Archive
from trainlytics.importers.base import ImportOutcome, ParsedActivity, locate, sha256_hex
from trainlytics.importers.files import activity_kind, parse_activity_file

__all__ = ["find_summaries", "read_garmin_export"]

MATCH_SECONDS = 120


def find_summaries(archive: Archive) -> list[str]:
    return [
        n
        for n in archive.names()
        if "summarizedactivities" in n.lower().rsplit("/", 1)[-1] and n.lower().endswith(".json")
    ]


def _records(payload: Any) -> list[dict[str, Any]]:
    chunks = payload if isinstance(payload, list) else [payload]
    records: list[dict[str, Any]] = []
    for chunk in chunks:
        if isinstance(chunk, dict) and isinstance(chunk.get("summarizedActivitiesExport"), list):
            records.extend(r for r in chunk["summarizedActivitiesExport"] if isinstance(r, dict))
        elif isinstance(chunk, dict) and "activityId" in chunk:
            records.append(chunk)
    return records


def _num(record: dict[str, Any], key: str, scale: float = 1.0) -> float | None:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) * scale


def _epoch_ms(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _type_key(record: dict[str, Any]) -> str | None:
    value = record.get("activityType")
    if isinstance(value, dict):
        value = value.get("typeKey")
    return str(value) if value else None


def _from_summary(record: dict[str, Any]) -> ParsedActivity:
    start = _epoch_ms(record.get("beginTimestamp")) or _epoch_ms(record.get("startTimeGmt"))
    if start is None:
        raise FileImportError(
            f"activity {record.get('activityId')}: no start time in the summary",
            hint="the export's summary lacks beginTimestamp / startTimeGmt",
        )
    local = record.get("startTimeLocal")
    offset = None
    if isinstance(local, int | float) and isinstance(record.get("startTimeGmt"), int | float):
        offset = round((float(local) - float(record["startTimeGmt"])) / 1000 / 900) * 900
    foot_cadence = _num(record, "avgRunCadence")
    return ParsedActivity(
        format="garmin_export",
        sha256=sha256_hex(
            ("garmin_export:" + json.dumps(record, sort_keys=True, default=str)).encode()
        ),
        start_time=start,
        utc_offset=offset if offset is not None and abs(offset) <= 64800 else None,
        elapsed_time=_num(record, "elapsedDuration", 1e-3) or _num(record, "duration", 1e-3),
        moving_time=_num(record, "movingDuration", 1e-3) or _num(record, "duration", 1e-3),
        distance=_num(record, "distance", 0.01),
        average_speed=_num(record, "avgSpeed", 10.0),
        max_speed=_num(record, "maxSpeed", 10.0),
        average_heartrate=_num(record, "avgHr"),
        max_heartrate=_num(record, "maxHr"),
        average_watts=_num(record, "avgPower"),
        max_watts=_num(record, "maxPower"),
        normalized_watts=_num(record, "normPower"),
        average_cadence=foot_cadence or _num(record, "avgBikeCadence"),
        max_cadence=_num(record, "maxRunCadence") or _num(record, "maxBikeCadence"),
        elevation_gain=_num(record, "elevationGain", 0.01),
        elevation_loss=_num(record, "elevationLoss", 0.01),
        calories=_num(record, "calories"),
        is_manual=bool(record.get("manualActivity")),
        start_lat=_num(record, "startLatitude"),
        start_lon=_num(record, "startLongitude"),
    )


def _parsed_members(archive: Archive) -> Iterator[tuple[str, ParsedActivity | FileImportError]]:
    """Every uploaded activity file, parsed one at a time (never all held in memory): FIT,
    GPX or TCX files at any depth, and those inside ``UploadedFiles_*.zip`` nested archives.
    A member or nested archive that cannot be read is one error; the others go on."""
    for name in archive.names():
        lower = name.lower()
        if activity_kind(name) is not None:
            try:
                yield name, parse_activity_file(archive.read(name), name)
            except FileImportError as exc:
                yield name, exc
        elif lower.endswith(".zip") and "uploaded" in lower:
            try:
                inner = archive.open_nested(name)
            except FileImportError as exc:
                yield name, exc
                continue
            try:
                for inner_name in inner.names():
                    if activity_kind(inner_name) is None:
                        continue
                    label = f"{name}/{inner_name}"
                    try:
                        yield label, parse_activity_file(inner.read(inner_name), label)
                    except FileImportError as exc:
                        yield label, exc
            finally:
                inner.close()


def read_garmin_export(archive: Archive, summary_names: list[str]) -> Iterator[ImportOutcome]:
    """One outcome per activity summary, then one per uploaded FIT file no summary claimed."""
    fits: list[tuple[str, ParsedActivity]] = []
    for name, result in _parsed_members(archive):
        if isinstance(result, FileImportError):
            yield ImportOutcome(f"{archive.label}: {name}", error=result)
        else:
            fits.append((name, result))
    claimed: set[str] = set()
    for summary_name in summary_names:
        try:
            records = _records(json.loads(archive.read(summary_name)))
        except FileImportError as exc:
            yield ImportOutcome(f"{archive.label}: {summary_name}", error=exc)
            continue
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            yield ImportOutcome(
                f"{archive.label}: {summary_name}",
                error=FileImportError(
                    f"{archive.label}: {summary_name} is not valid JSON ({exc})",
                    hint="the export is corrupt; request a new one",
                ),
            )
            continue
        for record in records:
            label = f"{archive.label}: activity {record.get('activityId')}"
            try:
                summary = _from_summary(record)
            except FileImportError as exc:
                yield ImportOutcome(label, error=exc)
                continue
            match = next(
                (
                    (name, fit)
                    for name, fit in fits
                    if name not in claimed
                    and abs((fit.start_time - summary.start_time).total_seconds()) <= MATCH_SECONDS
                ),
                None,
            )
            if match is not None:
                claimed.add(match[0])
                parsed = match[1]
                parsed.fill_from(summary)
            else:
                parsed = summary
            parsed.format = "garmin_export"
            parsed.sport = _type_key(record) or parsed.sport
            parsed.sub_sport = None if _type_key(record) else parsed.sub_sport
            parsed.sport_vocabulary = "garmin" if _type_key(record) else parsed.sport_vocabulary
            parsed.name = record.get("name") or parsed.name
            parsed.description = record.get("description") or parsed.description
            parsed.extras = {**parsed.extras, "garmin_activity_id": record.get("activityId")}
            locate(parsed, [])
            yield ImportOutcome(label, activity=parsed)
    for name, fit in fits:
        if name not in claimed:
            fit.format = "garmin_export"
            yield ImportOutcome(f"{archive.label}: {name}", activity=fit)
