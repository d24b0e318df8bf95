"""CLI tests: commands run through typer's test runner against a seeded throwaway database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.seeded import seeded_database


@pytest.fixture(scope="session")
def cli_database_url(server_url: str) -> Iterator[str]:
    """Migrated and seeded; CLI commands commit, so this database is the CLI tests' own."""
    with seeded_database(server_url) as url:
        yield url
