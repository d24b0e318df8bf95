"""GPS track rules against the device's own totals, on the real files of tests/fixtures/files.

Each FIT file's records are summarised as a GPX of the same activity would be (positions, times
and altitude only: no recorded distance or speed, no session) with the importer's rules
(trainlytics.importers.base.summarize_track), and compared with the totals the device computed
itself (session ascent, max speed, timer time). Prints each deviation in %; the tolerances the
corpus test holds are 10 % (ascent, max speed) and 3 % (moving time vs timer time).

    .venv/bin/python bench/gps_rules.py
"""

from __future__ import annotations

from pathlib import Path

from trainlytics.importers.base import TrackPoint, clean_speeds, summarize_track
from trainlytics.importers.fit import _read

FILES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "files"
NAMES = [
    "Edge810-Vector-2013-08-16-15-35-10.fit",
    "garmin-edge-500-activity.fit",
    "activity-small-fenix2-run.fit",
    "activity-large-fenxi2-multisport.fit",
    "garmin-fenix-5-run.fit",
    "garmin-fenix-5-bike.fit",
]


def _pct(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "-"
    return f"{(value - reference) / reference * 100:+.1f} % ({value:.1f} vs {reference:.1f})"


def main() -> None:
    for name in NAMES:
        found, _ = _read((FILES / name).read_bytes())
        track = [
            TrackPoint(time=p.time, lat=p.lat, lon=p.lon, elevation=p.elevation)
            for p in found.points
        ]
        summary = summarize_track(track)
        ascent = sum(s.get("total_ascent") or 0 for s in found.sessions)
        speeds = [
            v
            for s in found.sessions
            if (v := s.get("enhanced_max_speed") or s.get("max_speed")) is not None
        ]
        recorded = [p.speed for p in found.points if p.speed is not None]
        device_max = max(speeds) if speeds else None
        recorded_max = max(clean_speeds(recorded)) if recorded else None
        timer = sum(s.get("total_timer_time") or 0 for s in found.sessions)
        print(name)
        print(f"  elevation gain    {_pct(summary.elevation_gain, ascent)}")
        print(f"  max speed         {_pct(summary.max_speed, device_max)} (session)")
        print(f"                    {_pct(summary.max_speed, recorded_max)} (recorded, filtered)")
        print(f"  moving vs timer   {_pct(summary.moving_time, timer)}")


if __name__ == "__main__":
    main()
