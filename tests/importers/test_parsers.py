"""FIT, GPX and TCX files written by the project, read back within stated tolerances.

Tolerances (the files are exact, the formats are not):
- FIT and TCX record distance: within 0.01 % (FIT stores cm, TCX 2 decimals);
  GPX has only positions: within 0.5 % (7-decimal coordinates, great-circle steps);
- durations within 1 s (FIT stores ms, GPX and TCX whole seconds);
- heart rate: FIT and TCX store whole-bpm summaries, so the average is within 0.5 bpm of the
  samples' mean, the maximum exact; power average within 0.5 W, maximum exact;
- cadence within 1 per minute of the samples' mean (runs: one leg, as files store it);
- elevation gain within 5 % or 3 m (GPX/TCX store decimetres, FIT 0.2 m).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable

import pytest

from tests.importers.conftest import START, make_ride, make_run
from trainlytics.demo.files import Workout, write_fit, write_gpx, write_tcx
from trainlytics.errors import FileImportError
from trainlytics.importers.base import ParsedActivity
from trainlytics.importers.files import parse_activity_file

WRITERS: dict[str, Callable[[Workout], bytes]] = {
    ".fit": write_fit,
    ".gpx": write_gpx,
    ".tcx": write_tcx,
}
DISTANCE_TOLERANCE = {".fit": 1e-4, ".gpx": 5e-3, ".tcx": 1e-4}


def parse(workout: Workout, suffix: str) -> ParsedActivity:
    return parse_activity_file(WRITERS[suffix](workout), f"workout{suffix}")


def close(actual: float | None, expected: float, tolerance: float) -> bool:
    return actual is not None and abs(actual - expected) <= tolerance


@pytest.mark.parametrize("suffix", [".fit", ".gpx", ".tcx"])
@pytest.mark.parametrize("make", [make_run, make_ride], ids=["run", "ride"])
def test_summaries_match_the_written_workout(suffix: str, make: Callable[[], Workout]) -> None:
    workout = make()
    parsed = parse(workout, suffix)

    assert parsed.start_time == START
    assert close(parsed.distance, workout.distance, workout.distance * DISTANCE_TOLERANCE[suffix])
    assert close(parsed.elapsed_time, workout.elapsed, 1.0)
    assert close(parsed.moving_time, workout.elapsed, 1.0)
    assert close(parsed.average_heartrate, workout.mean("heartrate") or 0, 0.5)
    assert parsed.max_heartrate == workout.maximum("heartrate")
    # Files store one leg for foot sports; the importer passes that on (the SQL doubles it).
    per_leg = 2 if workout.sport in ("run", "walk", "hike", "trail_run") else 1
    assert close(parsed.average_cadence, (workout.mean("cadence") or 0) / per_leg, 1.0)
    assert close(parsed.elevation_gain, workout.ascent, max(3.0, workout.ascent * 0.05))
    assert parsed.average_speed is not None
    assert close(parsed.average_speed, workout.distance / workout.elapsed, 0.05)
    if workout.mean("power") is not None:
        assert close(parsed.average_watts, workout.mean("power") or 0, 0.5)
        assert parsed.max_watts == workout.maximum("power")
    else:
        assert parsed.average_watts is None


def test_fit_sport_offset_and_device_come_from_the_file() -> None:
    parsed = parse(make_run(), ".fit")

    assert (parsed.sport, parsed.sub_sport) == ("running", "generic")
    assert parsed.utc_offset == 7200
    assert parsed.device_name == "garmin fr945"
    assert parsed.samples == 1801


def test_gzipped_file_is_the_same_activity_as_the_plain_one() -> None:
    data = write_gpx(make_run())
    plain = parse_activity_file(data, "run.gpx")
    zipped = parse_activity_file(gzip.compress(data), "run.gpx.gz")

    assert zipped.sha256 == plain.sha256
    assert zipped.distance == plain.distance


def test_a_different_file_of_the_same_workout_has_another_hash() -> None:
    workout = make_run()
    assert parse(workout, ".fit").sha256 != parse(workout, ".tcx").sha256


def _truncated_fit() -> bytes:
    return write_fit(make_run(duration=300))[:-200]


def _flipped_fit() -> bytes:
    data = bytearray(write_fit(make_run(duration=300)))
    data[400] ^= 0xFF
    return bytes(data)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<gpx version="1.1"><trk><name>&lol2;</name></trk></gpx>"""


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("stub.fit", write_fit(make_run(duration=300))[:100], "nothing usable"),
        ("garbage.fit", b"this is not a fit file at all", "not a readable FIT file"),
        ("empty.gpx", b"", "empty"),
        ("broken.gpx", write_gpx(make_run(duration=60))[:-40], "not well-formed XML"),
        ("bomb.gpx", BOMB, "refused XML"),
        (
            "untimed.gpx",
            write_gpx(make_run(duration=60))
            .replace(b"<time>", b"<x>")
            .replace(b"</time>", b"</x>"),
            "no timestamps",
        ),
        ("course.tcx", b"<TrainingCenterDatabase/>", "no TCX activity"),
        ("bad.gz.gpx.gz", b"not gzip", "not a readable gzip file"),
        ("notes.txt", b"hello", "unsupported file type"),
    ],
)
def test_corrupt_or_unsupported_files_are_rejected_cleanly(
    name: str, data: bytes, message: str
) -> None:
    with pytest.raises(FileImportError) as caught:
        parse_activity_file(data, name)
    assert message in caught.value.message
    assert name in caught.value.message


@pytest.mark.parametrize(
    ("data", "summary_from", "reason"),
    [(_truncated_fit(), "records", "FitEOFError"), (_flipped_fit(), "session", "FitCRCError")],
    ids=["truncated", "flipped-byte"],
)
def test_damaged_fit_is_recovered_and_marked(data: bytes, summary_from: str, reason: str) -> None:
    parsed = parse_activity_file(data, "damaged.fit")

    recovered = parsed.extras["recovered"]
    assert recovered["summary_from"] == summary_from
    assert reason in recovered["reason"]
    assert parsed.start_time == START
    assert (parsed.samples or 0) > 250
    assert (parsed.elapsed_time or 0) > 250


def test_clean_fit_is_not_marked_recovered() -> None:
    assert "recovered" not in parse(make_run(), ".fit").extras
