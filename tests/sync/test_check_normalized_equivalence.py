"""private.check_normalized computes each field of the row once (migration 20261205320000) and
still returns exactly what its previous definition returned, for every input.

The previous definition (the text of migration 20261125120000) is created next to it as
``private.check_normalized_prev``. Hypothesis then compares, as text (every digit of every
float, NaN and infinities included):

- the function itself on arbitrary rows of private.normalized_activity (nulls, NaN, ±infinity,
  negative and out-of-range metrics, blank ids, ±infinity start dates, non-object
  activity_data) and arbitrary payloads;
- each provider's page function (private.normalize_page, the registry's generated
  ``normalize_page_<provider>``, into which the new definition is inlined) with the previous
  composition of the provider's normaliser and the previous checks, on pages of arbitrary JSON,
  of objects with the provider's own field names and malformed timestamps, and of realistic
  Strava list items.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from tests.conftest import rolled_back
from tests.sync.test_ingest_properties import PROVIDER_FIELDS, any_json, scalars

ROOT = Path(__file__).resolve().parents[2]
PREVIOUS_MIGRATION = ROOT / "supabase/migrations/20261125120000_activity_ingest.sql"


def _bench_payloads() -> Callable[[int], dict[str, Any]]:
    """bench/ingest_throughput.py's strava_activity: the benchmark's realistic list item."""
    spec = importlib.util.spec_from_file_location(
        "ingest_throughput", ROOT / "bench/ingest_throughput.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made: Callable[[int], dict[str, Any]] = module.strava_activity
    return made


strava_activity = _bench_payloads()

Conn = psycopg.Connection[TupleRow]
PROVIDERS = tuple(PROVIDER_FIELDS)


def previous_definition() -> str:
    """The previous check_normalized, created as private.check_normalized_prev."""
    text = PREVIOUS_MIGRATION.read_text()
    found = re.search(r"create function private\.check_normalized\(.*?\n\$\$;\n", text, re.S)
    assert found is not None, "the previous definition is not in its migration"
    body = found.group(0)
    assert "from (select (p_row).*) as r;" in body  # the definition before the barrier
    return body.replace("private.check_normalized(", "private.check_normalized_prev(", 1)


@pytest.fixture(scope="module")
def world(module_db: Conn) -> None:
    module_db.execute(previous_definition())


@pytest.fixture
def db(module_db: Conn, world: None) -> Iterator[Conn]:
    with rolled_back(module_db) as conn:
        yield conn


def test_the_new_definition_differs_from_the_previous_one(db: Conn) -> None:
    """The comparison below is between two definitions, not one function with itself."""
    new, old = (
        db.execute("select prosrc from pg_proc where oid = %s::regprocedure", [name]).fetchone()
        for name in (
            "private.check_normalized(jsonb, private.normalized_activity)",
            "private.check_normalized_prev(jsonb, private.normalized_activity)",
        )
    )
    assert new is not None
    assert old is not None
    assert "offset 0" in new[0]
    assert "offset 0" not in old[0]


# --- the function on arbitrary rows ---------------------------------------------------------

ROW_TYPES = (
    "text", "text", "text", "public.activity_type", "text", "timestamptz", "text", "integer",
    "integer", "integer", "double precision", "double precision", "double precision", "real",
    "real", "real", "real", "real", "real", "real", "real", "real", "real", "boolean", "boolean",
    "text", "jsonb", "timestamptz", "text",
)  # fmt: skip

short_text = (
    st.none()
    | st.sampled_from(["", " ", " 42 ", "x" * 600])
    | st.text(max_size=8).map(lambda s: s.replace("\x00", ""))
)
floats = st.none() | st.floats(width=32) | st.sampled_from([-0.0, 300.0, 300.5, 1e38])
doubles = st.none() | st.floats() | st.sampled_from([-0.0, 1e308])
integers = st.none() | st.integers(min_value=-(2**31), max_value=2**31 - 1)
instants = st.none() | st.sampled_from(
    ["infinity", "-infinity", "2026-11-01T10:00:00Z", "4713-01-01 00:00:00 BC", "294276-12-31"]
)
activity_types = st.none() | st.sampled_from(["run", "ride", "other", "indoor_ride"])

rows = st.tuples(
    short_text,
    short_text,
    st.none() | st.text(max_size=3).map(lambda s: s.replace("\x00", "") * 7000),
    activity_types,
    short_text,
    instants,
    short_text,
    integers,
    integers,
    integers,
    doubles,
    doubles,
    doubles,
    *(floats for _ in range(10)),
    st.none() | st.booleans(),
    st.none() | st.booleans(),
    short_text,
    st.none() | any_json.map(Jsonb),
    instants,
    short_text,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=st.none() | any_json | st.just({}), row=rows)
def test_check_normalized_matches_the_previous_definition(
    db: Conn, payload: Any, row: tuple[Any, ...]
) -> None:
    fields = ", ".join(f"%s::{t}" for t in ROW_TYPES)
    item = None if payload is None else Jsonb(payload)
    found = db.execute(
        f"with r as (select %s::jsonb as p, row({fields})::private.normalized_activity as r)"
        " select (select array_agg(c::text) from r, private.check_normalized(r.p, r.r) as c),"
        " (select array_agg(c::text) from r, private.check_normalized_prev(r.p, r.r) as c)",
        [item, *row],
    ).fetchone()
    assert found is not None
    assert found[0] == found[1]


# --- every provider's page function ---------------------------------------------------------

timestamps = st.sampled_from(
    [
        "2026-11-14T08:02:11Z",
        "2026-11-14T08:02:11",
        "2026-11-14T08:02:11.123456789+01:00",
        "2026-02-29T08:00:00Z",
        "2024-02-29T08:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-14T24:00:00Z",
        "2026-11-14T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "9999-99-99T99:99:99Z",
        "2026-11-14 08:02",
        " 2026-11-14T08:02:11Z ",
        "2026-11-14T08:02:11+25:00",
        "294277-01-01T00:00:00Z",
        "NaN",
        "infinity",
        "",
    ]
) | st.text(alphabet="0123456789-T:Z.+ ", max_size=26)


def provider_item(provider: str) -> st.SearchStrategy[Any]:
    names = PROVIDER_FIELDS[provider]
    values = scalars | timestamps | any_json
    return any_json | st.dictionaries(st.sampled_from(names), values, max_size=len(names))


def strava_item() -> st.SearchStrategy[Any]:
    """A realistic Strava list item with some fields replaced by arbitrary values or dropped."""
    return st.builds(
        lambda n, changes, dropped: {
            k: changes.get(k, v) for k, v in strava_activity(n).items() if k not in dropped
        },
        st.integers(min_value=0, max_value=10_000),
        st.dictionaries(
            st.sampled_from(PROVIDER_FIELDS["strava"]), scalars | timestamps, max_size=3
        ),
        st.sets(st.sampled_from(PROVIDER_FIELDS["strava"]), max_size=2),
    )


def page_results(db: Conn, provider: str, page: list[Any]) -> tuple[list[Any], list[Any]]:
    found = db.execute(
        "select normaliser::regproc::text from private.providers where provider = %s",
        [provider],
    ).fetchone()
    assert found is not None
    normaliser = found[0]
    items = Jsonb(page)
    with db.transaction():  # a savepoint: an error of one example leaves the next one intact
        db.execute("set local role service_role")
        new = db.execute(
            "select pos, normalized::text from private.normalize_page(%s, %s) order by pos",
            [provider, items],
        ).fetchall()
        db.execute("reset role")
        old = db.execute(
            "select (i.ord - 1)::integer, x.c::text"
            " from jsonb_array_elements(coalesce(%s, '[]'::jsonb))"
            "     with ordinality as i (payload, ord)"
            " left join lateral ("
            f"    select c from {normaliser}(i.payload) as r"  # a regproc's name
            "     cross join lateral private.check_normalized_prev(i.payload, r) as c"
            " ) as x on true order by 1",
            [items],
        ).fetchall()
    return new, old


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_each_page_function_matches_the_previous_checks(
    db: Conn, provider: str, data: st.DataObject
) -> None:
    item = provider_item(provider)
    if provider == "strava":
        item = item | strava_item()
    page = data.draw(st.lists(item, max_size=6))
    new, old = page_results(db, provider, page)
    assert new == old
    assert len(new) == len(page)


def test_a_realistic_strava_page_matches_the_previous_checks(db: Conn) -> None:
    """The benchmark's page (bench/ingest_throughput.py): every item normalised, no error."""
    new, old = page_results(db, "strava", [strava_activity(n) for n in range(200)])
    assert new == old
    assert all(text is not None and text.endswith(",)") for _, text in new)
