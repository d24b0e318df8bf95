"""Activity streams: the per-sample time series of one activity, as the database takes them.

``ActivityStreams`` holds equal-length channels (one value per sample, ``None`` where a channel
missed a sample); ``to_json()`` gives the object ``public.ingest_activity_streams`` takes,
keyed by Strava's stream type names (migration 20261205210000_activity_streams.sql):

=================  ==========================  ==========================================
key                field                       unit
=================  ==========================  ==========================================
``time``           ``time_s``                  s from the start (required, non-decreasing)
``distance``       ``distance_m``              m from the start (non-decreasing)
``latlng``         ``lat`` + ``lon``           [lat, lon] degrees WGS84
``altitude``       ``altitude_m``              m
``heartrate``      ``heart_rate``              bpm
``watts``          ``power_w``                 W
``cadence``        ``cadence``                 per minute as the source counts it (see below)
``velocity_smooth`` ``speed_mps``              m/s
``temp``           ``temperature_c``           degrees Celsius
=================  ==========================  ==========================================

Laps (``laps``, a list of :class:`Lap`, migration 20261205230000_activity_laps.sql) ride
along under the key ``laps``: the device's own lap summaries, their ``start_s`` on the same
clock as ``time``. ``laps=None`` stores no laps (a write replaces them).

Cadence: strides of one leg for foot sports (FIT, TCX, GPX and Strava count so), which SQL
doubles to steps of both feet as it does for the summary; ``cadence_unit="steps"`` says the
values already count both feet. Non-finite numbers become ``None``; a channel without any
value is left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

__all__ = ["STREAM_KEYS", "ActivityStreams", "CadenceUnit", "Lap"]

CadenceUnit = Literal["strides", "steps"]

#: JSON key per single-value channel (latlng is built from ``lat`` and ``lon``).
STREAM_KEYS: dict[str, str] = {
    "time_s": "time",
    "distance_m": "distance",
    "altitude_m": "altitude",
    "heart_rate": "heartrate",
    "power_w": "watts",
    "cadence": "cadence",
    "speed_mps": "velocity_smooth",
    "temperature_c": "temp",
}

Channel = list[float | None]


def _clean(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    rounded = round(float(value), digits)
    return int(rounded) if digits == 0 else rounded


@dataclass
class Lap:
    """One lap as the device summarised it; ``start_s`` on the streams' clock."""

    start_s: float
    elapsed_s: float | None = None
    moving_s: float | None = None
    distance_m: float | None = None
    avg_hr: float | None = None
    max_hr: float | None = None
    avg_power_w: float | None = None
    avg_cadence: float | None = None
    elevation_gain_m: float | None = None

    def to_json(self) -> dict[str, float | None]:
        """The lap object of the ``laps`` key (non-finite numbers become null)."""
        digits = {"start_s": 3, "elapsed_s": 3, "moving_s": 3, "distance_m": 2, "avg_hr": 0,
                  "max_hr": 0, "avg_power_w": 0, "avg_cadence": 1,
                  "elevation_gain_m": 1}  # fmt: skip
        return {name: _clean(getattr(self, name), d) for name, d in digits.items()}


@dataclass
class ActivityStreams:
    """Channels of equal length; ``time_s`` has no ``None``."""

    time_s: list[float] = field(default_factory=list)
    distance_m: Channel | None = None
    lat: Channel | None = None
    lon: Channel | None = None
    altitude_m: Channel | None = None
    heart_rate: Channel | None = None
    power_w: Channel | None = None
    cadence: Channel | None = None
    speed_mps: Channel | None = None
    temperature_c: Channel | None = None
    cadence_unit: CadenceUnit = "strides"
    laps: list[Lap] | None = None

    def __len__(self) -> int:
        return len(self.time_s)

    def channels(self) -> dict[str, Sequence[float | None]]:
        """The channels present (with at least one value), by field name."""
        present: dict[str, Sequence[float | None]] = {}
        for f in fields(self):
            if f.name == "laps":
                continue
            value = getattr(self, f.name)
            if isinstance(value, list) and any(v is not None for v in value):
                present[f.name] = value
        return present

    def to_json(self) -> dict[str, Any]:
        """The streams object of ``public.ingest_activity_streams`` (see the module doc)."""
        count = len(self.time_s)
        for name, values in self.channels().items():
            if len(values) != count:
                raise ValueError(f"stream {name} has {len(values)} samples, time has {count}")
        # Rounding keeps the JSON small without losing what real[] would keep anyway.
        digits = {"time_s": 3, "distance_m": 2, "altitude_m": 2, "heart_rate": 0, "power_w": 0,
                  "cadence": 1, "speed_mps": 3, "temperature_c": 1}  # fmt: skip
        out: dict[str, Any] = {}
        present = self.channels()
        for name, key in STREAM_KEYS.items():
            if name in present:
                out[key] = [_clean(v, digits[name]) for v in present[name]]
        if "time" not in out:
            out["time"] = []
        if "lat" in present and "lon" in present:
            out["latlng"] = [
                None
                if a is None or b is None or not (math.isfinite(a) and math.isfinite(b))
                else [round(a, 6), round(b, 6)]
                for a, b in zip(present["lat"], present["lon"], strict=True)
            ]
        if self.laps is not None:
            out["laps"] = [lap.to_json() for lap in self.laps if math.isfinite(lap.start_s)]
        lap_cadence = any(lap.get("avg_cadence") is not None for lap in out.get("laps", []))
        if self.cadence_unit != "strides" and ("cadence" in out or lap_cadence):
            out["cadence_unit"] = self.cadence_unit
        return out
