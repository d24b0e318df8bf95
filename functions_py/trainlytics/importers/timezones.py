"""Time zones of stored activities that have none: found offline from their start position.

``derive_timezones(gateway, user_id=..., connection_id=...)`` pages through
``public.activity_timezone_candidates`` (rows without a zone that have a start position, or
whose athlete set ``preferences.timezone``), resolves each position to its IANA zone with
tzfpy (boundary data shipped inside the package, no network), and hands the batch to
``public.set_activity_timezones``, which sets the zone and, where the source gave no offset,
the zone's offset at the start (DST included) in one statement; the rollups follow.

Called after every file import (the importing athlete's rows), after every stored sync page
that created or updated rows (that connection's rows: Garmin sends a start position and an
offset but no zone), and once over every row when the migration that introduced zones is
applied (``trainlytics.db.migrations.migrate``, which ``db migrate``, the embedded database's
automatic migration and the demo all use); ``trainlytics db timezones`` runs it on demand.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from trainlytics.db.gateway import Gateway
from trainlytics.db.ingest import set_activity_timezones, timezone_candidates
from trainlytics.importers.base import zone_at

__all__ = ["TimezoneRun", "derive_timezones"]

BATCH = 1000


@dataclass
class TimezoneRun:
    examined: int = 0
    updated: int = 0
    unknown_zones: set[str] = field(default_factory=set)


def derive_timezones(
    gateway: Gateway,
    *,
    user_id: uuid.UUID | None = None,
    connection_id: int | None = None,
    batch: int = BATCH,
    on_batch: Callable[[TimezoneRun], None] | None = None,
) -> TimezoneRun:
    """Give a zone to every activity (of the athlete, the connection, or everyone) that lacks
    one and has a start position or an athlete's preferred zone. Idempotent."""
    run = TimezoneRun()
    after = 0
    while True:
        rows = timezone_candidates(
            gateway, user_id=user_id, connection_id=connection_id, after_id=after, limit=batch
        )
        if not rows:
            return run
        items = []
        for row in rows:
            lat, lon = row.get("start_lat"), row.get("start_lon")
            zone = zone_at(float(lat), float(lon)) if lat is not None and lon is not None else None
            items.append({"id": int(row["activity_id"]), "timezone": zone})
        first = set_activity_timezones(gateway, items)
        run.examined += len(rows)
        run.updated += int(first.get("updated") or 0)
        run.unknown_zones.update(str(z) for z in first.get("unknown_zones") or [])
        after = int(rows[-1]["activity_id"])
        if on_batch is not None:
            on_batch(run)
        if len(rows) < batch:
            return run
