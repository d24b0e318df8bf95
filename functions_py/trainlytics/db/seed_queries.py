"""The original design's three example queries, as written there.

Only the user id literal (``1`` in the original, an integer id) becomes a bound uuid, because
``users.id`` is the Supabase Auth user id. ``trainlytics demo`` prints their results and the
tests check them; the same queries exist as views (``activities_with_provider``,
``user_provider_connections``, ``sync_statistics``).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SEED_QUERIES", "SeedQuery"]


class SeedQuery(NamedTuple):
    title: str
    sql: str


SEED_QUERIES: tuple[SeedQuery, ...] = (
    SeedQuery(
        "All activities of a user (every provider)",
        """
SELECT
    a.id,
    a.name,
    a.activity_type,
    a.start_date,
    a.distance,
    pc.provider,
    pc.provider_username
FROM activities a
JOIN provider_connections pc ON a.connection_id = pc.id
WHERE a.user_id = %(user_id)s
ORDER BY a.start_date DESC;
""",
    ),
    SeedQuery(
        "Providers the user connected",
        """
SELECT
    u.email,
    pc.provider,
    pc.is_active,
    pc.last_sync_at
FROM users u
LEFT JOIN provider_connections pc ON u.id = pc.user_id
WHERE u.id = %(user_id)s;
""",
    ),
    SeedQuery(
        "Synchronisation statistics per provider",
        """
SELECT
    pc.provider,
    sh.sync_status,
    SUM(sh.activities_created) as total_created,
    COUNT(*) as sync_count
FROM sync_history sh
JOIN provider_connections pc ON sh.connection_id = pc.id
GROUP BY pc.provider, sh.sync_status;
""",
    ),
)
