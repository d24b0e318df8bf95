"""Getting activities in: the sync engine, its job queue, the shared rate limits, webhook
events, the rollup rebuilds."""

from __future__ import annotations
