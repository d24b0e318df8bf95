"""GPX 1.0 / 1.1 tracks (phones, Strava's and Garmin Connect's GPX exports).

Read in one streaming pass with defusedxml's ``iterparse`` (no DTD, no entities; each track
point is dropped from memory once read), which keeps a 100k-point file within seconds and
well under 200 MB. Every track and segment of a file make one activity: distance is summed
within segments (never across the jump between two segments), elapsed time runs from the
first to the last timed point. Times are UTC: the GPX schema defines them so, and a time
written without ``Z`` is read as UTC too. Heart rate, cadence and power come from the Garmin
TrackPointExtension (``gpxtpx:hr``, ``gpxtpx:cad``) and the common ``power`` extension; cadence
is passed on as recorded (one leg for foot sports; the SQL normaliser doubles it). The sport is
the first track's ``<type>`` (Garmin Connect writes its typeKeys there, e.g. ``road_biking``).
A file whose points carry no time at all cannot be an activity (no start) and is rejected.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException

from trainlytics.importers.base import (
    FileImportError,
    ParsedActivity,
    TrackPoint,
    locate,
    sha256_hex,
    summarize_track,
)
from trainlytics.importers.track_streams import streams_from_points
from trainlytics.importers.xml_safety import local_name

__all__ = ["parse_gpx"]

_EXTENSION_FIELDS = {
    "hr": "heartrate",
    "heartrate": "heartrate",
    "cad": "cadence",
    "cadence": "cadence",
    "power": "power",
    "powerinwatts": "power",
    "watts": "power",
    "speed": "speed",
    "atemp": "temperature",
    "temp": "temperature",
}


def _time(text: str | None) -> datetime | None:
    """An xsd:dateTime; without an offset it is UTC (the GPX schema's time zone)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


_LOCAL_NAMES: dict[str, str] = {}


def _local(tag: str) -> str:
    """``{namespace}name`` -> ``name``, memoised (a GPX repeats a handful of tags)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = local_name(tag)
        if len(_LOCAL_NAMES) < 10_000:
            _LOCAL_NAMES[tag] = name
    return name


def _point(element: Element, new_segment: bool) -> TrackPoint:
    point = TrackPoint(
        lat=_float(element.get("lat")), lon=_float(element.get("lon")), new_segment=new_segment
    )
    for child in element:
        tag = _local(child.tag)
        if tag == "time":
            point.time = _time(child.text)
        elif tag == "ele":
            point.elevation = _float(child.text)
        elif tag == "extensions":
            for item in child.iter():
                key = _EXTENSION_FIELDS.get(_local(item.tag).lower())
                if key and item.text and getattr(point, key) is None:
                    setattr(point, key, _float(item.text))
    return point


def _text(parent: Element, name: str) -> str | None:
    for child in parent:
        if _local(child.tag) == name and child.text and child.text.strip():
            return child.text.strip()
    return None


def parse_gpx(data: bytes, file_name: str | None = None) -> ParsedActivity:
    """One activity from the bytes of a GPX file; FileImportError when unusable."""
    label = file_name or "GPX file"
    points: list[TrackPoint] = []
    root: Element | None = None
    doc_name = doc_desc = None
    track_names: list[str] = []
    track_types: list[str] = []
    tracks = 0
    new_segment = True
    try:
        # End events only (half the work of start + end): a track point is read and dropped
        # when it closes; names and types are read from their track when it closes.
        for _, element in safe_et.iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True):
            tag = _local(element.tag)
            if tag == "trkpt":
                points.append(_point(element, new_segment))
                new_segment = False
                element.clear()
            elif tag == "trkseg":
                new_segment = True
                element.clear()
            elif tag == "trk":
                tracks += 1
                if (name := _text(element, "name")) is not None:
                    track_names.append(name)
                if (kind := _text(element, "type")) is not None:
                    track_types.append(kind)
                element.clear()
            elif tag in ("wpt", "rte"):
                element.clear()
            elif tag == "metadata":
                doc_name = doc_name or _text(element, "name")
                doc_desc = doc_desc or _text(element, "desc")
            elif tag == "gpx":
                root = element
                doc_name = doc_name or _text(element, "name")  # GPX 1.0: under the root
                doc_desc = doc_desc or _text(element, "desc")
    except DefusedXmlException as exc:
        raise FileImportError(
            f"{label}: refused XML ({type(exc).__name__})",
            hint="a GPX file has no DTD or entities; this one is not a plain GPX file",
        ) from exc
    except (ParseError, ValueError) as exc:
        raise FileImportError(
            f"{label}: not well-formed XML ({exc})",
            hint="the file is corrupt or truncated; export it again",
        ) from exc
    root_tag = _local(root.tag) if root is not None else None
    version = root.get("version") if root is not None else None
    creator = root.get("creator") if root is not None else None
    if root_tag != "gpx":
        raise FileImportError(
            f"{label}: not a GPX file (root element {root_tag!r})",
            hint="the file is not GPX; export it again",
        )
    if not points:
        raise FileImportError(
            f"{label}: no track points",
            hint="a GPX file with only waypoints or routes is not an activity",
        )
    summary = summarize_track(points)
    if summary.start_time is None:
        raise FileImportError(
            f"{label}: the track has no timestamps",
            hint="an activity needs times; routes planned on a map cannot be imported",
        )
    parsed = ParsedActivity(
        format="gpx",
        sha256=sha256_hex(data),
        start_time=summary.start_time,
        file_name=file_name,
        sport=track_types[0] if track_types else None,
        name=doc_name or (track_names[0] if track_names else None),
        description=doc_desc,
        device_name=creator or None,
        extras={"tracks": tracks, "gpx_version": version},
    )
    if summary.elapsed_time is None:
        parsed.extras["times_incomplete"] = True
    parsed.fill_missing(summary)
    locate(parsed, points)
    if summary.elapsed_time is not None:  # times that describe the activity only
        parsed.streams = streams_from_points(points, parsed.start_time)
    return parsed
