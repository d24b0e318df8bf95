"""The parsed-file payload every importer produces, and the summaries computed from samples.

Payload shape (``ParsedActivity.to_payload()``, version 1), the input of the SQL normaliser
``private.normalize_file_activity`` (migration 20261125131000_file_ingest.sql). Units are SI;
every key but ``sha256``, ``format`` and ``start_time`` may be missing or null:

=====================  ===================================================================
``version``            1
``format``             fit, gpx, tcx (a single file) or strava_export, garmin_export (a row of
                       an account export, with or without its activity file)
``sha256``             hex SHA-256 of the activity file's bytes (decompressed when gzipped);
                       for an export row without a file, of the row's canonical JSON. It is
                       the activity's external_id: re-importing the same bytes adds nothing
``file_name``          the file's name (inside its archive, when any)
``sport``              the source's sport value, verbatim
``sub_sport``          the source's sub-sport value (FIT sub_sport), when any
``sport_vocabulary``   whose words ``sport`` uses: fit (FIT sport / sub_sport names, also for
                       GPX ``<type>`` and TCX ``Sport`` values), strava (Strava sport types,
                       Strava export CSV) or garmin (Garmin Connect typeKeys, Garmin export)
``name``, ``description``  as the file or export names the activity
``start_time``         ISO 8601 start instant with an offset (UTC)
``utc_offset``         local time minus UTC at the start, in s, when the file tells it
``timezone``           IANA zone name, when known
``elapsed_time``       s, start to end including pauses
``moving_time``        s, timer time or time in motion
``distance``           m
``average_speed``, ``max_speed``          m/s
``average_heartrate``, ``max_heartrate``  bpm
``average_watts``, ``max_watts``          W; ``normalized_watts`` W (normalised power)
``average_cadence``, ``max_cadence``      per minute; running: steps of both feet
``elevation_gain``, ``elevation_loss``    m
``calories``           kcal
``device_name``        the recording device
``is_manual``          true for an export row entered by hand (no file)
``samples``            number of track points read
``extras``             a JSON object of format-specific extras kept in activity_data
=====================  ===================================================================
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from trainlytics.errors import TrainlyticsError

__all__ = [
    "FileImportError",
    "ImportOutcome",
    "ParsedActivity",
    "TrackPoint",
    "TrackSummary",
    "haversine_m",
    "sha256_hex",
    "summarize_track",
]

PAYLOAD_VERSION = 1
_METRICS = (
    "elapsed_time", "moving_time", "distance", "average_speed", "max_speed",
    "average_heartrate", "max_heartrate", "average_watts", "max_watts",
    "average_cadence", "max_cadence", "elevation_gain", "elevation_loss",
)  # fmt: skip
# Below this speed (m/s) a point counts as standing still for the moving time.
MOVING_SPEED_THRESHOLD = 0.3
# A gap between two points longer than this (s) is a pause, never moving time.
MAX_MOVING_GAP = 60.0


class FileImportError(TrainlyticsError):
    """A file is corrupt, truncated or not an activity format Trainlytics reads."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ImportOutcome:
    """What one file or export row gave: an activity, or the reason it could not be read."""

    label: str
    activity: ParsedActivity | None = None
    error: FileImportError | None = None


@dataclass
class ParsedActivity:
    """One activity read from a file or an export row; see the module doc for the shape."""

    format: str
    sha256: str
    start_time: datetime
    file_name: str | None = None
    sport: str | None = None
    sub_sport: str | None = None
    sport_vocabulary: str = "fit"
    name: str | None = None
    description: str | None = None
    utc_offset: int | None = None
    timezone: str | None = None
    elapsed_time: float | None = None
    moving_time: float | None = None
    distance: float | None = None
    average_speed: float | None = None
    max_speed: float | None = None
    average_heartrate: float | None = None
    max_heartrate: float | None = None
    average_watts: float | None = None
    max_watts: float | None = None
    normalized_watts: float | None = None
    average_cadence: float | None = None
    max_cadence: float | None = None
    elevation_gain: float | None = None
    elevation_loss: float | None = None
    calories: float | None = None
    device_name: str | None = None
    is_manual: bool = False
    samples: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        """The JSON object handed to ``public.ingest_file_activities``."""
        start = self.start_time
        if start.tzinfo is None:  # a file's clock without zone: UTC (GPX, TCX and FIT say so)
            start = start.replace(tzinfo=UTC)
        payload: dict[str, Any] = {
            "version": PAYLOAD_VERSION,
            "format": self.format,
            "sha256": self.sha256,
            "start_time": start.isoformat(),
        }
        for key in (
            "file_name", "sport", "sub_sport", "sport_vocabulary", "name", "description",
            "utc_offset", "timezone", "elapsed_time", "moving_time", "distance", "average_speed",
            "max_speed", "average_heartrate", "max_heartrate", "average_watts", "max_watts",
            "normalized_watts", "average_cadence", "max_cadence", "elevation_gain",
            "elevation_loss", "calories", "device_name", "samples",
        ):  # fmt: skip
            value = getattr(self, key)
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            if value is not None:
                payload[key] = value
        if self.is_manual:
            payload["is_manual"] = True
        if self.extras:
            payload["extras"] = self.extras
        return payload

    def fill_from(self, other: ParsedActivity) -> None:
        """Take from another reading of the same activity every metric this one lacks."""
        for key in (*_METRICS, "normalized_watts", "calories", "utc_offset", "timezone"):
            if getattr(self, key) is None:
                setattr(self, key, getattr(other, key))

    def fill_missing(self, summary: TrackSummary) -> None:
        """Take from the samples' summary every metric the file's own summary lacks."""
        for key in _METRICS:
            if getattr(self, key) is None:
                setattr(self, key, getattr(summary, key))
        if self.samples is None:
            self.samples = summary.samples


