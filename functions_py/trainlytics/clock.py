"""The one wall clock: code that needs "now" takes a :data:`Clock` (default :func:`utc_now`), so
tests control time by passing their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utc_now"]

#: Returns the current time, timezone-aware (UTC).
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The system's current time in UTC."""
    return datetime.now(UTC)
