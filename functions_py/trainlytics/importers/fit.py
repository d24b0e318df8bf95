"""FIT activity files (Garmin, Wahoo, COROS, ... devices), read with fitdecode.

The session message gives the summary (a multisport file has one session per leg: their sums
and time-weighted means make one multisport activity); the records fill in what a session
lacks (e.g. a fēnix 2 writes no session heart rate). FIT facts relied on:

- times are UTC; ``activity.local_timestamp`` minus ``activity.timestamp`` is the UTC offset;
- ``total_elapsed_time`` includes pauses, ``total_timer_time`` does not (the moving time);
- ``avg_running_cadence`` counts one leg (strides/min, plus ``avg_fractional_cadence``):
  doubled to steps of both feet; ``avg_cadence`` of rides is crank rpm;
- ``enhanced_*`` speed and altitude fields supersede the 16-bit ones when present;
- ``total_calories`` is kcal; ``normalized_power`` W.

The CRC is checked: a truncated or corrupted file is rejected, never half-imported.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import fitdecode  # type: ignore[import-untyped]

from trainlytics.importers.base import (
    FileImportError,
    ParsedActivity,
    TrackPoint,
    sha256_hex,
    summarize_track,
)

__all__ = ["parse_fit"]

FOOT_SPORTS = frozenset({"running", "walking", "hiking", "training"})
_MAX_OFFSET = 18 * 3600


def _fields(frame: fitdecode.FitDataMessage) -> dict[str, Any]:
    return {f.name: f.value for f in frame.fields if not f.name.startswith("unknown")}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _first(values: dict[str, Any], *names: str) -> float | None:
    for name in names:
        number = _num(values.get(name))
        if number is not None:
            return number
    return None


def _device_name(file_id: dict[str, Any]) -> str | None:
    maker = file_id.get("manufacturer")
    product = file_id.get("garmin_product") or file_id.get("product_name") or file_id.get("product")
    parts = [str(p) for p in (maker, product) if p is not None and not isinstance(p, int)]
    return " ".join(parts) or None


Messages = tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], list[TrackPoint]]


def _read(data: bytes) -> Messages:
    file_id: dict[str, Any] = {}
    sessions: list[dict[str, Any]] = []
    activity: dict[str, Any] = {}
    points: list[TrackPoint] = []
    reader = fitdecode.FitReader(
        io.BytesIO(data),
        check_crc=fitdecode.CrcCheck.RAISE,
        error_handling=fitdecode.ErrorHandling.RAISE,
    )
    with reader:
        for frame in reader:
            if not isinstance(frame, fitdecode.FitDataMessage):
                continue
            if frame.name == "file_id" and not file_id:
                file_id = _fields(frame)
            elif frame.name == "session":
                sessions.append(_fields(frame))
            elif frame.name == "activity":
                activity = _fields(frame)
            elif frame.name == "record":
                v = _fields(frame)
                lat, lon = _num(v.get("position_lat")), _num(v.get("position_long"))
                cadence = _num(v.get("cadence"))
                points.append(
                    TrackPoint(
                        time=stamp if isinstance(stamp := v.get("timestamp"), datetime) else None,
                        lat=lat * 180 / 2**31 if lat is not None else None,
                        lon=lon * 180 / 2**31 if lon is not None else None,
                        elevation=_first(v, "enhanced_altitude", "altitude"),
                        distance=_num(v.get("distance")),
                        heartrate=_num(v.get("heart_rate")),
                        power=_num(v.get("power")),
                        cadence=cadence,
                        speed=_first(v, "enhanced_speed", "speed"),
                    )
                )
    return file_id, sessions, activity, points


def _sum(sessions: list[dict[str, Any]], name: str) -> float | None:
    values = [_num(s.get(name)) for s in sessions]
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _weighted(sessions: list[dict[str, Any]], *names: str) -> float | None:
    total = weight = 0.0
    for s in sessions:
        value = _first(s, *names)
        seconds = _first(s, "total_timer_time", "total_elapsed_time") or 0.0
        if value is not None and seconds > 0:
            total += value * seconds
            weight += seconds
    return total / weight if weight else None


def _maximum(sessions: list[dict[str, Any]], *names: str) -> float | None:
    values = [_first(s, *names) for s in sessions]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def parse_fit(data: bytes, file_name: str | None = None) -> ParsedActivity:
    """One activity from the bytes of a FIT activity file; FileImportError when unreadable."""
    try:
        file_id, sessions, activity, points = _read(data)
    except (fitdecode.FitError, ValueError, KeyError, IndexError, TypeError, EOFError) as exc:
        raise FileImportError(
            f"{file_name or 'FIT file'}: not a readable FIT file ({exc})",
            hint="the file is corrupt or truncated; export it again from the device or service",
        ) from exc
    if file_id.get("type") not in (None, "activity"):
        raise FileImportError(
            f"{file_name or 'FIT file'}: a FIT {file_id.get('type')} file, not an activity",
            hint="only FIT activity files can be imported",
        )
    summary = summarize_track(points)
    starts = [s["start_time"] for s in sessions if isinstance(s.get("start_time"), datetime)]
    start = starts[0] if starts else None
    start = start or summary.start_time or file_id.get("time_created")
    if not isinstance(start, datetime):
        raise FileImportError(
            f"{file_name or 'FIT file'}: no start time in the file",
            hint="the file holds no session and no timed record",
        )

    sports = [str(s["sport"]) for s in sessions if s.get("sport") is not None]
    multisport = len(set(sports)) > 1
    sport = "multisport" if multisport else (sports[0] if sports else None)
    sub_sport = None if multisport or not sessions else sessions[0].get("sub_sport")
    foot = sport in FOOT_SPORTS

    cadence = _weighted(sessions, "avg_running_cadence", "avg_cadence")
    fractional = _weighted(sessions, "avg_fractional_cadence")
    max_cadence = _maximum(sessions, "max_running_cadence", "max_cadence")
    running_cadence = any(_num(s.get("avg_running_cadence")) is not None for s in sessions)
    if cadence is not None and foot and running_cadence:
        cadence = (cadence + (fractional or 0.0)) * 2
        max_cadence = max_cadence * 2 if max_cadence is not None else None

    utc_offset = None
    local, stamp = activity.get("local_timestamp"), activity.get("timestamp")
    if isinstance(local, datetime) and isinstance(stamp, datetime):
        offset = round((local - stamp).total_seconds() / 900) * 900  # zones are quarter hours
        utc_offset = offset if abs(offset) <= _MAX_OFFSET else None

    parsed = ParsedActivity(
        format="fit",
        sha256=sha256_hex(data),
        start_time=start,
        file_name=file_name,
        sport=sport,
        sub_sport=str(sub_sport) if sub_sport is not None else None,
        name=None,
        utc_offset=utc_offset,
        elapsed_time=_sum(sessions, "total_elapsed_time"),
        moving_time=_sum(sessions, "total_timer_time"),
        distance=_sum(sessions, "total_distance"),
        average_speed=_weighted(sessions, "enhanced_avg_speed", "avg_speed"),
        max_speed=_maximum(sessions, "enhanced_max_speed", "max_speed"),
        average_heartrate=_weighted(sessions, "avg_heart_rate"),
        max_heartrate=_maximum(sessions, "max_heart_rate"),
        average_watts=_weighted(sessions, "avg_power"),
        max_watts=_maximum(sessions, "max_power"),
        normalized_watts=_weighted(sessions, "normalized_power"),
        average_cadence=cadence,
        max_cadence=max_cadence,
        elevation_gain=_sum(sessions, "total_ascent"),
        elevation_loss=_sum(sessions, "total_descent"),
        calories=_sum(sessions, "total_calories"),
        device_name=_device_name(file_id),
        extras={
            key: value
            for key, value in {
                "sessions": len(sessions),
                "training_stress_score": _sum(sessions, "training_stress_score"),
                "intensity_factor": _weighted(sessions, "intensity_factor"),
                "threshold_power": _maximum(sessions, "threshold_power"),
                "total_work": _sum(sessions, "total_work"),
                "serial_number": file_id.get("serial_number"),
            }.items()
            if value is not None
        },
    )
    if foot and summary.average_cadence is not None and parsed.average_cadence is None:
        # Records hold single-leg cadence too.
        summary.average_cadence *= 2
        summary.max_cadence = summary.max_cadence * 2 if summary.max_cadence else None
    parsed.fill_missing(summary)
    return parsed
