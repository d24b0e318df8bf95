"""Report tests: a seeded throwaway database of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.seeded import seeded_database


@pytest.fixture(scope="session")
def report_database_url(server_url: str) -> Iterator[str]:
    with seeded_database(server_url) as url:
        yield url
