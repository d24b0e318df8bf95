"""Time a pytest run on a shared machine: wall time, the load around it, and the CPU it used.

    .venv/bin/python bench/test_suite_timing.py --label "db, before" -- tests/db -q
    .venv/bin/python bench/test_suite_timing.py --repo /path/to/other/checkout -- -q

Wall time on a machine shared with other work depends on that work, so each run also reports
the 1-minute load average sampled every 2 s while it ran (min / mean / max) and the CPU time it
consumed: the pytest process and its children (``getrusage``), plus the embedded PostgreSQL
servers the run started (found by the run's own ``TMPDIR``, which ``tempfile.mkdtemp`` puts their
data directories under; a postmaster's cumulative time includes its exited backends). CPU
seconds barely depend on the load, so they compare runs made at different loads; wall seconds
are what a developer waits. Prints one Markdown table row and appends a JSON line to
``bench/results/test_suite_timing.jsonl`` (gitignored); ``--log FILE`` keeps pytest's output.
Run without ``--basetemp``: pytest's temporary directories then sit under the run's TMPDIR, so
the embedded servers that tests start for themselves are counted too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "test_suite_timing.jsonl"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Sampler:
    """Polls the load average and the CPU time of postmasters whose command line names
    ``marker`` (the run's TMPDIR)."""

    marker: str
    loads: list[float] = field(default_factory=list)
    server_cpu: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def _postmasters(self) -> dict[int, float]:
        found: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if self.marker not in cmdline or " -D " not in cmdline:
                    continue
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Fields after the command name: utime, stime, cutime, cstime are 14-17 (1-based).
            fields = stat.rsplit(")", 1)[1].split()
            found[int(entry.name)] = sum(int(f) for f in fields[11:15]) / CLOCK_TICKS
        return found

    def run(self) -> None:
        last_load = 0.0
        while not self.stop.is_set():
            self.server_cpu.update(self._postmasters())
            now = time.monotonic()
            if now - last_load >= 2:
                self.loads.append(os.getloadavg()[0])
                last_load = now
            self.stop.wait(0.5)


@dataclass
class Result:
    label: str
    command: str
    exit_code: int
    wall_s: float
    pytest_cpu_s: float
    server_cpu_s: float
    load_min: float
    load_mean: float
    load_max: float
    cores: int
    summary: str
    started: str

    def row(self) -> str:
        return (
            f"| {self.label} | {self.wall_s:.0f} | {self.pytest_cpu_s + self.server_cpu_s:.0f}"
            f" ({self.pytest_cpu_s:.0f} + {self.server_cpu_s:.0f}) | {self.load_min:.1f} /"
            f" {self.load_mean:.1f} / {self.load_max:.1f} | {self.summary} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--repo", type=Path, default=HERE.parent, help="checkout to run in")
    parser.add_argument(
        "--pytest",
        default=None,
        help="pytest executable (default: <this checkout>/.venv/bin/pytest)",
    )
    parser.add_argument("--log", type=Path, default=None, help="write pytest's output there")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="pytest arguments, after --")
    options = parser.parse_args()
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    pytest = options.pytest or str(HERE.parent / ".venv" / "bin" / "pytest")
    command = [pytest, "-p", "no:cacheprovider", *args]

    tmpdir = tempfile.mkdtemp(prefix="suite-timing-")
    sampler = Sampler(marker=tmpdir)
    thread = threading.Thread(target=sampler.run, daemon=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    thread.start()
    t0 = time.monotonic()
    proc = subprocess.run(  # noqa: S603 - the command line this tool was given
        command,
        cwd=options.repo,
        env={**os.environ, "TMPDIR": tmpdir},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - t0
    sampler.stop.set()
    thread.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(tmpdir, ignore_errors=True)

    if options.log is not None:
        options.log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else "(no output)"
    loads = sampler.loads or [os.getloadavg()[0]]
    result = Result(
        label=options.label,
        command=" ".join(command),
        exit_code=proc.returncode,
        wall_s=round(wall, 1),
        pytest_cpu_s=round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1
        ),
        server_cpu_s=round(sum(sampler.server_cpu.values()), 1),
        load_min=min(loads),
        load_mean=round(sum(loads) / len(loads), 2),
        load_max=max(loads),
        cores=os.cpu_count() or 0,
        summary=summary,
        started=started,
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(result)) + "\n")
    if proc.returncode not in (0, 5):
        sys.stdout.write(proc.stdout[-5000:] + proc.stderr[-2000:])
    print("| run | wall s | CPU s (pytest + servers) | load 1-min min / mean / max | pytest |")
    print("|---|---:|---:|---|---|")
    print(result.row())
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
