"""The real Supabase CLI against this project's migrations, both ways round.

With the pinned CLI binaries (``.ci/supabase-cli``: ``npm ci`` installs
``@supabase/cli-linux-x64`` 3.1.0 and 2.117.0, the platform package that carries the binary)
and a PostgreSQL 15 server with plpgsql_check installed (Debian's
postgresql-15-plpgsql-check), on a fresh throwaway database bootstrapped with
``sql/supabase_compat.sql``:

- ``supabase db push --db-url`` applies every file in supabase/migrations, as the migrations'
  owner (Supabase's ``postgres``), and ``trainlytics db status`` / the runner then agree: all
  applied, nothing changed, nothing pending;
- after ``trainlytics db migrate``, ``supabase migration list --db-url`` shows every version
  applied remotely;
- ``supabase db lint --db-url ... --level warning`` (plpgsql_check over every schema, the job
  queue included) reports nothing;
- the CLI prints no deprecation warning about supabase/config.toml.

It needs ``TRAINLYTICS_SUPABASE_CLI_DATABASE_URL`` (a superuser URL of that server: the
bootstrap changes cluster-wide roles). Without it the module is skipped, unless
``TRAINLYTICS_SUPABASE_CLI_REQUIRED=1`` (as `.ci/run` sets it), which turns the skip into a
failure, so CI cannot pass without running it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import cluster_lock, throwaway_database
from trainlytics.db import migrations

REPO = Path(__file__).resolve().parents[2]
CLI_DIR = REPO / ".ci" / "supabase-cli"
DATABASE_ENV = "TRAINLYTICS_SUPABASE_CLI_DATABASE_URL"
REQUIRED_ENV = "TRAINLYTICS_SUPABASE_CLI_REQUIRED"
PACKAGES = {
    alias: spec.rsplit("@", 1)[1]
    for alias, spec in json.loads((CLI_DIR / "package.json").read_text())["dependencies"].items()
}
TIMEOUT = 300


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRED_ENV) == "1":
        pytest.fail(f"the Supabase CLI check is required but cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cli_server() -> str:
    url = os.environ.get(DATABASE_ENV)
    if not url:
        _unavailable(f"{DATABASE_ENV} is not set")
    assert url is not None
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select current_setting('server_version_num')::int / 10000,"
            " exists (select from pg_available_extensions where name = 'plpgsql_check')"
        ).fetchone()
    assert row is not None
    assert row[0] == 15, f"Supabase's PostgreSQL major version is 15, this server is {row[0]}"
    if not row[1]:
        _unavailable("plpgsql_check is not installed (apt-get install postgresql-15-plpgsql-check)")
    return url


@pytest.fixture(params=sorted(PACKAGES), ids=lambda alias: PACKAGES[alias])
def supabase(request: pytest.FixtureRequest) -> Path:
    binary: Path = CLI_DIR / "node_modules" / request.param / "bin" / "supabase"
    if not binary.is_file():
        _unavailable(f"{binary} is missing (cd .ci/supabase-cli && npm ci)")
    version = subprocess.run(  # noqa: S603 - the pinned binary in this repository
        [binary, "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert version == PACKAGES[request.param], "the installed CLI is not the pinned version"
    return binary


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of supabase/ (config.toml, migrations) as the CLI's project directory."""
    shutil.copytree(REPO / "supabase", tmp_path / "supabase")
    return tmp_path


@pytest.fixture
def database(cli_server: str) -> Iterator[str]:
    with throwaway_database(cli_server) as url:
        yield url


def cli_url(url: str, *, role: str | None = None) -> str:
    """The URL form the CLI takes; ``role`` makes the session run as that role."""
    params = conninfo_to_dict(url)
    auth = quote(str(params.get("user", "postgres")), safe="")
    if params.get("password"):
        auth += ":" + quote(str(params["password"]), safe="")
    query = "sslmode=disable"
    if role is not None:
        query += "&options=" + quote(f"-c role={role}", safe="")
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    return f"postgresql://{auth}@{host}:{port}/{params['dbname']}?{query}"


