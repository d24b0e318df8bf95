"""File import speed and memory: the importer against the parsing libraries alone, same run.

Generates (never commits) two big activity files with the project's own writer
(trainlytics.demo.files) in a temporary directory:

- a FIT file of ``--fit-records`` one-second records (default 30,000: the size of an Ironman
  recorded at 1 s) with position, altitude, distance, speed, heart rate, cadence and power;
- a GPX file of ``--gpx-points`` track points (default 100,000) with elevation, time, heart
  rate and cadence extensions.

Each measurement runs in a fresh Python process (peak RSS = its ``VmHWM``), ``--repeat``
times; the median is reported. Times are the CPU time of that process (``time.process_time``),
the figure that does not depend on what else runs on a shared 2-core machine; wall-clock
times are printed beside them:

- **fit_reference**: fitdecode alone, every frame of the file read (``FitReader`` defaults,
  CRC checked) - the library's own parse time;
- **fit_import**: ``parse_activity_file`` (strict fitdecode pass, records to samples, session
  summary, track rules) and ``to_payload()`` - everything the import does before the SQL call;
  **ratio = fit_import / fit_reference** (target <= 2);
- **gpx_import**: the same for the GPX file (target < 3 s and < 200 MB peak RSS);
- **gpx_reference**: ``gpxpy.parse`` of the same file (the library the importer used before),
  for context; ratio = gpx_import / gpx_reference.

    .venv/bin/python bench/file_import.py [--fit-records 30000] [--gpx-points 100000]
                                          [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

CHILD = r"""
import json, sys, time
kind, path = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
if kind == "fit_reference":
    import fitdecode
    import io
    began, cpu = time.perf_counter(), time.process_time()
    with fitdecode.FitReader(io.BytesIO(data)) as reader:
        frames = sum(1 for _ in reader)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    extra = {"frames": frames}
elif kind == "baseline":
    from trainlytics.importers.base import zone_at
    from trainlytics.importers.files import parse_activity_file
    began, cpu = time.perf_counter(), time.process_time()
    zone_at(45.76, 4.84)  # loads tzfpy's boundary data
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    extra = {}
elif kind == "gpx_reference":
    import gpxpy
    began, cpu = time.perf_counter(), time.process_time()
    document = gpxpy.parse(data.decode("utf-8"))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    extra = {"points": sum(len(s.points) for t in document.tracks for s in t.segments)}
else:
    from trainlytics.importers.files import parse_activity_file
    began, cpu = time.perf_counter(), time.process_time()
    parsed = parse_activity_file(data, path)
    payload = parsed.to_payload()
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    extra = {"samples": parsed.samples, "distance": payload.get("distance")}
# VmHWM: this process image's own peak (ru_maxrss would carry the parent's over exec).
rss = next(
    int(line.split()[1]) * 1024
    for line in open("/proc/self/status")
    if line.startswith("VmHWM:")
)
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_rss": rss, **extra}))
"""


def _measure(kind: str, path: Path, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", CHILD, kind, str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "peak_rss_mb": statistics.median(r["peak_rss"] for r in runs) / 2**20,
        **{k: v for k, v in runs[0].items() if k not in ("seconds", "cpu", "peak_rss")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-records", type=int, default=30_000)
    parser.add_argument("--gpx-points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from trainlytics.demo.files import synthesize, write_fit, write_gpx

    start = datetime(2026, 6, 14, 5, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="trainlytics-bench-files-") as folder:
        fit_path = Path(folder) / "ironman.fit"
        gpx_path = Path(folder) / "long.gpx"
        fit_path.write_bytes(
            write_fit(
                synthesize(
                    "ride", start, args.fit_records - 1, speed=9.0, power=210, cadence=88, seed=1
                )
            )
        )
        gpx_path.write_bytes(
            write_gpx(synthesize("hike", start, args.gpx_points - 1, speed=1.3, seed=2))
        )
        results = {
            "baseline": _measure("baseline", fit_path, 1),
            "fit_reference": _measure("fit_reference", fit_path, args.repeat),
            "fit_import": _measure("fit_import", fit_path, args.repeat),
            "gpx_reference": _measure("gpx_reference", gpx_path, args.repeat),
            "gpx_import": _measure("gpx_import", gpx_path, args.repeat),
        }
        sizes = {"fit_bytes": fit_path.stat().st_size, "gpx_bytes": gpx_path.stat().st_size}

    r = results
    fit_ratio = r["fit_import"]["cpu"] / r["fit_reference"]["cpu"]
    gpx_ratio = r["gpx_import"]["cpu"] / r["gpx_reference"]["cpu"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; times are CPU seconds of the measuring process "
        "(wall clock in brackets: it includes waiting for a shared core)"
    )
    print(
        f"FIT {args.fit_records} records ({sizes['fit_bytes'] / 2**20:.1f} MiB): fitdecode alone "
        f"{r['fit_reference']['cpu']:.2f} s [{r['fit_reference']['seconds']:.2f}], import "
        f"{r['fit_import']['cpu']:.2f} s [{r['fit_import']['seconds']:.2f}] -> ratio "
        f"{fit_ratio:.2f} (target <= 2); peak RSS {r['fit_import']['peak_rss_mb']:.0f} MB"
    )
    print(
        f"GPX {args.gpx_points} points ({sizes['gpx_bytes'] / 2**20:.1f} MiB): import "
        f"{r['gpx_import']['cpu']:.2f} s [{r['gpx_import']['seconds']:.2f}] (target < 3 s), "
        f"peak RSS {r['gpx_import']['peak_rss_mb']:.0f} MB (target < 200 MB); gpxpy.parse "
        f"alone {r['gpx_reference']['cpu']:.2f} s [{r['gpx_reference']['seconds']:.2f}], "
        f"{r['gpx_reference']['peak_rss_mb']:.0f} MB -> ratio {gpx_ratio:.2f}"
    )
    print(
        f"baseline: the interpreter with the importers imported and one zone lookup done "
        f"peaks at {r['baseline']['peak_rss_mb']:.0f} MB (included in the figures above); "
        "the SQL ingest of the one resulting row is not timed"
    )
    output = Path(__file__).parent / "results" / "file_import.json"
    output.parent.mkdir(exist_ok=True)
    output.write_text(json.dumps({"args": vars(args), **sizes, **results}, indent=2))
    ok = fit_ratio <= 2 and r["gpx_import"]["cpu"] < 3 and r["gpx_import"]["peak_rss_mb"] < 200
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
