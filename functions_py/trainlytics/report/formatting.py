"""Labels, units and sport families shared by the HTML report and ``trainlytics stats``.

Distances, elevations, paces and speeds follow the athlete's units setting (metric or
imperial): the renderer wraps its work in ``with units("imperial"):`` and every ``fmt_*``
function reads it, so no caller threads a flag through. The database keeps SI throughout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from trainlytics.providers import PROVIDER_CLASSES

__all__ = [
    "FAMILIES",
    "family_of",
    "fmt_clock",
    "fmt_date",
    "fmt_datetime",
    "fmt_distance",
    "fmt_duration",
    "fmt_elevation",
    "fmt_hours",
    "fmt_pace",
    "fmt_speed",
    "form_band",
    "imperial",
    "record_label",
    "record_value",
    "sport_label",
    "units",
]

METRES_PER_MILE = 1609.344
FEET_PER_METRE = 3.280839895

_UNITS: ContextVar[str] = ContextVar("trainlytics_report_units", default="metric")


@contextmanager
def units(system: str | None) -> Iterator[None]:
    """Format in ``metric`` (default, also for None or anything unknown) or ``imperial``."""
    token = _UNITS.set("imperial" if system == "imperial" else "metric")
    try:
        yield
    finally:
        _UNITS.reset(token)


def imperial() -> bool:
    return _UNITS.get() == "imperial"


# Sport families group the canonical activity types for charts (colours from the Okabe-Ito
# palette). Order is the stacking and legend order.
FAMILIES: tuple[tuple[str, str, frozenset[str]], ...] = (
    (
        "Running",
        "#D55E00",
        frozenset({"run", "trail_run", "treadmill_run", "track_run", "virtual_run"}),
    ),
    (
        "Cycling",
        "#0072B2",
        frozenset(
            {
                "ride",
                "mountain_bike_ride",
                "gravel_ride",
                "virtual_ride",
                "indoor_ride",
                "e_bike_ride",
                "e_mountain_bike_ride",
                "handcycle",
                "velomobile",
            }
        ),
    ),
    ("Swimming", "#009E73", frozenset({"swim", "open_water_swim"})),
    ("Walking & hiking", "#E69F00", frozenset({"walk", "hike", "snowshoe", "mountaineering"})),
    (
        "Strength & fitness",
        "#CC79A7",
        frozenset(
            {
                "weight_training",
                "crossfit",
                "hiit",
                "cardio",
                "elliptical",
                "stair_stepper",
                "yoga",
                "pilates",
                "physical_therapy",
                "dance",
                "workout",
            }
        ),
    ),
    (
        "Snow & water",
        "#56B4E9",
        frozenset(
            {
                "rowing",
                "virtual_row",
                "kayaking",
                "canoeing",
                "stand_up_paddling",
                "surfing",
                "kitesurf",
                "windsurf",
                "sail",
                "alpine_ski",
                "backcountry_ski",
                "nordic_ski",
                "snowboard",
                "ice_skate",
                "roller_ski",
            }
        ),
    ),
    ("Other", "#7A7A7A", frozenset()),
)

_LABELS = {
    "e_bike_ride": "E-bike ride",
    "e_mountain_bike_ride": "E-mountain bike ride",
    "hiit": "HIIT",
    "open_water_swim": "Open-water swim",
    "stand_up_paddling": "Stand-up paddling",
    "mountain_bike_ride": "Mountain bike ride",
    "file": "File import",
    "manual": "Manual entry",
}


def family_of(activity_type: str) -> tuple[str, str]:
    """(family name, colour) of a canonical activity type."""
    for name, color, members in FAMILIES:
        if activity_type in members:
            return name, color
    return FAMILIES[-1][0], FAMILIES[-1][1]


def sport_label(value: str) -> str:
    """``trail_run`` → ``Trail run``; also source names, and provider names as each provider
    module spells them (``Provider.display_name``: ``COROS``)."""
    provider = PROVIDER_CLASSES.get(value)
    if provider is not None:
        return provider.display_name
    return _LABELS.get(value, value.replace("_", " ").capitalize())


def fmt_distance(metres: float | None) -> str:
    if metres is None or metres <= 0:
        return "—"
    if imperial():
        miles = metres / METRES_PER_MILE
        if miles < 0.1:
            return f"{metres * FEET_PER_METRE:,.0f} ft"
        return f"{miles:,.0f} mi" if miles >= 100 else f"{miles:,.1f} mi"
    if metres < 1000:
        return f"{metres:,.0f} m"
    if metres >= 100_000:
        return f"{metres / 1000:,.0f} km"
    return f"{metres / 1000:,.1f} km"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds <= 0:
        return "—"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d}" if hours else f"{minutes} min"


def fmt_hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h"


def fmt_elevation(metres: float | None) -> str:
    if metres is None or metres <= 0:
        return "—"
    if imperial():
        return f"{metres * FEET_PER_METRE:,.0f} ft"
    return f"{metres:,.0f} m"


def fmt_date(day: dt.date | None) -> str:
    return "—" if day is None else f"{day:%a %d %b %Y}".replace(" 0", " ")


def fmt_datetime(moment: dt.datetime | None) -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is not None:
        return moment.astimezone(dt.UTC).strftime("%d %b %Y %H:%M UTC").lstrip("0")
    return moment.strftime("%d %b %Y %H:%M").lstrip("0")


def form_band(tsb: float) -> str:
    """Words for a form (TSB) value, after the bands peers use (see shared/docs/peers.md)."""
    if tsb > 25:
        return "very fresh — fitness may be slipping"
    if tsb > 10:
        return "fresh — ready to race"
    if tsb > 0:
        return "slightly fresh"
    if tsb > -10:
        return "neutral"
    if tsb > -30:
        return "building — fatigue accumulating"
    return "overreaching — rest advised"


_STANDARD_NAMES = {1000.0: "1 km", 21097.5: "half marathon", 42195.0: "marathon"}


def fmt_clock(seconds: float) -> str:
    """``1:02:03`` or ``4:05`` (minutes:seconds)."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def fmt_pace(seconds_per_km: float | None) -> str:
    """``4:30 /km``, or per mile in imperial units."""
    if seconds_per_km is None or seconds_per_km <= 0:
        return "—"
    if imperial():
        return f"{fmt_clock(seconds_per_km * METRES_PER_MILE / 1000)} /mi"
    return f"{fmt_clock(seconds_per_km)} /km"


