"""The parsed-file payload every importer produces, and the summaries computed from samples.

Payload shape (``ParsedActivity.to_payload()``, version 2), the input of the SQL normaliser
``private.normalize_file_activity`` (migration 20261125131000_file_ingest.sql). Units are SI;
every key but ``sha256``, ``format`` and ``start_time`` may be missing or null:

=====================  ===================================================================
``version``            2 (1: cadence of foot sports already doubled by the importer)
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
``timezone``           IANA zone name: the file's, else the zone at the start position
                       (tzfpy, offline); the normaliser derives the offset from it when
                       ``utc_offset`` is absent
``start_latlng``       [lat, lon] of the first positioned sample, degrees WGS84
``elapsed_time``       s, start to end including pauses
``moving_time``        s, timer time or time in motion
``distance``           m
``average_speed``, ``max_speed``          m/s
``average_heartrate``, ``max_heartrate``  bpm
``average_watts``, ``max_watts``          W; ``normalized_watts`` W (normalised power)
``average_cadence``, ``max_cadence``      per minute as the source counts it: strides of one
                       leg for foot sports (the normaliser doubles them for run, trail_run,
                       treadmill_run, track_run, virtual_run, walk and hike), crank rpm,
                       strokes; absent for a multisport file (no blended cadence)
``elevation_gain``, ``elevation_loss``    m
``calories``           kcal
``device_name``        the recording device
``is_manual``          true for an export row entered by hand (no file)
``samples``            number of track points read
``extras``             a JSON object of format-specific extras kept in activity_data
=====================  ===================================================================
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import tzfpy

from trainlytics.errors import TrainlyticsError
from trainlytics.streams import ActivityStreams

__all__ = [
    "FileImportError",
    "ImportOutcome",
    "ParsedActivity",
    "TrackPoint",
    "TrackSummary",
    "haversine_m",
    "locate",
    "sha256_hex",
    "summarize_track",
    "zone_at",
]

PAYLOAD_VERSION = 2
_METRICS = (
    "elapsed_time", "moving_time", "distance", "average_speed", "max_speed",
    "average_heartrate", "max_heartrate", "average_watts", "max_watts",
    "average_cadence", "max_cadence", "elevation_gain", "elevation_loss",
)  # fmt: skip
# Below this (cleaned) speed (m/s) a step counts as standing still for the moving time.
MOVING_SPEED_THRESHOLD = 0.5
# A gap between two points longer than this (s) is a pause, never moving time.
MAX_MOVING_GAP = 60.0
# Spike rejection of GPS speed (see clean_speeds): Hampel window (steps), the deviation always
# tolerated (m/s), and the running-median width (steps) applied afterwards.
HAMPEL_WINDOW = 11
SPIKE_FLOOR = 0.5
SPEED_MEDIAN_WINDOW = 5
# Elevation: centred moving-mean window (s), then the hysteresis (m) of gain and loss.
ELEVATION_WINDOW = 10.0
ELEVATION_HYSTERESIS = 0.75


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
    start_lat: float | None = None
    start_lon: float | None = None
    is_manual: bool = False
    samples: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # The per-sample time series (not part of the payload: stored after the activity).
    streams: ActivityStreams | None = None

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
        if self.start_lat is not None and self.start_lon is not None:
            payload["start_latlng"] = [round(self.start_lat, 6), round(self.start_lon, 6)]
        if self.is_manual:
            payload["is_manual"] = True
        if self.extras:
            payload["extras"] = self.extras
        return payload

    def fill_from(self, other: ParsedActivity) -> None:
        """Take from another reading of the same activity every metric this one lacks."""
        for key in (
            *_METRICS, "normalized_watts", "calories", "utc_offset", "timezone", "start_lat",
            "start_lon",
        ):  # fmt: skip
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
    temperature: float | None = None  # degrees Celsius (FIT temperature, GPX gpxtpx:atemp)
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


def zone_at(lat: float, lon: float) -> str | None:
    """The IANA time zone at a WGS84 position, from tzfpy's offline boundary data (shipped
    inside the package: no network); None for an impossible position."""
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0 and lon == 0:
        return None  # "null island": a device without a fix, not a place
    return tzfpy.get_tz(lon, lat) or None


def locate(parsed: ParsedActivity, points: Sequence[TrackPoint]) -> None:
    """Set the start position (the first positioned point) and, when the file named none, the
    IANA time zone there. The file's own UTC offset (FIT ``local_timestamp``) is left as is:
    it wins over the zone's offset in the SQL normaliser."""
    if parsed.start_lat is None or parsed.start_lon is None:
        first = next((p for p in points if p.lat is not None and p.lon is not None), None)
        if first is None:
            return
        parsed.start_lat, parsed.start_lon = first.lat, first.lon
    if parsed.timezone is None and parsed.start_lat is not None and parsed.start_lon is not None:
        parsed.timezone = zone_at(parsed.start_lat, parsed.start_lon)


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


