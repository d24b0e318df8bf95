"""The typed database layer: every Python→SQL call of the package lives in this package.

``ALLOWED_FUNCTIONS`` — the gateways' allow-list — is the union of what the typed modules
declare (their ``FUNCTIONS``); a test holds each declaration equal to the SQL functions its
module calls, and another that no module outside this package holds SQL.
"""

from __future__ import annotations

from trainlytics.db import ingest, jobs, rate_limits, store, stream_fetches, sync_runs

__all__ = ["ALLOWED_FUNCTIONS", "TYPED_MODULES"]

#: The modules that call SQL functions through a gateway (each declares ``FUNCTIONS``).
TYPED_MODULES = (ingest, jobs, rate_limits, store, stream_fetches, sync_runs)

#: Every SQL function Python may call through a gateway.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset().union(*(m.FUNCTIONS for m in TYPED_MODULES))
