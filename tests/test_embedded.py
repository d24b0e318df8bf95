"""Database resolution: explicit URL, then DATABASE_URL, then the per-user embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from trainlytics.cli import app
from trainlytics.database import connect, redact_url, resolve_database_url
from trainlytics.embedded import DATA_DIR_ENV, default_data_dir, stop_embedded
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
