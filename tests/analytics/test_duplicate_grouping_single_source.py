"""The duplicate grouping's single-source path (migration 20261205350000).

An inserted page of an athlete whose activities all come from one provider connection skips
the matching statement (private.duplicate_grouping_needed). That is right only if such an
athlete can have no pair and no group, and only if a second source arriving concurrently is
still matched: both are checked here, the second with two real sessions.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from tests.analytics.test_duplicates import (
    T0,
    _attempt,
    add,
    athlete,
    connect,
    counted,
    garmin_summary,
    groups,
    ingest,
    strava_summary,
)
from tests.helpers import create_auth_user

Conn = psycopg.Connection[Any]


def needed(db: Conn, user: uuid.UUID) -> bool:
    row = db.execute(
        "select %s = any(private.duplicate_grouping_needed(array[%s]::uuid[]))", [user, user]
    ).fetchone()
    assert row is not None
    return bool(row[0])


def test_which_athletes_may_have_copies(db: Conn) -> None:
    alone = athlete(db)
    strava = connect(db, alone, "strava")
    add(db, alone, strava, T0, 1800, 5000.0)
    assert not needed(db, alone)

    two = athlete(db)
    connect(db, two, "strava")
    connect(db, two, "garmin")
    assert needed(db, two)

    manual = athlete(db)
    connect(db, manual, "strava")
    add(db, manual, None, T0, 1800, 5000.0)
    assert needed(db, manual)

    # A soft-deleted manual entry is still a row of another source (it may come back).
    deleted = athlete(db)
    connect(db, deleted, "strava")
    row = add(db, deleted, None, T0, 1800, 5000.0)
    db.execute("update public.activities set deleted_at = now() where id = %s", [row])
    assert needed(db, deleted)

    files = athlete(db)
    add(db, files, None, T0, 1800, 5000.0, source="file")
    assert needed(db, files)


@pytest.mark.parametrize("seed", range(6))
def test_a_single_source_history_has_nothing_to_group(db: Conn, seed: int) -> None:
    """The premise of the skip: the full matching of a one-connection history, however dense
    (back-to-back sessions, same starts, whole-hour shifts), changes nothing."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible history, not a secret
    user = athlete(db)
    strava = connect(db, user, "strava")
    base = T0 - dt.timedelta(days=10)
    items = []
    for n in range(120):
        start = base + dt.timedelta(seconds=rng.choice([0, 30, 90, 3600, 7200]) + 3600 * (n // 3))
        items.append(strava_summary(9_100_000 + n, start, rng.randint(600, 7200), 8000.0))
    ingest(db, strava, items)
    assert not needed(db, user)
    changed = db.execute(
        "select private.group_activity_duplicates(array_agg(user_id), array_agg(start_date))"
        " from public.activities where user_id = %s",
        [user],
    ).fetchone()
    assert changed == (0,)
    assert all(len(group) == 1 for group in groups(db, user))


def test_a_manual_entry_makes_the_next_page_regroup(db: Conn) -> None:
    user = athlete(db)
    strava = connect(db, user, "strava")
    manual = add(db, user, None, T0, 1800, 5000.0)
    ingest(db, strava, [strava_summary(9_200_001, T0 + dt.timedelta(seconds=20), 1800, 5030.0)])
    assert len(counted(db, user)) == 1
    assert any(manual in group and len(group) == 2 for group in groups(db, user))


def test_a_second_connection_makes_the_next_page_regroup(db: Conn) -> None:
    user = athlete(db)
    strava = connect(db, user, "strava")
    ingest(db, strava, [strava_summary(9_300_001, T0, 1800, 5000.0)])
    assert not needed(db, user)
    garmin = connect(db, user, "garmin")
    ingest(db, garmin, [garmin_summary(77_000_001, T0 + dt.timedelta(seconds=15), 1790, 4990.0)])
    assert len(counted(db, user)) == 1


def test_concurrent_second_source_is_not_left_ungrouped(database_url: str) -> None:
    """Threat: a Strava page takes the single-source path while the athlete's Garmin copy of
    the same run is being stored by another session. The skip holds the regrouping lock, so
    the Garmin session waits for the Strava commit and then sees its row and groups them."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        user = create_auth_user(admin, f"race-{uuid.uuid4().hex[:8]}@example.com")
        try:
            strava = connect(admin, user, "strava")
            first = psycopg.connect(database_url, autocommit=False)
            second = psycopg.connect(database_url, autocommit=False)
            try:
                # Session 1: the Strava row, single source at this point (lock held, open).
                add(first, user, strava, T0, 1800, 5000.0, external_id="s1")
                assert not needed(first, user)
                # Meanwhile the athlete connects Garmin, whose copy arrives in session 2.
                garmin = connect(admin, user, "garmin")
                done = threading.Event()

                def store_garmin() -> None:
                    add(second, user, garmin, T0 + dt.timedelta(seconds=10), 1795, 4995.0)
                    second.commit()
                    done.set()

                worker = threading.Thread(target=store_garmin)
                worker.start()
                time.sleep(0.5)
                assert not done.is_set(), "the second source did not wait for the first"
                first.commit()
                worker.join(timeout=30)
                assert done.is_set()
            finally:
                first.close()
                second.close()
            assert len(counted(admin, user)) == 1
        finally:
            admin.execute("delete from auth.users where id = %s", [user])


def test_athlete_cannot_call_the_single_source_check(db: Conn) -> None:
    user = athlete(db)
    assert _attempt(
        db, user, "select private.duplicate_grouping_needed(array[%s]::uuid[])", [user]
    ) == "permission denied for function duplicate_grouping_needed"  # fmt: skip
