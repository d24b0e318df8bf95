"""What the report's page of one activity computes from its streams: splits, time in zones,
best efforts, and a route projected for an inline map.

The streams are those of ``public.activity_streams`` (:class:`trainlytics.streams.ActivityStreams`:
one array per channel, sample i of every channel taken at ``time_s[i]`` seconds from the
start; a missing sample is None), read under the reader's row-level security. Everything here
is plain arithmetic on those arrays, so it is tested against hand-computed values without a
database.

Zones: the athlete's overrides (``athlete_settings.zones``: upper bounds of each zone but the
last) win; otherwise the defaults below, from the thresholds in the settings:

- heart rate: 5 zones at 85 / 90 / 95 / 100 % of the threshold heart rate (Friel's LTHR zones,
  simplified to 5);
- power: Coggan's 7 zones at 55 / 75 / 90 / 105 / 120 / 150 % of FTP;
- pace: 5 zones at 129 / 114 / 106 / 100 % of the threshold pace (s/km; slower first).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from trainlytics.streams import ActivityStreams

__all__ = [
    "BEST_DISTANCES",
    "BEST_DURATIONS",
    "BestEffort",
    "Split",
    "ZoneTime",
    "best_efforts",
    "best_powers",
    "default_zone_bounds",
    "pace_of",
    "project_route",
    "splits",
    "time_in_zones",
]

#: Durations (s) of the power curve.
BEST_DURATIONS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
#: Distances (m) of the best efforts: 400 m, 1 km, 1 mile, 5 km, 10 km, half, marathon.
BEST_DISTANCES = (400.0, 1000.0, 1609.344, 5000.0, 10000.0, 21097.5, 42195.0)
#: A gap between two samples longer than this (s) is a pause: it counts in no zone.
MAX_GAP = 30.0

_DEFAULT_FRACTIONS = {
    "heart_rate": (0.85, 0.90, 0.95, 1.00),
    "power": (0.55, 0.75, 0.90, 1.05, 1.20, 1.50),
    "pace": (1.29, 1.14, 1.06, 1.00),
}


def pace_of(streams: ActivityStreams) -> list[float | None] | None:
    """Seconds per km from the speed channel (None when standing still)."""
    if streams.speed_mps is None:
        return None
    return [1000.0 / v if v is not None and v > 0.3 else None for v in streams.speed_mps]


@dataclass(frozen=True)
class Split:
    number: int
    length: float  # m (the last split may be shorter)
    seconds: float  # elapsed time across the split
    climb: float | None  # m of altitude gained minus lost
    heart_rate: float | None  # time-weighted average bpm
    power: float | None  # time-weighted average W


@dataclass(frozen=True)
class ZoneTime:
    zone: int  # 1-based
    low: float | None  # None: open below
    high: float | None  # None: open above
    seconds: float


@dataclass(frozen=True)
class BestEffort:
    size: float  # s (power curve) or m (best efforts)
    value: float  # W (power) or s (time over the distance)


def _at(values: Sequence[float | None], index: int) -> float | None:
    return values[index] if index < len(values) else None


def splits(streams: ActivityStreams, unit: float) -> list[Split]:
    """Consecutive splits of ``unit`` metres (1000 m, or a mile): the time each took, found by
    interpolating the distance stream at every boundary."""
    if streams.distance_m is None or unit <= 0:
        return []
    points = [
        (t, d, i)
        for i, (t, d) in enumerate(zip(streams.time_s, streams.distance_m, strict=False))
        if d is not None
    ]
    if len(points) < 2:
        return []
    result: list[Split] = []
    start_t, start_d, start_i = points[0]
    boundary = start_d + unit
    # Invariant: boundary > d0 (every boundary up to the previous sample was taken).
    for (t0, d0, _), (t1, d1, i1) in itertools.pairwise(points):
        while d1 >= boundary:
            t = t0 + (t1 - t0) * (boundary - d0) / (d1 - d0)
            result.append(
                _split(streams, len(result) + 1, boundary - start_d, start_t, t, start_i, i1)
            )
            start_t, start_d, start_i = t, boundary, i1
            boundary += unit
    last_t, last_d, last_i = points[-1]
    if last_d - start_d >= 0.05 * unit and last_t > start_t:
        result.append(
            _split(streams, len(result) + 1, last_d - start_d, start_t, last_t, start_i, last_i)
        )
    return result


def _mean_over(
    values: Sequence[float | None] | None, time: Sequence[float], i0: int, i1: int
) -> float | None:
    if values is None:
        return None
    total = weight = 0.0
    for i in range(max(i0, 0), min(i1, len(time) - 1, len(values) - 1)):
        v = values[i]
        dt = time[i + 1] - time[i]
        if v is not None and 0 < dt <= MAX_GAP:
            total += v * dt
            weight += dt
    return total / weight if weight else None


def _split(
    streams: ActivityStreams, number: int, length: float, t0: float, t1: float, i0: int, i1: int
) -> Split:
    climb = None
    if streams.altitude_m is not None:
        a0, a1 = _at(streams.altitude_m, i0), _at(streams.altitude_m, i1)
        climb = a1 - a0 if a0 is not None and a1 is not None else None
    return Split(
        number,
        length,
        t1 - t0,
        climb,
        _mean_over(streams.heart_rate, streams.time_s, i0, i1),
        _mean_over(streams.power_w, streams.time_s, i0, i1),
    )


def default_zone_bounds(kind: str, threshold: float | None) -> list[float] | None:
    """The default zone bounds of ``kind`` for a threshold (bpm, W or s/km), or None."""
    if threshold is None or threshold <= 0:
        return None
    return [round(threshold * f, 1) for f in _DEFAULT_FRACTIONS[kind]]


def time_in_zones(
    values: Sequence[float | None] | None,
    time: Sequence[float],
    bounds: Sequence[float],
    *,
    descending: bool = False,
) -> list[ZoneTime]:
    """Seconds spent in each zone: the interval from sample i to i+1 counts in the zone of
    sample i (gaps over :data:`MAX_GAP` seconds are pauses). ``bounds`` are the upper bounds
    of zones 1..n-1; ``descending`` for pace (s/km), where a lower value is a higher zone."""
    edges = list(bounds)
    seconds = [0.0] * (len(edges) + 1)
    if values is not None:
        for i in range(min(len(values), len(time)) - 1):
            v = values[i]
            dt = time[i + 1] - time[i]
            if v is None or not 0 < dt <= MAX_GAP:
                continue
            if descending:
                zone = sum(1 for edge in edges if v <= edge)
            else:
                zone = sum(1 for edge in edges if v > edge)
            seconds[zone] += dt
    zones = []
    for z, secs in enumerate(seconds):
        low = edges[z - 1] if z > 0 else None
        high = edges[z] if z < len(edges) else None
        zones.append(ZoneTime(z + 1, low, high, secs))
    return zones


def _one_hertz(values: Sequence[float | None], time: Sequence[float]) -> list[float]:
    """The channel resampled to one value a second (held from the previous sample; a gap
    over :data:`MAX_GAP` counts as zero, a pause)."""
    if not time:
        return []
    end = int(time[-1] - time[0])
    out = [0.0] * (end + 1)
    j = 0
    for second in range(end + 1):
        t = time[0] + second
        while j + 1 < len(time) and time[j + 1] <= t:
            j += 1
        v = values[j] if j < len(values) else None
        gap = (time[j + 1] - time[j]) if j + 1 < len(time) else 0.0
        out[second] = float(v) if v is not None and gap <= MAX_GAP else 0.0
    return out


def best_powers(
    streams: ActivityStreams, durations: Sequence[int] = BEST_DURATIONS
) -> list[BestEffort]:
    """The best average power over each duration (a sliding window on the 1 Hz power, with
    prefix sums), for the durations the activity lasted."""
    if streams.power_w is None:
        return []
    watts = _one_hertz(streams.power_w, streams.time_s)
    prefix = [0.0]
    for w in watts:
        prefix.append(prefix[-1] + w)
    result = []
    for duration in durations:
        if duration > len(watts):
            break
        best = max(prefix[i + duration] - prefix[i] for i in range(len(watts) - duration + 1))
        result.append(BestEffort(duration, best / duration))
    return result


def best_efforts(
    streams: ActivityStreams, distances: Sequence[float] = BEST_DISTANCES
) -> list[BestEffort]:
    """The fastest time over each distance (a sliding window on the distance stream, the
    window's start interpolated so that it covers exactly the distance)."""
    if streams.distance_m is None:
        return []
    points = [
        (t, d) for t, d in zip(streams.time_s, streams.distance_m, strict=False) if d is not None
    ]
    if len(points) < 2:
        return []
    result = []
    for distance in distances:
        if points[-1][1] - points[0][1] < distance:
            break
        best = math.inf
        j = 0
        for t1, d1 in points:
            target = d1 - distance
            if target < points[0][1]:
                continue
            while points[j + 1][1] <= target:
                j += 1
            t0, d0 = points[j]
            tn, dn = points[j + 1]
            start = t0 + (tn - t0) * (target - d0) / (dn - d0) if dn > d0 else tn
            best = min(best, t1 - start)
        if math.isfinite(best):
            result.append(BestEffort(distance, best))
    return result


def project_route(
    lat: Sequence[float | None],
    lon: Sequence[float | None],
    width: float,
    height: float,
    margin: float = 10.0,
) -> list[tuple[float, float]]:
    """Positions to SVG coordinates with an equirectangular projection around the route's mean
    latitude (x = lon x cos(mean lat), y = lat), scaled to fit ``width`` x ``height`` with
    the same scale on both axes (north up). Samples without a position are dropped."""
    pairs = [(a, o) for a, o in zip(lat, lon, strict=False) if a is not None and o is not None]
    if not pairs:
        return []
    mean_lat = math.radians(sum(a for a, _ in pairs) / len(pairs))
    xs = [o * math.cos(mean_lat) for _, o in pairs]
    ys = [a for a, _ in pairs]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1e-9
    scale = min((width - 2 * margin) / span, (height - 2 * margin) / span)
    if max(xs) - min(xs) > 0:
        scale = min(scale, (width - 2 * margin) / (max(xs) - min(xs)))
    if max(ys) - min(ys) > 0:
        scale = min(scale, (height - 2 * margin) / (max(ys) - min(ys)))
    x_offset = (width - (max(xs) - min(xs)) * scale) / 2
    y_offset = (height - (max(ys) - min(ys)) * scale) / 2
    return [
        (x_offset + (x - min(xs)) * scale, height - (y_offset + (y - min(ys)) * scale))
        for x, y in zip(xs, ys, strict=True)
    ]
