"""The folded history builds the catalog the history before it built (issue 11's acceptance).

One database is migrated with the migration files of commit ``aa1463c`` (the last commit
before the fold, read with ``git show``), one with today's files before ``FOLDED_BEFORE``; their
catalogs (tests/catalog.py: tables, columns, defaults, constraints, indexes, functions with
their definition, settings, security, owner and ACL, views, triggers, policies, grants,
comments, enum values, sequences, seed rows) must be equal except for the intended changes
listed below, each of which must still show (so the list cannot go stale).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.catalog import Catalog, catalog_of
from tests.conftest import migrate_database
from tests.db.test_migration_layout import folded_files
from trainlytics import migrations

BEFORE_FOLD = "aa1463c"

# (section, object) -> why it differs. The object is a row's first column, or for policies
# table.policy and for columns table.column.
INTENDED: dict[tuple[str, str], str] = {
    # The provider registry (issue 11, item 2).
    ("relations", "private.providers"): "the registry table",
    **{
        ("columns", f"private.providers.{c}"): "the registry table"
        for c in ("provider", "normaliser", "deletes_data_on_disconnect")
    },
    **{
        ("constraints", f"private.providers.{c}"): "the registry table"
        for c in (
            "providers_pkey",
            "providers_provider_not_null",
            "providers_normaliser_not_null",
            "providers_deletes_data_on_disconnect_not_null",
        )
    },
    ("indexes", "private.providers_pkey"): "the registry table",
    ("table_rows", "private.providers"): "one row per provider",
    ("functions", "private.check_normalized(jsonb,private.normalized_activity)"): (
        "the common checks, out of the old per-provider UNION"
    ),
    ("functions", "private.is_provider_name(text)"): "provider_priorities' CHECK without a list",
    ("functions", "private.normalize_activity(provider_type,jsonb)"): "dispatch by registry",
    ("functions", "private.normalize_page(provider_type,jsonb)"): "dispatch by registry",
    ("functions", "private.provider_deletes_data_on_disconnect(provider_type)"): "reads registry",
    (
        "functions",
        "sync_ingest_page(bigint,text,jsonb,text[],integer,jsonb,integer,timestamp "
        "with time zone,timestamp with time zone[],timestamp with time zone[])",
    ): ("normalises the listing with normalize_page (one dynamic statement per page)"),
    ("constraints", "provider_priorities.provider_priorities_origin_known"): (
        "origin: file, manual or any provider_type value"
    ),
    ("columns", "provider_priorities.origin"): "its comment says each provider inserts its row",
    # Written flat, so that the expression reads back the same from supabase/schema.sql.
    ("constraints", "activities.activities_heartrate_range"): "no between: same rows",
    ("triggers", "activities.activities_record_user_edits"): "column by column: same rows",
    # Comments that named migration files the fold removed.
    ("policies", "daily_loads.daily_loads_select"): "comment named 20261205170000",
    ("policies", "weekly_rollups.weekly_rollups_select"): "comment named 20261205170000",
    ("indexes", "daily_loads_user_id_array"): "comment named 20261205170000",
    ("indexes", "weekly_rollups_user_id_array"): "comment named 20261205170000",
    ("relations", "personal_records"): "comment named 20261205110700",
}


def _object(section: str, row: tuple[Any, ...]) -> str:
    if section == "policies":
        return f"{row[1]}.{row[2]}"
    if section == "columns":
        return f"{row[0]}.{row[2]}"
    if section == "triggers":
        return f"{row[0]}.{row[1]}"
    if section == "constraints":
        return f"{row[0] or row[1]}.{row[2]}"
    return str(row[0])


def differing_objects(left: Catalog, right: Catalog) -> set[tuple[str, str]]:
    found = set()
    for section in left.keys() | right.keys():
        a = {repr(row): row for row in left.get(section, [])}
        b = {repr(row): row for row in right.get(section, [])}
        found |= {(section, _object(section, (a | b)[key])) for key in a.keys() ^ b.keys()}
    return found


def _old_migrations(target: Path) -> Path:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: the pre-fold migrations cannot be read")
    root = migrations.REPO_ROOT
    listing = subprocess.run(  # noqa: S603 - git with fixed arguments
        [git, "-C", str(root), "ls-tree", "--name-only", BEFORE_FOLD, "supabase/migrations/"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        pytest.skip(f"commit {BEFORE_FOLD} is not in this checkout (shallow clone?)")
    target.mkdir()
    for path in listing.stdout.split():
        text = subprocess.run(  # noqa: S603 - git with fixed arguments
            [git, "-C", str(root), "show", f"{BEFORE_FOLD}:{path}"],
            capture_output=True,
            check=True,
        ).stdout
        (target / Path(path).name).write_bytes(text)
    return target


def _catalog(url: str, server: str, directory: Path) -> Catalog:
    migrate_database(url, server, directory)
    with psycopg.connect(url) as conn:
        return catalog_of(conn)


def test_the_folded_history_builds_the_catalog_of_the_history_before_it(
    make_database: Callable[[], str], server_url: str, tmp_path: Path
) -> None:
    old = _catalog(make_database(), server_url, _old_migrations(tmp_path / "old"))
    folded = tmp_path / "folded"
    folded.mkdir()
    for migration in folded_files():
        shutil.copy(migration.path, folded / migration.filename)
    new = _catalog(make_database(), server_url, folded)

    differing = differing_objects(old, new)
    assert differing - INTENDED.keys() == set(), "unintended catalog differences"
    assert INTENDED.keys() - differing == set(), "intended differences that no longer show"
    # The comparison sees through the fold: the catalogs are large and mostly equal.
    assert len(old["functions"]) > 150
    assert len(old["table_rows"]) == len(new["table_rows"]) - 1
