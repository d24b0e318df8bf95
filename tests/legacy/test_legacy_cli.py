"""``trainlytics legacy import`` from the command line: progress, closing report, JSON file,
one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.cli.cli_support import error_line, invoke
from tests.legacy.conftest import v1_url
from tests.legacy.v1_factory import V1

Conn = psycopg.Connection[dict[str, Any]]


def test_import_prints_the_report_per_table_and_writes_it_as_json(
    v1: V1, v2: Conn, v2_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "report.json"
    result = invoke(
        ["legacy", "import", "--from", v1_url(v1), "--database-url", v2_url, "--report", str(path)]
    )
    assert result.exit_code == 0, result.output
    for fragment in (
        "users",
        "strava_connections",
        "activities",
        "workouts",
        "password_reset_tokens",
        "already there",
        "report written to",
        "v1 users whose emails collide",
        "Strava connections imported as revoked",
    ):
        assert fragment in result.output, fragment
    report = json.loads(path.read_text())
    assert report["auth_mode"] == "database"
    assert report["tables"]["users"] == {
        **report["tables"]["users"],
        "read": 10,
        "created": 8,
        "already_there": 0,
        "skipped": 2,
    }
    assert report["tables"]["activities"]["created"] == 8
    assert report["notes"]["email_collisions"][0]["email"] == "bob@example.com"
    # Run again: everything is already there, nothing is created.
    again = invoke(
        ["legacy", "import", "--from", v1_url(v1), "--database-url", v2_url, "--report", str(path)]
    )
    assert again.exit_code == 0, again.output
    second = json.loads(path.read_text())
    assert {name: t["created"] for name, t in second["tables"].items()} == dict.fromkeys(
        report["tables"], 0
    )


def test_a_dry_run_says_so_and_keeps_nothing(
    v1: V1, v2: Conn, v2_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRAINLYTICS_TOKEN_KEYS")  # a dry run needs no key
    result = invoke(
        [
            "legacy", "import", "--from", v1_url(v1), "--database-url", v2_url, "--dry-run",
            "--report", str(tmp_path / "r.json"),
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output
    assert v2.execute("select count(*) as n from public.users").fetchone() == {"n": 0}


def test_without_token_keys_the_import_refuses_to_start(
    v1: V1, v2_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRAINLYTICS_TOKEN_KEYS")
    result = invoke(["legacy", "import", "--from", v1_url(v1), "--database-url", v2_url])
    error_line(result, "TRAINLYTICS_TOKEN_KEYS is not set")


def test_an_unreachable_v1_database_is_one_clear_line(v2_url: str, tmp_path: Path) -> None:
    missing = f"postgresql://nobody@/nowhere?host={tmp_path}"
    result = invoke(["legacy", "import", "--from", missing, "--database-url", v2_url])
    error_line(result, "cannot connect to")


def test_admin_api_mode_needs_the_project_settings(v1: V1, v2_url: str) -> None:
    result = invoke(
        ["legacy", "import", "--from", v1_url(v1), "--database-url", v2_url, "--auth", "admin-api"]
    )
    error_line(result, "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")
