"""The demo's sample set: weeks of training as a Garmin Connect data export and a Strava bulk
export that overlap, written by the project itself (no downloaded data).

The athlete trains 4-5 times a week (runs, long runs, rides, indoor rides, swims, strength).
The watch records every session (Garmin export: summaries + uploaded FIT files); the phone also
records the outdoor runs and rides with the Strava app (Strava export: activities.csv + GPX
and gzipped TCX files, started a few seconds later, slightly different GPS distance), and the
Strava export holds a few Strava-only sessions (walks, a hike) and one entered by hand. The
shared sessions are the same workouts from two sources: the duplicate grouping must count them
once.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from trainlytics.demo.files import Workout, synthesize, write_fit, write_gpx, write_tcx

__all__ = ["SampleSet", "build_sample_set"]

# (weekday, sport, minutes, speed m/s, hr, power, cadence, outdoor, also on Strava, name)
WEEK_PLAN = [
    (1, "run", 45, 3.1, 145, None, 168, True, True, "Tempo run"),
    (2, "swim", 40, 0.9, 128, None, None, False, False, "Pool swim"),
    (3, "ride", 75, 8.2, 138, 205, 88, True, True, "Endurance ride"),
    (4, "weight_training", 45, 0.0, 112, None, None, False, False, "Strength"),
    (6, "run", 90, 2.9, 148, None, 166, True, True, "Long run"),
]
STRAVA_ONLY = [
    (0, "walk", 35, 1.4, 98, None, 110, "Evening walk"),
    (5, "hike", 150, 1.2, 118, None, 100, "Hike in the Monts d'Or"),
]
STRAVA_SPORT = {
    "run": "Run",
    "ride": "Ride",
    "walk": "Walk",
    "hike": "Hike",
    "swim": "Swim",
    "weight_training": "WeightTraining",
}
GARMIN_TYPE = {
    "run": "running",
    "ride": "road_biking",
    "swim": "lap_swimming",
    "weight_training": "strength_training",
}
LYON_OFFSET = 3600  # the athlete lives in Lyon (UTC+1 in winter)
CSV_HEADER = [
    "Activity ID", "Activity Date", "Activity Name", "Activity Type", "Activity Description",
    "Elapsed Time", "Distance", "Max Heart Rate", "Relative Effort", "Commute",
    "Activity Gear", "Filename", "Elapsed Time", "Moving Time", "Distance", "Max Speed",
    "Average Speed", "Elevation Gain", "Elevation Loss", "Average Heart Rate", "Average Watts",
    "Calories",
]  # fmt: skip


@dataclass(frozen=True)
class SampleSet:
    garmin_export: Path
    strava_export: Path
    sessions: int  # distinct workouts
    shared: int  # workouts in both exports
    garmin_activities: int
    strava_activities: int

    @property
    def paths(self) -> list[Path]:
        return [self.garmin_export, self.strava_export]


def _strava_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%b %d, %Y, %I:%M:%S %p").replace(" 0", " ", 1)


def _summary(activity_id: int, workout: Workout, garmin_type: str) -> dict[str, object]:
    moving = workout.elapsed
    record: dict[str, object] = {
        "activityId": activity_id,
        "name": workout.name,
        "activityType": garmin_type,
        "beginTimestamp": int(workout.start.timestamp() * 1000),
        "startTimeGmt": int(workout.start.timestamp() * 1000),
        "startTimeLocal": int((workout.start.timestamp() + workout.utc_offset) * 1000),
        "duration": workout.elapsed * 1000,
        "elapsedDuration": workout.elapsed * 1000,
        "movingDuration": moving * 1000,
        "distance": round(workout.distance * 100),
        "avgHr": round(workout.mean("heartrate") or 0),
        "maxHr": workout.maximum("heartrate"),
        "calories": round(workout.elapsed / 60 * 10),
    }
    if workout.distance:
        record["avgSpeed"] = workout.distance / moving / 10
    return record


def build_sample_set(
    folder: Path, *, weeks: int = 8, end: date | None = None, seed: int = 7, step: int = 5
) -> SampleSet:
    """Write ``garmin-connect-export.zip`` and ``strava-export.zip`` into ``folder``.

    The last week ends on ``end`` (default: today, UTC); ``step`` is the sampling interval in
    seconds of the generated tracks. Deterministic for a given ``seed`` and ``end``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    last = end or datetime.now(UTC).date()
    first_monday = last - timedelta(days=last.weekday() + 7 * (weeks - 1))
    garmin_summaries: list[dict[str, object]] = []
    fit_files: dict[str, bytes] = {}
    strava_rows: list[list[str]] = []
    strava_files: dict[str, bytes] = {}
    sessions = shared = 0
    activity_id = 9_100_000_000
    strava_id = 12_400_000_000

    def add_strava(workout: Workout, kind: str, sport: str) -> None:
        nonlocal strava_id
        strava_id += rng.randint(1000, 9000)
        if kind == "gpx":
            name, data = f"activities/{strava_id}.gpx", write_gpx(workout, creator="StravaGPX")
        else:
            name = f"activities/{strava_id}.tcx.gz"
            data = gzip.compress(write_tcx(workout, creator="Strava"), mtime=0)
        strava_files[name] = data
        distance = workout.distance
        strava_rows.append([
            str(strava_id), _strava_date(workout.start), workout.name, STRAVA_SPORT[sport], "",
            str(round(workout.elapsed)), f"{distance / 1000:.2f}",
            str(workout.maximum("heartrate") or ""), "", "false", "", name,
            str(round(workout.elapsed)), str(round(workout.elapsed)), f"{distance:.1f}",
            f"{workout.maximum('speed') or 0:.3f}", f"{distance / workout.elapsed:.3f}",
            f"{workout.ascent:.1f}", f"{workout.descent:.1f}",
            f"{workout.mean('heartrate') or 0:.1f}", "", "",
        ])  # fmt: skip

    for week in range(weeks):
        monday = first_monday + timedelta(weeks=week)
        build = 1 + 0.04 * week if week % 4 != 3 else 0.8  # three weeks up, one easier
        for (
            weekday,
            sport,
            minutes,
            speed,
            hr,
            power,
            cadence,
            outdoor,
            on_strava,
            name,
        ) in WEEK_PLAN:
            day = monday + timedelta(days=weekday)
            if day > last:
                continue
            hour = 17 if weekday < 5 else 8
            start = datetime(day.year, day.month, day.day, hour, rng.randint(0, 40), tzinfo=UTC)
            duration = round(minutes * 60 * build * rng.uniform(0.95, 1.05))
            seed_here = rng.randint(0, 10**6)
            watch = synthesize(
                sport, start, duration, speed=speed * rng.uniform(0.97, 1.03), heartrate=hr,
                power=power, cadence=cadence, origin=(45.764, 4.8357) if outdoor else None,
                bearing=rng.uniform(0, 360), step=step, seed=seed_here, name=name,
                utc_offset=LYON_OFFSET,
            )  # fmt: skip
            sessions += 1
            activity_id += rng.randint(10, 900)
            fit_files[f"demo@example.com_{activity_id}.fit"] = write_fit(watch)
            garmin_summaries.append(_summary(activity_id, watch, GARMIN_TYPE[sport]))
            if on_strava:
                # The phone started a few seconds later and measured a bit differently.
                phone = synthesize(
                    sport, start + timedelta(seconds=rng.randint(5, 40)),
                    duration - rng.randint(5, 40), speed=speed * rng.uniform(0.99, 1.01),
                    heartrate=hr, power=power, cadence=cadence, bearing=rng.uniform(0, 360),
                    step=step, seed=seed_here + 1, name=name, utc_offset=LYON_OFFSET,
                )  # fmt: skip
                add_strava(phone, "gpx" if sport == "run" else "tcx", sport)
                shared += 1
        for weekday, sport, minutes, speed, hr, power, cadence, name in STRAVA_ONLY:
            day = monday + timedelta(days=weekday)
            if day > last or (sport == "hike" and week % 2):
                continue
            start = datetime(day.year, day.month, day.day, 10, rng.randint(0, 50), tzinfo=UTC)
            walk = synthesize(
                sport, start, round(minutes * 60 * rng.uniform(0.9, 1.1)), speed=speed,
                heartrate=hr, power=power, cadence=cadence, bearing=rng.uniform(0, 360),
                step=step, seed=rng.randint(0, 10**6), name=name, hills=60.0,
            )  # fmt: skip
            add_strava(walk, "gpx", sport)
            sessions += 1
    # One session entered by hand on Strava (no file): a yoga class.
    yoga_day = last - timedelta(days=3)
    strava_rows.append([
        str(strava_id + 1), _strava_date(datetime(yoga_day.year, yoga_day.month, yoga_day.day,
                                                  18, 30, tzinfo=UTC)),
        "Yoga class", "Yoga", "Entered by hand", "3600", "0.00", "", "", "false", "", "",
        "3600", "3600", "0.0", "", "", "", "", "", "", "180",
    ])  # fmt: skip
    sessions += 1

    garmin_path = folder / "garmin-connect-export.zip"
    uploads = io.BytesIO()
    with zipfile.ZipFile(uploads, "w", zipfile.ZIP_DEFLATED) as inner:
        for name, data in sorted(fit_files.items()):
            inner.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
    with zipfile.ZipFile(garmin_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            zipfile.ZipInfo(
                "DI_CONNECT/DI-Connect-Fitness/demo@example.com_0_summarizedActivities.json",
                (2026, 1, 1, 0, 0, 0),
            ),
            json.dumps([{"summarizedActivitiesExport": garmin_summaries}], indent=1),
        )
        archive.writestr(
            zipfile.ZipInfo(
                "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip",
                (2026, 1, 1, 0, 0, 0),
            ),
            uploads.getvalue(),
        )
    strava_path = folder / "strava-export.zip"
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(CSV_HEADER)
    writer.writerows(strava_rows)
    with zipfile.ZipFile(strava_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("activities.csv", (2026, 1, 1, 0, 0, 0)), table.getvalue())
        for name, data in sorted(strava_files.items()):
            archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
    return SampleSet(
        garmin_path, strava_path, sessions, shared, len(garmin_summaries), len(strava_rows)
    )