@dataclass
class TrackPoint:
    """One sample of a track. ``distance`` is cumulative (m) when the file records it."""

    time: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    elevation: float | None = None
    distance: float | None = None
    heartrate: float | None = None
    power: float | None = None
    cadence: float | None = None
    speed: float | None = None
    # The first point of a track segment: no step (distance or moving time) leads to it.
    new_segment: bool = False


@dataclass
class TrackSummary:
    samples: int = 0
    start_time: datetime | None = None
    elapsed_time: float | None = None
    moving_time: float | None = None
    distance: float | None = None
    average_speed: float | None = None
    max_speed: float | None = None
    average_heartrate: float | None = None
    max_heartrate: float | None = None
    average_watts: float | None = None
    max_watts: float | None = None
    average_cadence: float | None = None
    max_cadence: float | None = None
    elevation_gain: float | None = None
    elevation_loss: float | None = None


EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in m between two WGS84 points (mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _time_mean(points: Sequence[TrackPoint], attr: str, *, zeros: bool = False) -> float | None:
    """Time-weighted mean (trapezoids between timed samples), so sparse "smart recording"
    samples weigh by the time they cover; the plain mean when the samples carry no time."""
    timed = [
        (p.time, v)
        for p in points
        if p.time is not None
        and (v := getattr(p, attr)) is not None
        and math.isfinite(v)
        and (v > 0 or (zeros and v == 0))
    ]
    total = weight = 0.0
    for (t0, v0), (t1, v1) in itertools.pairwise(timed):
        seconds = (t1 - t0).total_seconds()
        if 0 < seconds <= MAX_MOVING_GAP:
            total += (v0 + v1) / 2 * seconds
            weight += seconds
    if weight:
        return total / weight
    values = [v for _, v in timed] or [
        v for p in points if (v := getattr(p, attr)) is not None and (v > 0 or (zeros and v == 0))
    ]
    return _mean(values)


def _positive(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v) and v > 0]


def summarize_track(
    points: Sequence[TrackPoint], *, elevation_threshold: float = 1.0
) -> TrackSummary:
    """Summaries of a track's samples (in time order).

    - distance: the last cumulative distance the file recorded, else the sum of great-circle
      steps between positioned points;
    - elapsed: last minus first timestamp; moving: the sum of steps of at most 60 s whose
      speed is at least 0.3 m/s (recorded speed, else step distance / step time);
    - heart rate, power and cadence: time-weighted mean (samples at most 60 s apart) and
      maximum of the recorded values above zero (power: zeros count in the mean, as devices
      do, since coasting is real zero power);
    - elevation gain/loss: climbs and descents past a hysteresis of ``elevation_threshold`` m,
      so GPS noise does not add up.
    """
    summary = TrackSummary(samples=len(points))
    if not points:
        return summary
    times = [p.time for p in points if p.time is not None]
    if times:
        summary.start_time = times[0]
        summary.elapsed_time = (times[-1] - times[0]).total_seconds()

    # Step distances, from the recorded cumulative distance when present.
    cumulative = [p.distance for p in points if p.distance is not None]
    steps: list[float | None] = [None]
    for prev, cur in itertools.pairwise(points):
        if cur.new_segment:
            steps.append(None)
        elif prev.distance is not None and cur.distance is not None:
            steps.append(max(0.0, cur.distance - prev.distance))
        elif None not in (prev.lat, prev.lon, cur.lat, cur.lon):
            steps.append(haversine_m(prev.lat, prev.lon, cur.lat, cur.lon))  # type: ignore[arg-type]
        else:
            steps.append(None)
    if cumulative:
        summary.distance = max(cumulative)
    elif any(s is not None for s in steps):
        summary.distance = sum(s for s in steps if s is not None)

    moving = moving_distance = 0.0
    max_speed = 0.0
    for prev, cur, step in zip(points, points[1:], steps[1:], strict=False):
        if prev.time is None or cur.time is None or cur.new_segment:
            continue
        dt = (cur.time - prev.time).total_seconds()
        if dt <= 0:
            continue
        speed = cur.speed if cur.speed is not None else (step / dt if step is not None else None)
        if speed is None:
            continue
        if dt <= MAX_MOVING_GAP and speed >= MOVING_SPEED_THRESHOLD:
            moving += dt
            moving_distance += step if step is not None else speed * dt
        max_speed = max(max_speed, speed)
    if len(times) > 1:
        summary.moving_time = moving
        # Speed over the timed, moving part only (untimed points add distance, not time).
        summary.average_speed = moving_distance / moving if moving > 0 else None
        summary.max_speed = max_speed or None

    hr = _positive([p.heartrate for p in points])
    summary.average_heartrate = _time_mean(points, "heartrate") if hr else None
    summary.max_heartrate = max(hr) if hr else None
    power = [p.power for p in points if p.power is not None and p.power >= 0]
    summary.average_watts = _time_mean(points, "power", zeros=True) if _positive(power) else None
    summary.max_watts = max(power) if _positive(power) else None
    cadence = _positive([p.cadence for p in points])
    summary.average_cadence = _time_mean(points, "cadence") if cadence else None
    summary.max_cadence = max(cadence) if cadence else None

    elevations = [p.elevation for p in points if p.elevation is not None]
    if len(elevations) > 1:
        gain = loss = 0.0
        anchor = elevations[0]
        for elevation in elevations[1:]:
            if elevation - anchor >= elevation_threshold:
                gain += elevation - anchor
                anchor = elevation
            elif anchor - elevation >= elevation_threshold:
                loss += anchor - elevation
                anchor = elevation
        summary.elevation_gain, summary.elevation_loss = gain, loss
    return summary
