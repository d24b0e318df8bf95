"""Build step: bundle the SQL files into the wheel (metadata lives in pyproject.toml).

``supabase/migrations/*.sql``, ``supabase/seed.sql`` and
``sql/supabase_compat.sql`` stay the single source in the repository; building copies them to
``trainlytics/_sql/`` inside the wheel (see ``trainlytics.resources``), so an installed
``trainlytics db migrate`` / ``demo`` finds them. Editable installs read the checkout instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# Source (relative to the repository) -> destination (relative to trainlytics/_sql).
SQL_FILES = {
    "supabase/seed.sql": "seed.sql",
    "sql/supabase_compat.sql": "supabase_compat.sql",
}


class BuildPyWithSql(build_py):
    """``build_py`` that also copies the SQL files into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's files directly
        target = Path(self.build_lib) / "trainlytics" / "_sql"
        if target.exists():
            shutil.rmtree(target)
        (target / "migrations").mkdir(parents=True)
        migrations = sorted((ROOT / "supabase" / "migrations").glob("*.sql"))
        if not migrations:
            raise SystemExit("setup.py: no supabase/migrations/*.sql to bundle")
        for path in migrations:
            shutil.copyfile(path, target / "migrations" / path.name)
        for source, destination in SQL_FILES.items():
            shutil.copyfile(ROOT / source, target / destination)


setup(cmdclass={"build_py": BuildPyWithSql})
