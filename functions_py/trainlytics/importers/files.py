"""Single activity files by name: ``.fit``, ``.gpx``, ``.tcx``, each optionally ``.gz``."""

from __future__ import annotations

from collections.abc import Callable

from trainlytics.errors import FileImportError
from trainlytics.importers.archive import gunzip
from trainlytics.importers.base import ParsedActivity
from trainlytics.importers.fit import parse_fit
from trainlytics.importers.gpx import parse_gpx
from trainlytics.importers.tcx import parse_tcx

__all__ = ["ACTIVITY_SUFFIXES", "activity_kind", "parse_activity_file"]

PARSERS: dict[str, Callable[[bytes, str | None], ParsedActivity]] = {
    ".fit": parse_fit,
    ".gpx": parse_gpx,
    ".tcx": parse_tcx,
}
ACTIVITY_SUFFIXES = tuple(PARSERS) + tuple(s + ".gz" for s in PARSERS)


def activity_kind(name: str) -> str | None:
    """``.fit``, ``.gpx`` or ``.tcx`` for an activity file name (gzipped or not), else None."""
    lower = name.lower().removesuffix(".gz")
    return next((s for s in PARSERS if lower.endswith(s)), None)


def parse_activity_file(data: bytes, name: str) -> ParsedActivity:
    """Parse one activity file; a ``.gz`` is decompressed first (the hash is of the content)."""
    kind = activity_kind(name)
    if kind is None:
        raise FileImportError(
            f"{name}: unsupported file type",
            hint="Trainlytics imports .fit, .gpx and .tcx files (optionally .gz), and Strava "
            "or Garmin Connect export archives (.zip or their unpacked folder)",
        )
    if name.lower().endswith(".gz"):
        data = gunzip(data, name)
    if not data.strip():
        raise FileImportError(f"{name}: the file is empty", hint="export it again")
    try:
        return PARSERS[kind](data, name)
    except FileImportError:
        raise
    except Exception as exc:
        # A file no parser rule foresaw is still one line, never the end of a folder's import.
        raise FileImportError(
            f"{name}: could not be read ({type(exc).__name__}: {exc})",
            hint="the file is damaged or uses a variant Trainlytics does not read; "
            "export it again from the device or service",
        ) from exc
