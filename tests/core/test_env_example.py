""".env.example lists every environment variable the code reads, and nothing it does not."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import TEST_DATABASE_URL_ENV
from trainlytics.config import TOKEN_KEYS_ENV
from trainlytics.db.database import DATABASE_URL_ENV
from trainlytics.db.embedded import DATA_DIR_ENV
from trainlytics.db.migrations import REPO_ROOT
from trainlytics.providers import PROVIDER_CLASSES

ENV_EXAMPLE = REPO_ROOT / ".env.example"
# Variables read by name in the code: os.environ.get("X"), typer's envvar="X", and the
# settings reader's get("X").
_READ = re.compile(r'(?:environ\.get|getenv|envvar=|\bget)\(?\s*"([A-Z][A-Z0-9_]{2,})"')


def _read_in(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        names.update(_READ.findall(path.read_text(encoding="utf-8")))
    return names


def _documented() -> set[str]:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]{2,})=", text, flags=re.MULTILINE))


def _read_by_the_code() -> set[str]:
    names = _read_in(REPO_ROOT / "functions_py" / "trainlytics")
    # Provider settings are built from each provider class: <NAME>_<suffix>.
    names -= {"SUBSCRIPTION_ID"}
    for name, cls in PROVIDER_CLASSES.items():
        prefix = name.upper()
        names |= {f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET", f"{prefix}_REDIRECT_URI"}
        if cls.webhook_secret_setting:
            names.add(f"{prefix}_{cls.webhook_secret_setting}")
        names |= {f"{prefix}_{extra}" for extra in cls.extra_settings}
    names |= {TOKEN_KEYS_ENV, DATABASE_URL_ENV, DATA_DIR_ENV}
    # The test suite's own.
    names |= {TEST_DATABASE_URL_ENV} | (_read_in(REPO_ROOT / "tests") & {"TRAINLYTICS_CHROMIUM"})
    return names


def test_every_variable_the_code_reads_is_in_env_example() -> None:
    missing = _read_by_the_code() - _documented()
    assert missing == set(), f".env.example lacks {sorted(missing)}"


def test_env_example_lists_nothing_the_code_does_not_read() -> None:
    stale = _documented() - _read_by_the_code()
    assert stale == set(), f".env.example lists variables nothing reads: {sorted(stale)}"


def test_the_scan_finds_the_settings_reader() -> None:
    """Guards the regular expression: the reader's variables must be found in the source."""
    found = _read_in(REPO_ROOT / "functions_py" / "trainlytics")
    assert {"SUPABASE_JWT_SECRET", "TRAINLYTICS_FRONTEND_URL", "TRAINLYTICS_USER_PASSWORD"} <= found