def fmt_speed(metres_per_second: float | None) -> str:
    if metres_per_second is None or metres_per_second <= 0:
        return "—"
    if imperial():
        return f"{metres_per_second * 3600 / METRES_PER_MILE:.1f} mph"
    return f"{metres_per_second * 3.6:.1f} km/h"


def record_label(record: str, standard_distance: float | None) -> str:
    """``fastest`` over 5000 m → ``Fastest 5 km``; ``biggest_climb`` → ``Biggest climb``."""
    if record == "fastest" and standard_distance:
        name = _STANDARD_NAMES.get(standard_distance)
        if name is None:
            name = (
                f"{standard_distance / 1000:g} km"
                if standard_distance >= 1000
                else f"{standard_distance:g} m"
            )
        return f"Fastest {name}"
    return record.replace("_", " ").capitalize()


def record_value(
    record: str, value: float, standard_distance: float | None, activity_type: str
) -> str:
    """The record in readable units, with the pace or speed for the fastest efforts."""
    if record in ("longest_distance",):
        return fmt_distance(value)
    if record == "biggest_climb":
        return fmt_elevation(value)
    if record == "fastest" and standard_distance and value > 0:
        family, _ = family_of(activity_type)
        if family == "Cycling":
            pace = fmt_speed(standard_distance / value)
        elif family == "Swimming":
            pace = f"{fmt_clock(value / standard_distance * 100)} /100 m"
        else:
            pace = fmt_pace(value / standard_distance * 1000)
        return f"{fmt_clock(value)} ({pace})"
    return fmt_duration(value) if value >= 60 else f"{value:.0f} s"
