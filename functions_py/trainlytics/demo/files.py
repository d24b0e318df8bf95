"""Activity files the project writes itself: synthetic workouts as FIT, GPX and TCX bytes.

Used by the demo's sample set and by the importer tests (files whose true totals are known).
The FIT encoder is small and follows the FIT protocol (14-byte header, definition and data
messages, little-endian, CRC-16 of the FIT SDK over header and data); it writes the messages an
activity file needs: file_id, record, session and activity.

API: ``synthesize(...) -> Workout`` (samples along a straight course, so distances between
positions equal the recorded distances), ``write_fit``, ``write_gpx``, ``write_tcx``.
"""

from __future__ import annotations

import itertools
import math
import random
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

__all__ = ["FIT_SPORTS", "Sample", "Workout", "synthesize", "write_fit", "write_gpx", "write_tcx"]

FIT_EPOCH = datetime(1989, 12, 31, tzinfo=UTC)
EARTH_RADIUS_M = 6_371_008.8

# Canonical sport -> (FIT sport, FIT sub_sport, TCX Sport, GPX type, foot sport)
FIT_SPORTS: dict[str, tuple[int, int, str, str, bool]] = {
    "run": (1, 0, "Running", "running", True),
    "trail_run": (1, 3, "Running", "running", True),
    "ride": (2, 7, "Biking", "cycling", False),
    "mountain_bike_ride": (2, 8, "Biking", "cycling", False),
    "swim": (5, 17, "Other", "swimming", False),
    "walk": (11, 0, "Other", "walking", True),
    "hike": (17, 0, "Other", "hiking", True),
    "weight_training": (10, 20, "Other", "training", False),
}


@dataclass
class Sample:
    time: datetime
    lat: float | None
    lon: float | None
    elevation: float | None
    distance: float
    heartrate: int | None
    power: int | None
    cadence: int | None  # per minute; running: steps of both feet
    speed: float


