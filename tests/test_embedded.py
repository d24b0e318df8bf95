"""Database resolution: explicit URL, then DATABASE_URL, then the per-user embedded server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from typer.testing import CliRunner

from trainlytics.cli.main import app
from trainlytics.db.database import connect, redact_url, resolve_database_url
from trainlytics.db.embedded import (
    DATA_DIR_ENV,
    HANDLE_FILE,
    default_data_dir,
    prune_stale_handles,
    stop_embedded,
)
from trainlytics.errors import DatabaseUnavailableError


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    yield tmp_path
    stop_embedded(tmp_path)


def test_explicit_url_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-env/db")
    assert resolve_database_url("postgresql://explicit/db") == "postgresql://explicit/db"
    assert resolve_database_url() == "postgresql://from-env/db"


def test_data_dir_comes_from_the_environment(data_dir: Path) -> None:
    assert default_data_dir() == data_dir


def test_without_a_url_the_embedded_server_keeps_data_between_runs(data_dir: Path) -> None:
    url = resolve_database_url()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table kept (id int)")
    stop_embedded(data_dir)

    assert (data_dir / "postgres" / "PG_VERSION").is_file()
    with psycopg.connect(resolve_database_url()) as conn:
        row = conn.execute("select to_regclass('public.kept') is not null").fetchone()
    assert row == (True,)


def test_cli_uses_the_embedded_server_by_default(data_dir: Path, tmp_path: Path) -> None:
    migrations_dir = tmp_path / "migrations"
    migrations_dir.mkdir()
    (migrations_dir / "20250101000000_x.sql").write_text("create table public.x (id int);")

    result = CliRunner().invoke(app, ["db", "migrate", "--migrations-dir", str(migrations_dir)])

    assert result.exit_code == 0, result.output
    assert "1 applied, 0 already applied" in result.output


def test_unreachable_url_raises_one_clear_error() -> None:
    with pytest.raises(DatabaseUnavailableError, match=r"cannot connect to .*127\.0\.0\.1:1"):
        connect("postgresql://postgres@127.0.0.1:1/postgres", connect_timeout=2)


def test_passwords_are_redacted() -> None:
    assert redact_url("postgresql://u:s3cret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_url("host=h password='a b' user=u") == "host=h password=*** user=u"


def _postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    return int(pid_file.read_text().splitlines()[0])


def test_a_crashed_process_does_not_leave_the_server_running_for_ever(data_dir: Path) -> None:
    """A process killed while it used the embedded server leaves its pid in pgserver's handle
    list; the next command drops it, so its own exit stops the server."""
    pgdata = data_dir / "postgres"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from trainlytics.db.embedded import start_embedded;"
            "start_embedded(); print('up', flush=True); time.sleep(600)",
        ],
        env={**os.environ, DATA_DIR_ENV: str(data_dir)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "up"
    finally:
        child.kill()  # a crash: no atexit handler runs
        child.wait(timeout=10)
    postmaster = _postmaster_pid(pgdata)
    assert postmaster is not None
    assert psutil.pid_exists(postmaster)  # left running
    assert json.loads((pgdata / HANDLE_FILE).read_text()) == [child.pid]  # the stale handle

    url = resolve_database_url()  # the next command joins the same server
    with psycopg.connect(url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert json.loads((pgdata / HANDLE_FILE).read_text()) == [os.getpid()]
    stop_embedded(data_dir)  # this process exits: the last live handle

    assert not psutil.pid_exists(postmaster) or (
        psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE
    )
    assert _postmaster_pid(pgdata) is None


def test_pruning_keeps_live_handles(tmp_path: Path) -> None:
    pgdata = tmp_path / "postgres"
    pgdata.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    try:
        (pgdata / HANDLE_FILE).write_text(json.dumps([sleeper.pid, gone.pid, os.getpid()]))
        assert prune_stale_handles(pgdata) == [gone.pid, os.getpid()]
        assert json.loads((pgdata / HANDLE_FILE).read_text()) == [sleeper.pid]
        assert prune_stale_handles(pgdata) == []
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
