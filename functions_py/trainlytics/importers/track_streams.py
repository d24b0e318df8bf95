"""Streams (per-sample time series) from a file's track points, consistent with its summary.

``streams_from_points(points, start, multisport=False) -> ActivityStreams | None``:

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
- None when fewer than two timed points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from trainlytics.importers.base import TrackPoint, haversine_m
from trainlytics.streams import ActivityStreams

__all__ = ["MAX_SAMPLES", "streams_from_points"]

MAX_SAMPLES = 200_000


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


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
    points: Sequence[TrackPoint], start: datetime, *, multisport: bool = False
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
    )
    return streams
