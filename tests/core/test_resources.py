"""Where the SQL files come from: the checkout, or the copies bundled in an installed wheel.

The end-to-end proof (build the wheel, install it in a fresh venv outside the checkout, migrate
and run the demo there) is ``.ci/check_package``; these tests pin the resolution rules and that
the build step bundles exactly the repository's files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from trainlytics import resources
from trainlytics.db.migrations import REPO_ROOT


def test_a_checkout_reads_its_own_files() -> None:
    assert not resources.BUNDLE_DIR.exists()  # never written into the source tree
    assert resources.migrations_dir() == REPO_ROOT / "supabase" / "migrations"
    assert resources.bootstrap_file() == REPO_ROOT / "sql" / "supabase_compat.sql"
    assert resources.seed_file() == REPO_ROOT / "supabase" / "seed.sql"


def test_an_installed_package_reads_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "_sql"
    (bundle / "migrations").mkdir(parents=True)
    (bundle / "seed.sql").write_text("select 1;")
    (bundle / "supabase_compat.sql").write_text("select 1;")
    monkeypatch.setattr(resources, "BUNDLE_DIR", bundle)
    monkeypatch.setattr(resources, "CHECKOUT_ROOT", tmp_path / "no-checkout")

    assert resources.migrations_dir() == bundle / "migrations"
    assert resources.bootstrap_file() == bundle / "supabase_compat.sql"
    assert resources.seed_file() == bundle / "seed.sql"


def test_the_wheel_bundles_every_sql_file_unchanged(tmp_path: Path) -> None:
    if shutil.which("git") is None:  # pragma: no cover - CI has git
        pytest.fail("git is needed to copy the checkout")
    # Build from a copy of the files a clone holds (tracked and new, not ignored ones).
    source = tmp_path / "src"
    files = subprocess.run(  # noqa: S603
        ["git", "-C", str(REPO_ROOT), "ls-files", "-co", "--exclude-standard"],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in files:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO_ROOT / name).is_file():
            shutil.copyfile(REPO_ROOT / name, target)
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("trainlytics-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        bundled = {
            name.removeprefix("trainlytics/_sql/"): archive.read(name)
            for name in archive.namelist()
            if name.startswith("trainlytics/_sql/")
        }
        metadata = archive.read(
            next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        ).decode()
    expected = {
        f"migrations/{path.name}": path.read_bytes()
        for path in sorted((REPO_ROOT / "supabase" / "migrations").glob("*.sql"))
    }
    expected["seed.sql"] = (REPO_ROOT / "supabase" / "seed.sql").read_bytes()
    expected["supabase_compat.sql"] = (REPO_ROOT / "sql" / "supabase_compat.sql").read_bytes()
    assert bundled == expected
    assert "License-Expression: MIT" in metadata
    assert "Project-URL:" in metadata
    assert "Classifier: Programming Language :: Python :: 3.11" in metadata
    assert "# Trainlytics" in metadata  # the README as long description
