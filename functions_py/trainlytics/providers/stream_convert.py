"""Provider time series → the canonical streams dict (pure functions, no I/O).

The canonical dict is keyed by Strava's stream type names, each value one list, all lists of
the same length, index ``i`` being one sample:

- ``time`` s since the activity's start (required), ``distance`` m (cumulative),
  ``latlng`` ``[lat, lng]`` degrees, ``altitude`` m, ``heartrate`` bpm, ``watts`` W,
  ``cadence`` rpm (foot sports: one leg's strides per minute, as FIT and Strava record it),
  ``velocity_smooth`` m/s, ``temp`` °C.
- A value missing in one sample is ``None``; a stream with no value at all is left out.

Converters (one per provider shape):

- :func:`from_strava` — ``GET /activities/{id}/streams`` (``key_by_type=true``: an object keyed
  by type; the swagger's example is the array form, also accepted).
- :func:`from_garmin_samples` — the ``samples`` of an ``activityDetails`` summary.
- :func:`from_fit` — records of a FIT file (Wahoo, COROS, Polar), through the importers'
  FIT reader.
- :func:`from_google_heart_rate` — Google Health ``heart-rate`` data points.

Each returns None when the payload holds no usable time series (e.g. a manual activity).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "STRAVA_KEYS",
    "STREAM_TYPES",
    "Streams",
    "from_fit",
    "from_garmin_samples",
    "from_google_heart_rate",
    "from_strava",
    "point_count",
]

Streams = dict[str, list[Any]]

#: The canonical stream types, in Strava's names.
STREAM_TYPES: tuple[str, ...] = (
    "time",
    "distance",
    "latlng",
    "altitude",
    "heartrate",
    "watts",
    "cadence",
    "velocity_smooth",
    "temp",
)
#: What Trainlytics asks Strava for (``keys=``): the canonical types.
STRAVA_KEYS: tuple[str, ...] = STREAM_TYPES


def point_count(streams: Mapping[str, Sequence[Any]]) -> int:
    return len(streams.get("time", ()))


def _number(value: Any) -> float | None:
    """A finite number (also from a numeric string, as Google sends int64s), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    return None


def _latlng(value: Any) -> list[float] | None:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        lat, lng = _number(value[0]), _number(value[1])
        if lat is not None and lng is not None and -90 <= lat <= 90 and -180 <= lng <= 180:
            return [lat, lng]
    return None


def _finish(columns: Mapping[str, list[Any]]) -> Streams | None:
    """Drop empty streams; None without a time stream of at least two samples."""
    time = columns.get("time") or []
    if len(time) < 2 or any(t is None for t in time):
        return None
    out: Streams = {"time": list(time)}
    for name in STREAM_TYPES[1:]:
        values = columns.get(name)
        if values and len(values) == len(time) and any(v is not None for v in values):
            out[name] = list(values)
    return out


def from_strava(body: Any) -> Streams | None:
    """Strava's StreamSet: ``{"time": {"data": [...], "series_type", "original_size",
    "resolution"}, ...}`` (``key_by_type=true``) or the array ``[{"type": "time", "data":
    [...]}, ...]``. Streams of another length than ``time`` are dropped (Strava gives all the
    same length); unknown types (``moving``, ``grade_smooth``) are ignored."""
    raw: dict[str, Any] = {}
    if isinstance(body, Mapping):
        raw = {str(k): v.get("data") for k, v in body.items() if isinstance(v, Mapping)}
    elif isinstance(body, list):
        raw = {
            str(item.get("type")): item.get("data") for item in body if isinstance(item, Mapping)
        }
    columns: dict[str, list[Any]] = {}
    for name in STREAM_TYPES:
        data = raw.get(name)
        if not isinstance(data, list):
            continue
        if name == "latlng":
            columns[name] = [_latlng(v) for v in data]
        else:
            columns[name] = [_number(v) for v in data]
    return _finish(columns)


def from_garmin_samples(samples: Any, start_epoch: float) -> Streams | None:
    """Garmin ``activityDetails`` samples (one per second or so): ``startTimeInSeconds``
    (epoch s), ``latitudeInDegree``/``longitudeInDegree``, ``elevationInMeters``,
    ``heartRate``, ``speedMetersPerSecond``, ``totalDistanceInMeters``, ``powerInWatts``,
    ``bikeCadenceInRPM``, ``stepsPerMinute`` (both feet: halved to one leg's strides, as FIT
    and Strava count running cadence), ``airTemperatureCelcius`` (sic)."""
    if not isinstance(samples, list):
        return None
    rows = [
        s
        for s in samples
        if isinstance(s, Mapping) and _number(s.get("startTimeInSeconds")) is not None
    ]
    rows.sort(key=lambda s: float(s["startTimeInSeconds"]))
    columns: dict[str, list[Any]] = {name: [] for name in STREAM_TYPES}
    for s in rows:
        columns["time"].append(float(s["startTimeInSeconds"]) - start_epoch)
        columns["distance"].append(_number(s.get("totalDistanceInMeters")))
        columns["latlng"].append(_latlng([s.get("latitudeInDegree"), s.get("longitudeInDegree")]))
        columns["altitude"].append(_number(s.get("elevationInMeters")))
        columns["heartrate"].append(_number(s.get("heartRate")))
        columns["watts"].append(_number(s.get("powerInWatts")))
        bike = _number(s.get("bikeCadenceInRPM"))
        steps = _number(s.get("stepsPerMinute"))
        half_steps = None if steps is None else steps / 2
        columns["cadence"].append(bike if bike is not None else half_steps)
        columns["velocity_smooth"].append(_number(s.get("speedMetersPerSecond")))
        columns["temp"].append(_number(s.get("airTemperatureCelcius")))
    return _finish(columns)


def from_fit(data: bytes) -> Streams | None:
    """The records of a FIT activity file, read exactly as a file import reads them (the
    importers' ``parse_fit``: its ``streams`` — time from the session start, cumulative
    distance across session restarts, temperature, at most 200,000 samples — and, under
    ``laps``, its lap messages as lap objects); None when it holds
    fewer than two timed records. Raises FileImportError for an unreadable or non-activity
    file."""
    from trainlytics.importers.fit import parse_fit

    parsed = parse_fit(data)
    if parsed.streams is None:
        return None
    as_json = parsed.streams.to_json()
    out = _finish({k: v for k, v in as_json.items() if isinstance(v, list) and k != "laps"})
    if out is not None and as_json.get("laps"):
        out["laps"] = as_json["laps"]  # the file's own laps (lap objects, not samples)
    return out


def from_google_heart_rate(
    data_points: Iterable[Any], start: datetime, end: datetime
) -> Streams | None:
    """Google Health ``heart-rate`` data points (``{"heartRate": {"sampleTime":
    {"physicalTime": RFC 3339}, "beatsPerMinute": int64 as a string}}``) inside
    ``[start, end)``, in time order: a heart-rate-only stream (Google Health exposes no
    per-sample position, speed or power for an exercise)."""
    samples: dict[float, float] = {}
    for point in data_points:
        rate = point.get("heartRate") if isinstance(point, Mapping) else None
        if not isinstance(rate, Mapping):
            continue
        sample_time = rate.get("sampleTime")
        stamp = sample_time.get("physicalTime") if isinstance(sample_time, Mapping) else None
        bpm = _number(rate.get("beatsPerMinute"))
        when = _parse_rfc3339(stamp)
        if when is None or bpm is None or not (start <= when < end):
            continue
        samples[(when - start).total_seconds()] = bpm
    times = sorted(samples)
    return _finish({"time": times, "heartrate": [samples[t] for t in times]})


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return _aware(parsed)
