"""Where the project's SQL files are, in a checkout and in an installed package.

The single source of the SQL is the repository: ``supabase/migrations/*.sql``,
``supabase/seed.sql`` and ``sql/supabase_compat.sql``. A wheel carries copies of them under
``trainlytics/_sql/`` (written by the build step in ``setup.py``, never committed), so an
installed ``trainlytics`` finds them without the checkout. The bundled copies win when present
(an installed package); otherwise the checkout's files are used (a source tree or an editable
install, where the bundle is never written).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BUNDLE_DIR",
    "CHECKOUT_ROOT",
    "bootstrap_file",
    "migrations_dir",
    "seed_file",
]

#: The bundle's folder inside the installed package (absent in a checkout).
BUNDLE_DIR = Path(__file__).resolve().parent / "_sql"
#: The repository root when running from a checkout (``functions_py/trainlytics/..``).
CHECKOUT_ROOT = Path(__file__).resolve().parents[2]

# Bundle layout (relative to BUNDLE_DIR) -> checkout layout (relative to CHECKOUT_ROOT).
BUNDLE_LAYOUT = {
    "migrations": "supabase/migrations",
    "seed.sql": "supabase/seed.sql",
    "supabase_compat.sql": "sql/supabase_compat.sql",
}


def _locate(bundled: str) -> Path:
    candidate = BUNDLE_DIR / bundled
    if candidate.exists():
        return candidate
    return CHECKOUT_ROOT / BUNDLE_LAYOUT[bundled]


def migrations_dir() -> Path:
    """The folder of ``<version>_<name>.sql`` migration files."""
    return _locate("migrations")


def bootstrap_file() -> Path:
    """``sql/supabase_compat.sql``, the plain-Postgres Supabase emulation."""
    return _locate("supabase_compat.sql")


def seed_file() -> Path:
    """``supabase/seed.sql``, the demo data set."""
    return _locate("seed.sql")
