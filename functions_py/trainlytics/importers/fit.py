"""FIT activity files (Garmin, Wahoo, COROS, ... devices), read with fitdecode.

The session message gives the summary (a multisport file has one session per leg: their sums
and time-weighted means make one multisport activity, without cadence); the records fill in
what a session lacks (e.g. a fēnix 2 writes no session heart rate). FIT facts relied on:

- times are UTC; ``activity.local_timestamp`` minus ``activity.timestamp`` is the UTC offset;
- ``total_elapsed_time`` includes pauses, ``total_timer_time`` does not (the moving time);
- cadence of foot sports counts one leg (strides/min, plus ``avg_fractional_cadence``),
  whether fitdecode names it ``avg_running_cadence`` (running) or ``avg_cadence`` (walking,
  hiking): passed on as recorded, the SQL normaliser doubles it to steps of both feet;
  ``avg_cadence`` of rides is crank rpm;
- ``enhanced_*`` speed and altitude fields supersede the 16-bit ones when present;
- ``total_calories`` is kcal; ``normalized_power`` W.

Reading is strict first (CRC checked, malformed definitions refused). A file that fails is
read again leniently (fitdecode's ``ErrorHandling.IGNORE``: a field whose size does not fit
its base type, as some COROS files have, is read as bytes; the CRC is not enforced), keeping
every message up to where the file breaks off: a truncated file without its session message
is summarised from its records. Such an activity carries ``recovered`` (the reason, whether the
summary came from the session or the records) in its extras, kept in ``activity_data``. A file
from which no timed record and no session can be read is still one clear error.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from datetime import datetime
from typing import Any

import fitdecode  # type: ignore[import-untyped]

from trainlytics.errors import FileImportError
from trainlytics.importers.base import (
    ParsedActivity,
    TrackPoint,
    locate,
    sha256_hex,
    summarize_track,
)
from trainlytics.importers.track_streams import TrackLap, streams_from_points

__all__ = ["parse_fit"]

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


class _Messages:
    """What a pass over a FIT file read, kept when the pass stops early."""

    def __init__(self) -> None:
        self.file_id: dict[str, Any] = {}
        self.sessions: list[dict[str, Any]] = []
        self.laps: list[dict[str, Any]] = []
        self.activity: dict[str, Any] = {}
        self.points: list[TrackPoint] = []


_SEMICIRCLE = 180 / 2**31


def _read_into(data: bytes, found: _Messages, error_handling: Any, check_crc: Any) -> None:
    reader = fitdecode.FitReader(
        io.BytesIO(data), check_crc=check_crc, error_handling=error_handling
    )
    append = found.points.append
    with reader:
        for frame in reader:
            if not isinstance(frame, fitdecode.FitDataMessage):
                continue
            name = frame.name
            if name == "record":
                v = {f.name: f.value for f in frame.fields}
                lat, lon = v.get("position_lat"), v.get("position_long")
                stamp = v.get("timestamp")
                speed = v.get("enhanced_speed")
                altitude = v.get("enhanced_altitude")
                append(
                    TrackPoint(
                        time=stamp if isinstance(stamp, datetime) else None,
                        lat=lat * _SEMICIRCLE if isinstance(lat, int) else None,
                        lon=lon * _SEMICIRCLE if isinstance(lon, int) else None,
                        elevation=_num(altitude if altitude is not None else v.get("altitude")),
                        distance=_num(v.get("distance")),
                        heartrate=_num(v.get("heart_rate")),
                        power=_num(v.get("power")),
                        cadence=_num(v.get("cadence")),
                        speed=_num(speed if speed is not None else v.get("speed")),
                        temperature=_num(v.get("temperature")),
                    )
                )
            elif name == "file_id" and not found.file_id:
                found.file_id = _fields(frame)
            elif name == "session":
                found.sessions.append(_fields(frame))
            elif name == "lap":
                found.laps.append(_fields(frame))
            elif name == "activity":
                found.activity = _fields(frame)


def _read(data: bytes) -> tuple[_Messages, str | None]:
    """The file's messages, and why they had to be recovered (None for a clean read).

    Strict first (CRC checked, malformed definitions refused). When that fails, a lenient pass
    (fitdecode's ErrorHandling.IGNORE: a field whose size does not fit its type is read as
    bytes; CRC not enforced) keeps everything it reads up to the point where the file ends or
    breaks, e.g. a truncated file's records."""
    strict = _Messages()
    try:
        _read_into(data, strict, fitdecode.ErrorHandling.RAISE, fitdecode.CrcCheck.RAISE)
    except (fitdecode.FitError, ValueError, KeyError, IndexError, TypeError, EOFError) as exc:
        first_error = f"{type(exc).__name__}: {exc}"
    else:
        return strict, None
    lenient = _Messages()
    # Keep what was read before the file broke off.
    with contextlib.suppress(
        fitdecode.FitError, ValueError, KeyError, IndexError, TypeError, EOFError
    ):
        _read_into(data, lenient, fitdecode.ErrorHandling.IGNORE, fitdecode.CrcCheck.DISABLED)
    best = (
        lenient
        if len(lenient.points) + len(lenient.sessions) >= len(strict.points) + len(strict.sessions)
        else strict
    )
    return best, first_error


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


