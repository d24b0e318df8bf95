"""GPX 1.0 / 1.1 tracks (phones, Strava's and Garmin Connect's GPX exports), read with gpxpy.

Every track and segment of a file make one activity: distance is summed within segments
(never across the jump between two segments), elapsed time runs from the first to the last
timed point. Heart rate, cadence and power come from the Garmin TrackPointExtension
(``gpxtpx:hr``, ``gpxtpx:cad``) and the common ``power`` extension. A file whose points carry
no time at all cannot be an activity (no start) and is rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import gpxpy
import gpxpy.gpx

from trainlytics.importers.base import (
    FileImportError,
    ParsedActivity,
    TrackPoint,
    sha256_hex,
    summarize_track,
)
from trainlytics.importers.xml_safety import local_name, parse_xml

__all__ = ["parse_gpx"]

FOOT_WORDS = frozenset({"running", "run", "walking", "walk", "hiking", "hike", "trail_running"})
_EXTENSION_FIELDS = {
    "hr": "heartrate",
    "heartrate": "heartrate",
    "cad": "cadence",
    "cadence": "cadence",
    "power": "power",
    "powerinwatts": "power",
    "watts": "power",
    "speed": "speed",
}


def _extensions(point: gpxpy.gpx.GPXTrackPoint) -> dict[str, float]:
    found: dict[str, float] = {}
    for extension in point.extensions or []:
        for element in extension.iter():
            key = _EXTENSION_FIELDS.get(local_name(str(element.tag)).lower())
            if key and element.text:
                try:
                    found.setdefault(key, float(element.text))
                except ValueError:
                    continue
    return found


def _utc(moment: datetime | None) -> datetime | None:
    """GPX times are UTC (the GPX 1.1 schema says so): a time without ``Z`` is read as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def parse_gpx(data: bytes, file_name: str | None = None) -> ParsedActivity:
    """One activity from the bytes of a GPX file; FileImportError when unusable."""
    parse_xml(data, file_name, "GPX")  # refuse hostile XML before gpxpy sees it
    try:
        document: Any = gpxpy.parse(data.decode("utf-8-sig", errors="replace"))
    except Exception as exc:  # gpxpy raises GPXException and XML errors
        raise FileImportError(
            f"{file_name or 'GPX file'}: not a readable GPX file ({exc})",
            hint="the file is corrupt or not GPX; export it again",
        ) from exc
    points: list[TrackPoint] = []
    for track in document.tracks:
        for segment in track.segments:
            for index, p in enumerate(segment.points):
                ext = _extensions(p)
                points.append(
                    TrackPoint(
                        time=_utc(p.time),
                        lat=p.latitude,
                        lon=p.longitude,
                        elevation=p.elevation,
                        heartrate=ext.get("heartrate"),
                        cadence=ext.get("cadence"),
                        power=ext.get("power"),
                        speed=ext.get("speed"),
                        new_segment=index == 0,
                    )
                )
    if not points:
        raise FileImportError(
            f"{file_name or 'GPX file'}: no track points",
            hint="a GPX file with only waypoints or routes is not an activity",
        )
    summary = summarize_track(points)
    if summary.start_time is None:
        raise FileImportError(
            f"{file_name or 'GPX file'}: the track has no timestamps",
            hint="an activity needs times; routes planned on a map cannot be imported",
        )
    track_types = [t.type for t in document.tracks if t.type]
    names = [t.name for t in document.tracks if t.name]
    parsed = ParsedActivity(
        format="gpx",
        sha256=sha256_hex(data),
        start_time=summary.start_time,
        file_name=file_name,
        sport=track_types[0] if track_types else None,
        name=document.name or (names[0] if names else None),
        description=document.description or None,
        device_name=document.creator or None,
        extras={"tracks": len(document.tracks), "gpx_version": document.version},
    )
    if parsed.sport and parsed.sport.strip().lower() in FOOT_WORDS and summary.average_cadence:
        # GPX cadence of foot sports counts one leg (Garmin, Strava): steps of both feet.
        summary.average_cadence *= 2
        summary.max_cadence = summary.max_cadence * 2 if summary.max_cadence else None
    parsed.fill_missing(summary)
    return parsed