def run(supabase: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - the pinned binary in this repository
        [supabase, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "DO_NOT_TRACK": "1", "SUPABASE_TELEMETRY_DISABLED": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def config_warnings(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if "WARN:" in line]


def migration_files() -> list[migrations.MigrationFile]:
    found = migrations.discover_migrations()
    assert len(found) >= 30
    return found


def bootstrap(url: str, server: str) -> None:
    with cluster_lock(server), psycopg.connect(url, autocommit=True) as conn:
        migrations.run_bootstrap(conn)


def test_db_push_applies_every_migration_and_the_runner_agrees(
    supabase: Path, project: Path, database: str, cli_server: str
) -> None:
    bootstrap(database, cli_server)

    # The migrations touch cluster-wide objects (the analyst role and its comment): one
    # migration run at a time on the server, as the suite's own runs (pytest-xdist workers).
    with cluster_lock(cli_server):
        pushed = run(
            supabase,
            project,
            "db",
            "push",
            "--db-url",
            cli_url(database, role="trainlytics_owner"),
            "--yes",
        )

    assert config_warnings(pushed) == []
    files = migration_files()
    with psycopg.connect(database, autocommit=True) as conn:
        states = {row.version: row.state for row in migrations.status(conn)}
        assert states == {m.version: "applied" for m in files}
        not_owned = conn.execute(
            "select count(*) from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
            " where n.nspname in ('public', 'private') and pg_get_userbyid(c.relowner) <> %s",
            [migrations.OWNER_ROLE],
        ).fetchone()
        assert not_owned == (0,), "the CLI ran the migrations as someone else than the owner"
        with cluster_lock(cli_server):
            result = migrations.migrate(conn)
    assert result.applied == []
    assert [m.version for m in result.skipped] == [m.version for m in files]
    assert result.queue_installed

    linted = run(
        supabase, project, "db", "lint", "--db-url", cli_url(database), "--level", "warning"
    )

    output = linted.stdout + linted.stderr
    assert "No schema errors found" in output, output
    assert "Linting schema: queue" in output
    assert config_warnings(linted) == []


def test_migration_list_shows_every_version_after_trainlytics_migrate(
    supabase: Path, project: Path, database: str, cli_server: str
) -> None:
    with cluster_lock(cli_server), psycopg.connect(database, autocommit=True) as conn:
        migrations.migrate(conn)

    listed = run(supabase, project, "migration", "list", "--db-url", cli_url(database))

    rows = re.findall(r"^\s*`?(\d*)`?\s*\|\s*`?(\d*)`?\s*\|", listed.stdout, flags=re.MULTILINE)
    versions = [m.version for m in migration_files()]
    assert rows == [(version, version) for version in versions], listed.stdout
    assert config_warnings(listed) == []


def test_begin_atomic_with_case_breaks_cli_2_117_only(
    supabase: Path, project: Path, database: str, cli_server: str
) -> None:
    """Why the migrations quote SQL bodies with $$: CLI 2.117's statement splitter ends a
    `begin atomic` body at the `end` of a `case` (supabase/cli#3474); CLI 3.x reads it."""
    bootstrap(database, cli_server)
    for path in (project / "supabase" / "migrations").iterdir():
        path.unlink()
    (project / "supabase" / "migrations" / "20250101000000_atomic_case.sql").write_text(
        "create function public.sign_word(p integer) returns text language sql immutable\n"
        "begin atomic\n"
        "    select case when p < 0 then 'negative' else 'not negative' end;\n"
        "end;\n"
    )

    result = subprocess.run(  # noqa: S603 - the pinned binary in this repository
        [supabase, "db", "push", "--db-url", cli_url(database), "--yes"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

    if supabase.parent.parent.name == "supabase-cli-2":
        assert result.returncode != 0
        assert "syntax error at end of input" in result.stdout + result.stderr
    else:
        assert result.returncode == 0, result.stdout + result.stderr