def _track_lap(lap: dict[str, Any]) -> TrackLap:
    """A FIT lap message: the same fields (and cadence rule) as the session's."""
    start = lap.get("start_time")
    cadence = _first(lap, "avg_running_cadence", "avg_cadence")
    fractional = _num(lap.get("avg_fractional_cadence"))
    if cadence is not None and fractional is not None and 0 <= fractional < 1:
        cadence += fractional
    return TrackLap(
        start=start if isinstance(start, datetime) else None,
        elapsed_s=_num(lap.get("total_elapsed_time")),
        moving_s=_num(lap.get("total_timer_time")),
        distance_m=_num(lap.get("total_distance")),
        avg_hr=_num(lap.get("avg_heart_rate")),
        max_hr=_num(lap.get("max_heart_rate")),
        avg_power_w=_num(lap.get("avg_power")),
        avg_cadence=cadence,
        elevation_gain_m=_num(lap.get("total_ascent")),
    )


def parse_fit(data: bytes, file_name: str | None = None) -> ParsedActivity:
    """One activity from the bytes of a FIT activity file; FileImportError when unreadable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fitdecode's lenient-mode warnings: summarised below
        found, damage = _read(data)
    file_id, sessions, activity, points = (
        found.file_id, found.sessions, found.activity, found.points,
    )  # fmt: skip
    usable = len([p for p in points if p.time is not None]) >= 2 or any(
        isinstance(s.get("start_time"), datetime) for s in sessions
    )
    if damage is not None and not usable:
        raise FileImportError(
            f"{file_name or 'FIT file'}: not a readable FIT file ({damage}); nothing usable "
            "could be recovered",
            hint="the file is corrupt or truncated; export it again from the device or service",
        )
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

    sports = [str(s["sport"]) for s in sessions if s.get("sport") not in (None, "transition")]
    multisport = len(set(sports)) > 1
    sport = "multisport" if multisport else (sports[0] if sports else None)
    sub_sport = None if multisport or not sessions else sessions[0].get("sub_sport")

    # Cadence as the device counts it (FIT: strides of one leg for foot sports, whichever of
    # avg_running_cadence / avg_cadence fitdecode names it, plus the fractional part); the SQL
    # normaliser turns foot-sport cadence into steps of both feet. A multisport file has no
    # single cadence (swim strokes, crank rpm and strides do not average): none is given.
    cadence = max_cadence = None
    if not multisport:
        cadence = _weighted(sessions, "avg_running_cadence", "avg_cadence")
        fractional = _weighted(sessions, "avg_fractional_cadence")
        if cadence is not None and fractional is not None and 0 <= fractional < 1:
            cadence += fractional
        max_cadence = _maximum(sessions, "max_running_cadence", "max_cadence")

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
    if multisport:
        summary.average_cadence = summary.max_cadence = None
    if parsed.average_speed is None and parsed.distance is not None and summary.moving_time:
        # No session speed: distance over the moving time of the records (not timer time).
        parsed.average_speed = parsed.distance / summary.moving_time
    if damage is not None:
        parsed.extras["recovered"] = {
            "reason": damage[:300],
            "summary_from": "session" if sessions else "records",
            "records": len(points),
        }
    parsed.fill_missing(summary)
    locate(parsed, points)
    parsed.streams = streams_from_points(
        points,
        parsed.start_time,
        multisport=multisport,
        laps=[_track_lap(lap) for lap in found.laps],
    )
    return parsed
