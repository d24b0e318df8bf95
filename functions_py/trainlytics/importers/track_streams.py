"""Streams (per-sample time series) from a file's track points, consistent with its summary.

``streams_from_points(points, start, multisport=False, laps=()) -> ActivityStreams | None``:

- only timed points, in file order; a point timed before the one kept before it is dropped
  (the stream's time never goes back); ``time`` counts seconds from ``start`` (the activity's
  start) or from the first point when that is earlier;
- ``distance``: the file's cumulative distance (FIT, TCX) where recorded (a counter that
  restarts, as each session of a multisport file does, continues from the total), else the
  sum of great-circle steps between positioned points, never across a segment break (GPX):
  the summary's rule (:func:`trainlytics.importers.base.summarize_track`); accumulated over
  every point, timed or not, and never decreasing;
- heart rate, power, cadence, speed, altitude, temperature as recorded; cadence as the device
  counts it (strides of one leg for foot sports: the database doubles it as for the summary),
  none for a multisport file (no single unit, as the summary);
- a file of more than ``MAX_SAMPLES`` points keeps every k-th one (the database's limit);
- ``laps``: the file's own lap summaries (FIT ``lap`` messages, TCX ``<Lap>``) as
  :class:`TrackLap`, their start put on the streams' clock (a lap without a start time, or
  starting before the streams' zero, starts at the previous lap's end or at zero); lap
  cadence as the device counts it, none for a multisport file; at most ``MAX_LAPS`` laps, a
  value outside the database's range left out (the file keeps its streams);
- None when fewer than two timed points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from trainlytics.importers.base import TrackPoint, haversine_m
from trainlytics.streams import ActivityStreams, Lap

__all__ = ["MAX_LAPS", "MAX_SAMPLES", "TrackLap", "streams_from_points"]

MAX_SAMPLES = 200_000


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass
class TrackLap:
    """A lap as a file summarises it (None: not recorded)."""

    start: datetime | None
    elapsed_s: float | None = None
    moving_s: float | None = None
    distance_m: float | None = None
    avg_hr: float | None = None
    max_hr: float | None = None
    avg_power_w: float | None = None
    avg_cadence: float | None = None
    elevation_gain_m: float | None = None


#: The database's limits on a lap (migration 20261205230000_activity_laps.sql): a value outside
#: them is left out here, so one odd lap value never costs the file its streams.
MAX_LAPS = 1000
_LAP_RANGES = {
    "elapsed_s": 2_000_000.0, "moving_s": 2_000_000.0, "distance_m": 10_000_000.0,
    "avg_hr": 300.0, "max_hr": 300.0, "avg_power_w": 5000.0, "avg_cadence": 500.0,
    "elevation_gain_m": 100_000.0,
}  # fmt: skip


def _in_range(name: str, value: float | None) -> float | None:
    value = _finite(value)
    return value if value is not None and 0 <= value <= _LAP_RANGES[name] else None


def _laps(laps: Sequence[TrackLap], origin: datetime, multisport: bool) -> list[Lap] | None:
    if not laps:
        return None
    out: list[Lap] = []
    next_start = 0.0
    for lap in laps[:MAX_LAPS]:
        start = next_start
        if lap.start is not None and (lap.start.tzinfo is None) == (origin.tzinfo is None):
            start = max((lap.start - origin).total_seconds(), 0.0)
        if start > _LAP_RANGES["elapsed_s"]:
            break  # beyond the streams' clock (2,000,000 s): nothing later fits either
        out.append(
            Lap(
                start_s=start,
                elapsed_s=_in_range("elapsed_s", lap.elapsed_s),
                moving_s=_in_range("moving_s", lap.moving_s),
                distance_m=_in_range("distance_m", lap.distance_m),
                avg_hr=_in_range("avg_hr", lap.avg_hr),
                max_hr=_in_range("max_hr", lap.max_hr),
                avg_power_w=_in_range("avg_power_w", lap.avg_power_w),
                avg_cadence=None if multisport else _in_range("avg_cadence", lap.avg_cadence),
                elevation_gain_m=_in_range("elevation_gain_m", lap.elevation_gain_m),
            )
        )
        next_start = start + (
            _in_range("elapsed_s", lap.elapsed_s) or _in_range("moving_s", lap.moving_s) or 0.0
        )
    return out


def _cumulative_distances(points: Sequence[TrackPoint]) -> list[float | None] | None:
    if any(p.distance is not None for p in points):
        out: list[float | None] = []
        offset = previous = 0.0
        for p in points:
            d = _finite(p.distance)
            if d is None:
                out.append(None)
                continue
            if d < previous - 1.0:
                offset += previous  # a counter reset (the next session of a multisport file)
            elif d < previous:
                d = previous  # jitter: never backwards
            previous = d
            out.append(offset + d)
        return out
    if not any(p.lat is not None and p.lon is not None for p in points):
        return None
    total = 0.0
    last: tuple[float, float] | None = None
    result: list[float | None] = []
    for p in points:
        if p.new_segment:
            last = None  # no step across the jump between two segments
        if p.lat is not None and p.lon is not None:
            if last is not None:
                total += haversine_m(last[0], last[1], p.lat, p.lon)
            last = (p.lat, p.lon)
        result.append(total)
    return result


def streams_from_points(
    points: Sequence[TrackPoint],
    start: datetime,
    *,
    multisport: bool = False,
    laps: Sequence[TrackLap] = (),
) -> ActivityStreams | None:
    # Distances over every point (an untimed point still moved the athlete), then the timed
    # points in time order.
    distances = _cumulative_distances(points)
    kept: list[int] = []
    for index, p in enumerate(points):
        if p.time is None:
            continue
        if kept:
            before = points[kept[-1]].time
            if before is not None and p.time < before:
                continue
        kept.append(index)
    if len(kept) < 2:
        return None
    if len(kept) > MAX_SAMPLES:
        kept = kept[:: math.ceil(len(kept) / MAX_SAMPLES)]
    timed = [points[i] for i in kept]
    first = timed[0].time
    if first is None:
        return None
    # The activity's start is zero, unless a point comes earlier (zero is never after sample 1).
    origin = min(first, start) if (start.tzinfo is None) == (first.tzinfo is None) else first
    streams = ActivityStreams(
        time_s=[(p.time - origin).total_seconds() for p in timed],  # type: ignore[operator]
        distance_m=None if distances is None else [distances[i] for i in kept],
        lat=[_finite(p.lat) for p in timed],
        lon=[_finite(p.lon) for p in timed],
        altitude_m=[_finite(p.elevation) for p in timed],
        heart_rate=[_finite(p.heartrate) for p in timed],
        power_w=[_finite(p.power) for p in timed],
        cadence=None if multisport else [_finite(p.cadence) for p in timed],
        speed_mps=[_finite(p.speed) for p in timed],
        temperature_c=[_finite(p.temperature) for p in timed],
        laps=_laps(laps, origin, multisport),
    )
    return streams
