"""File import: FIT, GPX and TCX files and whole-account exports into the SQL ingest.

API
---
- ``read_path(path) -> Iterator[ImportOutcome]`` — every activity a path holds: a single file
  (``.fit``, ``.gpx``, ``.tcx``, optionally ``.gz``), a Strava bulk export or a Garmin Connect
  data export (``.zip`` or unpacked folder), any other zip or folder (each activity file in
  it). Each outcome carries a ``ParsedActivity`` or the ``FileImportError`` saying why that
  file or row could not be read; reading goes on after a bad file.
- ``count_work(path) -> int`` — a cheap estimate of the outcomes (for a progress bar).
- ``FileIngest(gateway).ingest(user_id, activities) -> IngestSummary`` — hands payloads to
  ``public.ingest_file_activities`` in batches (service role); re-imports add nothing (but
  fill in the time zone of a stored row that has none); then gives the athlete's rows that
  still lack a zone the zone of their start position (:mod:`trainlytics.importers.timezones`),
  and stores each file's streams (``public.ingest_file_streams``): a file whose streams the
  database refuses keeps its activity (the reason is in ``IngestSummary.stream_errors``).
- The payload shape is documented in :mod:`trainlytics.importers.base`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainlytics.gateway import Gateway, GatewayError
from trainlytics.importers.archive import Archive, open_archive
from trainlytics.importers.base import FileImportError, ImportOutcome, ParsedActivity
from trainlytics.importers.files import ACTIVITY_SUFFIXES, activity_kind, parse_activity_file
from trainlytics.importers.garmin_export import find_summaries, read_garmin_export
from trainlytics.importers.strava_export import find_activities_csv, read_strava_export
from trainlytics.importers.timezones import derive_timezones
from trainlytics.store import StreamStore

__all__ = [
    "FileImportError",
    "FileIngest",
    "ImportOutcome",
    "IngestSummary",
    "ParsedActivity",
    "count_work",
    "read_path",
]

BATCH_SIZE = 100


def _archive_outcomes(archive: Archive) -> Iterator[ImportOutcome]:
    csv_name = find_activities_csv(archive)
    if csv_name is not None:
        yield from read_strava_export(archive, csv_name)
        return
    summaries = find_summaries(archive)
    if summaries:
        yield from read_garmin_export(archive, summaries)
        return
    found = False
    for name in archive.names():
        if activity_kind(name) is None:
            continue
        found = True
        label = f"{archive.label}: {name}"
        try:
            yield ImportOutcome(label, activity=parse_activity_file(archive.read(name), name))
        except FileImportError as exc:
            yield ImportOutcome(label, error=exc)
    if not found:
        yield ImportOutcome(
            archive.label,
            error=FileImportError(
                f"{archive.label}: no activity file, activities.csv or summarizedActivities "
                "JSON inside",
                hint="pass a .fit/.gpx/.tcx file, or a Strava or Garmin Connect export",
            ),
        )


def read_path(path: Path) -> Iterator[ImportOutcome]:
    """Every activity ``path`` holds, or why it could not be read (never raises for content)."""
    label = str(path)
    if not path.exists():
        yield ImportOutcome(
            label,
            error=FileImportError(f"{path}: no such file or folder", hint="check the path"),
        )
        return
    try:
        if path.is_dir() or path.suffix.lower() == ".zip":
            yield from _archive_outcomes(open_archive(path))
            return
        yield ImportOutcome(label, activity=parse_activity_file(path.read_bytes(), path.name))
    except FileImportError as exc:
        yield ImportOutcome(label, error=exc)
    except OSError as exc:
        yield ImportOutcome(
            label,
            error=FileImportError(f"{path}: cannot be read ({exc.strerror})", hint="check it"),
        )


def count_work(path: Path) -> int:
    """How many files ``path`` holds, roughly (1 for a single file or an archive)."""
    if path.is_dir():
        return max(1, sum(1 for p in path.rglob("*") if p.name.lower().endswith(ACTIVITY_SUFFIXES)))
    return 1


@dataclass
class IngestSummary:
    created: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    zoned: int = 0  # stored rows that got their time zone after this import
    streams: int = 0  # activities whose streams were stored
    stream_errors: list[dict[str, Any]] = field(default_factory=list)


class FileIngest:
    """Calls ``public.ingest_file_activities`` (service role) in batches."""

    def __init__(self, gateway: Gateway, batch_size: int = BATCH_SIZE) -> None:
        self._gateway = gateway
        self._batch_size = batch_size

    def ingest(self, user_id: uuid.UUID, activities: Sequence[ParsedActivity]) -> IngestSummary:
        summary = IngestSummary()
        for start in range(0, len(activities), self._batch_size):
            batch = activities[start : start + self._batch_size]
            rows = self._gateway.call(
                "ingest_file_activities",
                {"p_user_id": user_id, "p_items": [a.to_payload() for a in batch]},
            )
            row = rows[0]
            summary.created += int(row["created"])
            summary.skipped += int(row["skipped"])
            for error in row["errors"] or []:
                error = dict(error)
                error["index"] = int(error["index"]) + start
                summary.errors.append(error)
            self._store_streams(user_id, batch, start, summary)
        # Rows of this athlete still without a zone (imported before zones were derived,
        # or without position) get the zone of their start or the athlete's preference.
        summary.zoned = derive_timezones(self._gateway, user_id=user_id).updated
        return summary

    def _store_streams(
        self,
        user_id: uuid.UUID,
        batch: Sequence[ParsedActivity],
        start: int,
        summary: IngestSummary,
    ) -> None:
        store = StreamStore(self._gateway)
        for offset, activity in enumerate(batch):
            if activity.streams is None:
                continue
            try:
                stored = store.store_file_streams(user_id, activity.sha256, activity.streams)
            except GatewayError as exc:  # the activity stays; its samples are refused
                summary.stream_errors.append(
                    {"index": start + offset, "file_name": activity.file_name, "reason": str(exc)}
                )
                continue
            if stored:
                summary.streams += 1
