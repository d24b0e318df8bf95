"""`trainlytics db ...` end to end, through typer's test runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import cluster_lock
from trainlytics.cli.main import app

runner = CliRunner()


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "20250101000000_first.sql").write_text("create table public.firsts (id int);")
    return directory


@pytest.mark.parametrize("args", [[], ["db"], ["db", "migrate"], ["db", "status"]])
def test_help_is_available_everywhere(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_migrate_then_status_happy_path(
    make_database: Callable[[], str], server_url: str, migrations_dir: Path
) -> None:
    url = make_database()
    args = ["--database-url", url, "--migrations-dir", str(migrations_dir)]

    with cluster_lock(server_url):
        first = runner.invoke(app, ["db", "migrate", *args])
    second = runner.invoke(app, ["db", "migrate", *args])
    status = runner.invoke(app, ["db", "status", *args])

    assert first.exit_code == 0, first.output
    assert "applied 20250101000000_first.sql" in first.output
    assert "1 applied, 0 already applied" in first.output
    assert second.exit_code == 0, second.output
    assert "0 applied, 1 already applied" in second.output
    assert status.exit_code == 0, status.output
    assert "20250101000000" in status.output
    assert "1 applied, 0 pending" in status.output


def test_unreachable_database_is_one_line_and_exit_code_1(migrations_dir: Path) -> None:
    url = "postgresql://postgres:hunter2@127.0.0.1:1/nowhere"
    result = runner.invoke(
        app, ["db", "migrate", "--database-url", url, "--migrations-dir", str(migrations_dir)]
    )

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "cannot connect to postgresql://postgres:***@127.0.0.1:1/nowhere" in errors[0]
    assert "hint:" in errors[0]
    assert "hunter2" not in result.output


def test_failing_migration_is_one_line_naming_file_and_statement(
    make_database: Callable[[], str], server_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "broken"
    directory.mkdir()
    (directory / "20250101000000_broken.sql").write_text("select 1;\nselect * from nowhere;")

    with cluster_lock(server_url):
        result = runner.invoke(
            app,
            [
                "db",
                "migrate",
                "--database-url",
                make_database(),
                "--migrations-dir",
                str(directory),
            ],
        )

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "20250101000000_broken.sql failed at statement 2" in errors[0]
    assert 'relation "nowhere" does not exist' in errors[0]


@pytest.mark.parametrize("command", ["migrate", "status"])
def test_no_migration_files_is_one_line_not_zero_pending(tmp_path: Path, command: str) -> None:
    """What an installed package without its SQL once printed as "0 applied, 0 pending"."""
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(
        app,
        [
            "db",
            command,
            "--database-url",
            "postgresql://127.0.0.1:1/x",
            "--migrations-dir",
            str(empty),
        ],
    )

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert f"no migration files (<version>_<name>.sql) in {empty}" in errors[0]
    assert "0 pending" not in result.output