def _sliding_median(values: Sequence[float], width: int) -> list[float]:
    """Centred running median over ``width`` samples (fewer at both ends)."""
    half = width // 2
    n = len(values)
    if n == 0:
        return []
    window = sorted(values[: min(n, half + 1)])
    out: list[float] = []
    lo, hi = 0, min(n, half + 1)  # window holds values[lo:hi]
    for i in range(n):
        want_lo, want_hi = max(0, i - half), min(n, i + half + 1)
        while hi < want_hi:
            bisect.insort(window, values[hi])
            hi += 1
        while lo < want_lo:
            del window[bisect.bisect_left(window, values[lo])]
            lo += 1
        size = len(window)
        out.append(
            window[size // 2] if size % 2 else (window[size // 2 - 1] + window[size // 2]) / 2
        )
    return out


def clean_speeds(speeds: Sequence[float]) -> list[float]:
    """GPS speed with its spikes removed, as the max-speed rule uses it.

    1. Hampel filter: a step speed farther than ``3 x 1.4826 x MAD + 0.5 m/s`` from the
       median of the 11 steps around it (the MAD being their median absolute deviation) is a
       GPS jump and is replaced by that median;
    2. then a running median of 5 steps smooths what is left (a single-step excursion cannot
       set the maximum)."""
    medians = _sliding_median(speeds, HAMPEL_WINDOW)
    half = HAMPEL_WINDOW // 2
    cleaned = list(speeds)
    for i, (value, median) in enumerate(zip(speeds, medians, strict=True)):
        if abs(value - median) <= SPIKE_FLOOR:
            continue  # within the floor: never a spike, skip the MAD
        window = speeds[max(0, i - half) : i + half + 1]
        deviations = sorted(abs(v - median) for v in window)
        mad = deviations[len(deviations) // 2]
        if abs(value - median) > 3 * 1.4826 * mad + SPIKE_FLOOR:
            cleaned[i] = median
    return _sliding_median(cleaned, SPEED_MEDIAN_WINDOW)


def smooth_elevations(points: Sequence[TrackPoint]) -> list[float]:
    """Elevations averaged over a centred window of ``ELEVATION_WINDOW`` s (of 5 samples when
    the points carry no time), the input of the gain/loss hysteresis."""
    pairs = [(p.time, p.elevation) for p in points if p.elevation is not None]
    values = [float(e) for _, e in pairs]
    if not values:
        return []
    prefix = [0.0]
    for v in values:
        prefix.append(prefix[-1] + v)
    stamps = [t.timestamp() if t is not None else None for t, _ in pairs]
    if any(t is None for t in stamps):
        half = 2
        return [
            (prefix[min(len(values), i + half + 1)] - prefix[max(0, i - half)])
            / (min(len(values), i + half + 1) - max(0, i - half))
            for i in range(len(values))
        ]
    times = [t for t in stamps if t is not None]
    out: list[float] = []
    lo = hi = 0
    for t in times:
        while times[lo] < t - ELEVATION_WINDOW / 2:
            lo += 1
        while hi < len(times) and times[hi] <= t + ELEVATION_WINDOW / 2:
            hi += 1
        out.append((prefix[hi] - prefix[lo]) / (hi - lo))
    return out


def summarize_track(
    points: Sequence[TrackPoint], *, elevation_threshold: float = ELEVATION_HYSTERESIS
) -> TrackSummary:
    """Summaries of a track's samples (in time order), computed as the platforms do.

    - **distance**: the last cumulative distance the file recorded, else the sum of
      great-circle steps between positioned points (never across a segment break);
    - **speed** of a step: the recorded speed, else step distance / step time;
    - **max speed**: the maximum of the step speeds after spike rejection
      (:func:`clean_speeds`: Hampel filter over 11 steps, then a 5-step running median);
    - **moving time**: the sum of steps of at most ``MAX_MOVING_GAP`` s whose speed (the
      lower of the raw and the cleaned speed) is at least ``MOVING_SPEED_THRESHOLD`` m/s;
      **average speed** = the distance covered in those steps / moving time;
    - **elapsed**: last minus first timestamp. When fewer than half of the points carry a
      time (e.g. a GPX with 5 timed points of 296), the times do not describe the activity:
      elapsed, moving time and speeds stay unknown (the distance is kept);
    - heart rate, power and cadence: time-weighted mean (samples at most 60 s apart) and
      maximum of the recorded values above zero (power: zeros count in the mean, as devices
      do, since coasting is real zero power);
    - **elevation gain/loss**: elevations smoothed over a centred 10 s window
      (:func:`smooth_elevations`), then climbs and descents past a hysteresis of
      ``elevation_threshold`` m (0.75 m), so GPS and barometer noise do not add up.
    """
    summary = TrackSummary(samples=len(points))
    if not points:
        return summary
    times = [p.time for p in points if p.time is not None]
    timed_enough = len(times) * 2 >= len(points)
    if times:
        summary.start_time = times[0]
        if timed_enough:
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

    # Timed steps with a speed: (duration, distance, speed).
    timed: list[tuple[float, float, float]] = []
    for prev, cur, step in zip(points, points[1:], steps[1:], strict=False):
        if prev.time is None or cur.time is None or cur.new_segment:
            continue
        dt = (cur.time - prev.time).total_seconds()
        if dt <= 0:
            continue
        speed = cur.speed if cur.speed is not None else (step / dt if step is not None else None)
        if speed is None or not math.isfinite(speed):
            continue
        timed.append((dt, step if step is not None else speed * dt, speed))
    if timed_enough and len(times) > 1:
        cleaned = clean_speeds([speed for _, _, speed in timed])
        moving = moving_distance = 0.0
        for (dt, distance, raw), speed in zip(timed, cleaned, strict=True):
            # The lower of raw and cleaned speed: a spike is not motion, and neither is the
            # slow drift across an auto-pause gap that the running median would hide.
            if dt <= MAX_MOVING_GAP and min(raw, speed) >= MOVING_SPEED_THRESHOLD:
                moving += dt
                moving_distance += distance
        summary.moving_time = moving
        summary.average_speed = moving_distance / moving if moving > 0 else None
        summary.max_speed = max(cleaned, default=0.0) or None

    hr = _positive([p.heartrate for p in points])
    summary.average_heartrate = _time_mean(points, "heartrate") if hr else None
    summary.max_heartrate = max(hr) if hr else None
    power = [p.power for p in points if p.power is not None and p.power >= 0]
    summary.average_watts = _time_mean(points, "power", zeros=True) if _positive(power) else None
    summary.max_watts = max(power) if _positive(power) else None
    cadence = _positive([p.cadence for p in points])
    summary.average_cadence = _time_mean(points, "cadence") if cadence else None
    summary.max_cadence = max(cadence) if cadence else None

    elevations = smooth_elevations(points)
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