@dataclass
class Workout:
    sport: str
    start: datetime
    samples: list[Sample]
    name: str = "Workout"
    utc_offset: int = 0
    device: tuple[int, int] = (1, 3113)  # FIT manufacturer garmin, a product number
    extras: dict[str, float] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return (self.samples[-1].time - self.samples[0].time).total_seconds()

    @property
    def distance(self) -> float:
        return self.samples[-1].distance

    def mean(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return sum(values) / len(values) if values else None

    def maximum(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return max(values) if values else None

    @property
    def ascent(self) -> float:
        elevations = [s.elevation for s in self.samples if s.elevation is not None]
        return sum(max(0.0, b - a) for a, b in itertools.pairwise(elevations))

    @property
    def descent(self) -> float:
        elevations = [s.elevation for s in self.samples if s.elevation is not None]
        return sum(max(0.0, a - b) for a, b in itertools.pairwise(elevations))


def _destination(lat: float, lon: float, bearing: float, metres: float) -> tuple[float, float]:
    d = metres / EARTH_RADIUS_M
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), math.degrees(l2)


def synthesize(
    sport: str,
    start: datetime,
    duration: int,
    *,
    speed: float,
    heartrate: int | None = 140,
    power: int | None = None,
    cadence: int | None = None,
    origin: tuple[float, float] | None = (45.764, 4.8357),
    bearing: float = 60.0,
    step: int = 1,
    hills: float = 20.0,
    seed: int = 0,
    name: str = "Workout",
    utc_offset: int = 0,
) -> Workout:
    """A workout of ``duration`` s sampled every ``step`` s, with gently varying speed, heart
    rate, power, cadence and a sine-shaped elevation profile of amplitude ``hills`` m.
    ``origin=None`` gives an indoor workout (no positions, no elevation)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    samples: list[Sample] = []
    distance = 0.0
    for t in range(0, duration + 1, step):
        wave = math.sin(t / 300.0)
        v = max(0.0, speed * (1 + 0.08 * wave + rng.uniform(-0.03, 0.03))) if speed else 0.0
        if t:
            distance += v * step
        lat = lon = elevation = None
        if origin is not None:
            lat, lon = _destination(origin[0], origin[1], bearing, distance)
            elevation = 200 + hills * math.sin(distance / 1500.0)
        samples.append(
            Sample(
                time=start + timedelta(seconds=t),
                lat=lat,
                lon=lon,
                elevation=elevation,
                distance=distance,
                heartrate=round(heartrate + 12 * wave + 8 * min(1.0, t / 600) + rng.uniform(-3, 3))
                if heartrate
                else None,
                power=max(0, round(power * (1 + 0.15 * wave + rng.uniform(-0.1, 0.1))))
                if power
                else None,
                cadence=round(cadence + 3 * wave + rng.uniform(-2, 2)) if cadence else None,
                speed=v,
            )
        )
    return Workout(sport, start, samples, name=name, utc_offset=utc_offset)


# --- FIT ----------------------------------------------------------------------------------------

_CRC_TABLE = (
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
    0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
)  # fmt: skip


def fit_crc(data: bytes, crc: int = 0) -> int:
    for byte in data:
        tmp = _CRC_TABLE[crc & 0xF]
        crc = ((crc >> 4) & 0x0FFF) ^ tmp ^ _CRC_TABLE[byte & 0xF]
        tmp = _CRC_TABLE[crc & 0xF]
        crc = ((crc >> 4) & 0x0FFF) ^ tmp ^ _CRC_TABLE[(byte >> 4) & 0xF]
    return crc


# base type id -> (struct format, invalid value)
_BASE = {
    0x00: ("B", 0xFF),  # enum
    0x02: ("B", 0xFF),  # uint8
    0x84: ("H", 0xFFFF),  # uint16
    0x85: ("i", 0x7FFFFFFF),  # sint32
    0x86: ("I", 0xFFFFFFFF),  # uint32
    0x8C: ("I", 0x00000000),  # uint32z
}

# global message number -> [(field number, base type)]
_MESSAGES: dict[int, list[tuple[int, int]]] = {
    0: [(0, 0x00), (1, 0x84), (2, 0x84), (3, 0x8C), (4, 0x86)],  # file_id
    20: [(253, 0x86), (0, 0x85), (1, 0x85), (2, 0x84), (3, 0x02), (4, 0x02), (5, 0x86),
         (6, 0x84), (7, 0x84)],  # record
    18: [(253, 0x86), (2, 0x86), (0, 0x00), (1, 0x00), (5, 0x00), (6, 0x00), (7, 0x86),
         (8, 0x86), (9, 0x86), (11, 0x84), (14, 0x84), (15, 0x84), (16, 0x02), (17, 0x02),
         (18, 0x02), (19, 0x02), (20, 0x84), (21, 0x84), (22, 0x84), (23, 0x84),
         (34, 0x84)],  # session
    34: [(253, 0x86), (0, 0x86), (1, 0x84), (2, 0x00), (3, 0x00), (4, 0x00), (5, 0x86)],  # activity
}  # fmt: skip
_LOCAL = {0: 0, 20: 1, 18: 2, 34: 3}


def _fit_time(moment: datetime) -> int:
    return int((moment - FIT_EPOCH).total_seconds())


def _semicircles(degrees: float | None) -> int | None:
    return None if degrees is None else round(degrees * 2**31 / 180)


def _scaled(value: float | None, scale: float, offset: float = 0.0) -> int | None:
    return None if value is None else round((value + offset) * scale)


def write_fit(workout: Workout) -> bytes:
    """The workout as a FIT activity file (bytes, CRC included)."""
    body = bytearray()

    def define(global_number: int) -> None:
        fields = _MESSAGES[global_number]
        body.extend(
            struct.pack("<BBBHB", 0x40 | _LOCAL[global_number], 0, 0, global_number, len(fields))
        )
        for number, base in fields:
            body.extend(struct.pack("<BBB", number, struct.calcsize(_BASE[base][0]), base))

    def data(global_number: int, values: list[int | None]) -> None:
        fields = _MESSAGES[global_number]
        body.append(_LOCAL[global_number])
        for (_, base), value in zip(fields, values, strict=True):
            fmt, invalid = _BASE[base]
            body.extend(struct.pack("<" + fmt, invalid if value is None else value))

    fit_sport, fit_sub, _, _, foot = FIT_SPORTS[workout.sport]
    first, last = workout.samples[0], workout.samples[-1]
    define(0)
    data(0, [4, workout.device[0], workout.device[1], 12345, _fit_time(first.time)])
    define(20)
    for s in workout.samples:
        cadence = s.cadence // 2 if foot and s.cadence is not None else s.cadence
        data(20, [
            _fit_time(s.time), _semicircles(s.lat), _semicircles(s.lon),
            _scaled(s.elevation, 5, 500), s.heartrate, cadence, _scaled(s.distance, 100),
            _scaled(s.speed, 1000), s.power,
        ])  # fmt: skip
    define(18)
    elapsed = workout.elapsed
    avg_cadence = workout.mean("cadence")
    max_cadence = workout.maximum("cadence")
    if foot:
        avg_cadence = avg_cadence / 2 if avg_cadence is not None else None
        max_cadence = max_cadence / 2 if max_cadence is not None else None
    moving = sum(
        (b.time - a.time).total_seconds()
        for a, b in zip(workout.samples, workout.samples[1:], strict=False)
        if b.speed > 0.3
    ) if first.lat is not None else elapsed  # fmt: skip
    data(18, [
        _fit_time(last.time), _fit_time(first.time), 9, 1, fit_sport, fit_sub,
        _scaled(elapsed, 1000), _scaled(moving, 1000), _scaled(workout.distance, 100),
        round(workout.extras.get("calories", elapsed / 60 * 10)),
        _scaled(workout.distance / moving if moving else 0, 1000),
        _scaled(workout.maximum("speed"), 1000),
        _scaled(workout.mean("heartrate"), 1), _scaled(workout.maximum("heartrate"), 1),
        _scaled(avg_cadence, 1), _scaled(max_cadence, 1),
        _scaled(workout.mean("power"), 1), _scaled(workout.maximum("power"), 1),
        round(workout.ascent) if first.elevation is not None else None,
        round(workout.descent) if first.elevation is not None else None,
        None,
    ])  # fmt: skip
    define(34)
    data(34, [
        _fit_time(last.time), _scaled(elapsed, 1000), 1, 0, 26, 1,
        _fit_time(last.time) + workout.utc_offset,
    ])  # fmt: skip
    header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(body), b".FIT")
    header += struct.pack("<H", fit_crc(header))
    content = header + bytes(body)
    return content + struct.pack("<H", fit_crc(content))


# --- GPX and TCX --------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_gpx(workout: Workout, creator: str = "Trainlytics sample") -> bytes:
    """The workout as GPX 1.1 with Garmin TrackPointExtension heart rate and cadence."""
    _, _, _, gpx_type, foot = FIT_SPORTS[workout.sport]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<gpx version="1.1" creator="{escape(creator)}" xmlns="http://www.topografix.com/GPX/1/1"'
        ' xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">',
        f"<metadata><time>{_iso(workout.start)}</time></metadata>",
        f"<trk><name>{escape(workout.name)}</name><type>{gpx_type}</type><trkseg>",
    ]
    for s in workout.samples:
        if s.lat is None or s.lon is None:
            continue
        ext = []
        if s.heartrate is not None:
            ext.append(f"<gpxtpx:hr>{s.heartrate}</gpxtpx:hr>")
        if s.cadence is not None:
            cadence = s.cadence // 2 if foot else s.cadence
            ext.append(f"<gpxtpx:cad>{cadence}</gpxtpx:cad>")
        extensions = ""
        if ext:
            extensions = (
                "<extensions><gpxtpx:TrackPointExtension>"
                + "".join(ext)
                + "</gpxtpx:TrackPointExtension>"
                + (f"<power>{s.power}</power>" if s.power is not None else "")
                + "</extensions>"
            )
        lines.append(
            f'<trkpt lat="{s.lat:.7f}" lon="{s.lon:.7f}"><ele>{s.elevation:.1f}</ele>'
            f"<time>{_iso(s.time)}</time>{extensions}</trkpt>"
        )
    lines.append("</trkseg></trk></gpx>")
    return "\n".join(lines).encode()


def write_tcx(workout: Workout, creator: str = "Trainlytics sample") -> bytes:
    """The workout as TCX: one lap, trackpoints with distance, heart rate, cadence, power."""
    _, _, tcx_sport, _, foot = FIT_SPORTS[workout.sport]
    first = workout.samples[0]
    hr_avg, hr_max = workout.mean("heartrate"), workout.maximum("heartrate")
    lap = [
        f'<Lap StartTime="{_iso(first.time)}">',
        f"<TotalTimeSeconds>{workout.elapsed:.1f}</TotalTimeSeconds>",
        f"<DistanceMeters>{workout.distance:.2f}</DistanceMeters>",
        f"<MaximumSpeed>{workout.maximum('speed') or 0:.3f}</MaximumSpeed>",
        f"<Calories>{round(workout.extras.get('calories', workout.elapsed / 60 * 10))}</Calories>",
    ]
    if hr_avg is not None and hr_max is not None:
        lap.append(f"<AverageHeartRateBpm><Value>{round(hr_avg)}</Value></AverageHeartRateBpm>")
        lap.append(f"<MaximumHeartRateBpm><Value>{round(hr_max)}</Value></MaximumHeartRateBpm>")
    lap.append("<Intensity>Active</Intensity><TriggerMethod>Manual</TriggerMethod><Track>")
    for s in workout.samples:
        point = [f"<Trackpoint><Time>{_iso(s.time)}</Time>"]
        if s.lat is not None and s.lon is not None:
            point.append(
                f"<Position><LatitudeDegrees>{s.lat:.7f}</LatitudeDegrees>"
                f"<LongitudeDegrees>{s.lon:.7f}</LongitudeDegrees></Position>"
            )
        if s.elevation is not None:
            point.append(f"<AltitudeMeters>{s.elevation:.1f}</AltitudeMeters>")
        point.append(f"<DistanceMeters>{s.distance:.2f}</DistanceMeters>")
        if s.heartrate is not None:
            point.append(f"<HeartRateBpm><Value>{s.heartrate}</Value></HeartRateBpm>")
        tpx = [f"<ns3:Speed>{s.speed:.3f}</ns3:Speed>"]
        if s.cadence is not None and not foot:
            point.append(f"<Cadence>{s.cadence}</Cadence>")
        elif s.cadence is not None:
            tpx.append(f"<ns3:RunCadence>{s.cadence // 2}</ns3:RunCadence>")
        if s.power is not None:
            tpx.append(f"<ns3:Watts>{s.power}</ns3:Watts>")
        point.append("<Extensions><ns3:TPX>" + "".join(tpx) + "</ns3:TPX></Extensions>")
        point.append("</Trackpoint>")
        lap.append("".join(point))
    lap.append("</Track></Lap>")
    document = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"'
        ' xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2">',
        f'<Activities><Activity Sport="{tcx_sport}"><Id>{_iso(first.time)}</Id>',
        *lap,
        f"<Creator><Name>{escape(creator)}</Name></Creator>",
        "</Activity></Activities></TrainingCenterDatabase>",
    ]
    return "\n".join(document).encode()
