"""TCX (Training Center XML) activities, parsed with defusedxml's ElementTree.

Laps give the summary (``TotalTimeSeconds`` is timer time, ``DistanceMeters``, ``Calories``
kcal, lap heart rates); trackpoints fill in the rest and the elapsed time. TCX knows three
sports: Running, Biking and Other (mapped to FIT's running, cycling and generic). Power and
speed come from the ``ActivityExtension/v2`` ``TPX`` element (``Watts``, ``Speed``). Cadence is
passed on as recorded (``Cadence``, or the ``RunCadence`` extension, both one leg for foot
sports: the SQL normaliser doubles them whatever the writer, Garmin, Polar or Suunto).

Start: Garmin Connect writes ``<Id>`` rounded down to the minute; when the first trackpoint
(or the first lap's ``StartTime``) lies within the minute after ``<Id>``, that is the start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from trainlytics.errors import FileImportError
from trainlytics.importers.base import (
    ParsedActivity,
    TrackPoint,
    locate,
    sha256_hex,
    summarize_track,
)
from trainlytics.importers.track_streams import TrackLap, streams_from_points
from trainlytics.importers.xml_safety import local_name, parse_xml

__all__ = ["parse_tcx"]

TCX_SPORTS = {"running": "running", "biking": "cycling", "other": "generic"}


def _child(element: Element | None, *path: str) -> Element | None:
    for name in path:
        if element is None:
            return None
        element = next((c for c in element if local_name(str(c.tag)) == name), None)
    return element


def _children(element: Element, name: str) -> list[Element]:
    return [c for c in element if local_name(str(c.tag)) == name]


def _float(element: Element | None, *path: str) -> float | None:
    found = _child(element, *path)
    if found is None or found.text is None:
        return None
    try:
        return float(found.text)
    except ValueError:
        return None


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    # xsd:dateTime without an offset: UTC, as every TCX writer means it.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _extension_value(point: Element, name: str) -> float | None:
    extensions = _child(point, "Extensions")
    if extensions is None:
        return None
    for element in extensions.iter():
        if local_name(str(element.tag)) == name and element.text:
            try:
                return float(element.text)
            except ValueError:
                return None
    return None


def _track_lap(lap: Element) -> TrackLap:
    """A ``<Lap>``: TotalTimeSeconds is timer time; the elapsed time runs from StartTime to the
    lap's last timed trackpoint; the schema has no elevation gain."""
    start = _time(lap.get("StartTime"))
    stamps = [_child(tp, "Time") for track in _children(lap, "Track") for tp in track]
    times = [t for e in stamps if e is not None and (t := _time(e.text)) is not None]
    elapsed = (max(times) - start).total_seconds() if start is not None and times else None
    return TrackLap(
        start=start,
        elapsed_s=elapsed if elapsed is not None and elapsed >= 0 else None,
        moving_s=_float(lap, "TotalTimeSeconds"),
        distance_m=_float(lap, "DistanceMeters"),
        avg_hr=_float(lap, "AverageHeartRateBpm", "Value"),
        max_hr=_float(lap, "MaximumHeartRateBpm", "Value"),
        avg_power_w=_extension_value(lap, "AvgWatts"),
        avg_cadence=_float(lap, "Cadence") or _extension_value(lap, "AvgRunCadence"),
    )


def parse_tcx(data: bytes, file_name: str | None = None) -> ParsedActivity:
    """One activity (the first in the file) from the bytes of a TCX file."""
    label = file_name or "TCX file"
    root = parse_xml(data, file_name, "TCX")
    activity = _child(root, "Activities", "Activity")
    if local_name(str(root.tag)) != "TrainingCenterDatabase" or activity is None:
        raise FileImportError(
            f"{label}: no TCX activity in the file",
            hint="a TCX course or workout file is not an activity",
        )
    sport_attr = (activity.get("Sport") or "").strip()
    sport = TCX_SPORTS.get(sport_attr.lower(), sport_attr or None)
    laps = _children(activity, "Lap")
    points: list[TrackPoint] = []
    for lap in laps:
        for track in _children(lap, "Track"):
            for index, tp in enumerate(_children(track, "Trackpoint")):
                time_element = _child(tp, "Time")
                run_cadence = _extension_value(tp, "RunCadence")
                points.append(
                    TrackPoint(
                        time=_time(time_element.text if time_element is not None else None),
                        lat=_float(tp, "Position", "LatitudeDegrees"),
                        lon=_float(tp, "Position", "LongitudeDegrees"),
                        elevation=_float(tp, "AltitudeMeters"),
                        distance=_float(tp, "DistanceMeters"),
                        heartrate=_float(tp, "HeartRateBpm", "Value"),
                        cadence=_float(tp, "Cadence") or run_cadence,
                        power=_extension_value(tp, "Watts"),
                        speed=_extension_value(tp, "Speed"),
                        new_segment=index == 0 and bool(points),
                    )
                )
    summary = summarize_track(points)
    id_element = _child(activity, "Id")
    start = _time(id_element.text if id_element is not None else None)
    first_lap = _time(laps[0].get("StartTime")) if laps else None
    first = min((t for t in (first_lap, summary.start_time) if t is not None), default=None)
    if start is None or (
        first is not None
        and start.second == 0
        and start.microsecond == 0
        and 0 < (first - start).total_seconds() < 60
    ):
        start = first  # <Id> absent, or rounded down to the minute
    if start is None:
        raise FileImportError(f"{label}: no start time", hint="the activity has no Id or lap time")

    def lap_sum(*path: str) -> float | None:
        values = [v for v in (_float(lap, *path) for lap in laps) if v is not None]
        return sum(values) if values else None

    def lap_weighted(*path: str) -> float | None:
        total = weight = 0.0
        for lap in laps:
            value, seconds = _float(lap, *path), _float(lap, "TotalTimeSeconds") or 0.0
            if value is not None and seconds > 0:
                total += value * seconds
                weight += seconds
        return total / weight if weight else None

    def lap_max(*path: str) -> float | None:
        values = [v for v in (_float(lap, *path) for lap in laps) if v is not None]
        return max(values) if values else None

    elapsed = None
    last_time = max((p.time for p in points if p.time is not None), default=None)
    if last_time is not None:
        elapsed = (last_time - start).total_seconds()
    moving = lap_sum("TotalTimeSeconds")
    distance = lap_sum("DistanceMeters")
    creator = _child(activity, "Creator", "Name")
    notes = _child(activity, "Notes")
    parsed = ParsedActivity(
        format="tcx",
        sha256=sha256_hex(data),
        start_time=start,
        file_name=file_name,
        sport=sport,
        name=None,
        description=notes.text.strip() or None if notes is not None and notes.text else None,
        elapsed_time=max(elapsed, moving or 0.0) if elapsed is not None else moving,
        moving_time=moving,
        distance=distance,
        average_speed=distance / moving if distance is not None and moving else None,
        max_speed=lap_max("MaximumSpeed"),
        average_heartrate=lap_weighted("AverageHeartRateBpm", "Value"),
        max_heartrate=lap_max("MaximumHeartRateBpm", "Value"),
        calories=lap_sum("Calories"),
        device_name=creator.text.strip() if creator is not None and creator.text else None,
        extras={"laps": len(laps), "tcx_sport": sport_attr or None},
    )
    parsed.fill_missing(summary)
    locate(parsed, points)
    parsed.streams = streams_from_points(
        points, parsed.start_time, laps=[_track_lap(lap) for lap in laps]
    )
    return parsed
