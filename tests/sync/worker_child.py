"""A sync worker in a process of its own, for the SIGKILL test: it synchronises one connection
against the engine-test Strava server (``N`` deterministic activities, ``DELAY`` s per list
request) and is killed by the test mid-sync.

Usage: python -m tests.sync.worker_child <database_url> <connection_id> <provider_user_id> <n>
<delay> <lease_seconds>
"""

from __future__ import annotations

import sys
from typing import Any

from psycopg_pool import ConnectionPool

from tests.fakes.strava import FakeStrava
from tests.sync.engine_support import APP_NAME, StravaListServer, make_engine


def main(argv: list[str]) -> None:
    url, connection_id, user, n, delay, lease = argv
    server = StravaListServer(fake=FakeStrava(user), delay=float(delay))
    server.add(*range(1, int(n) + 1))
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=1, max_size=2, kwargs={"application_name": APP_NAME + "-child"}, open=True
    )
    engine = make_engine(pool, server, lease_seconds=int(lease))
    print("started", flush=True)
    engine.run(int(connection_id), "initial")
    print("finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
