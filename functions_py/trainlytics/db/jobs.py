"""Typed call of the job queue's one entry point for Python (``public.enqueue_job``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from trainlytics.db.gateway import Gateway

__all__ = ["FUNCTIONS", "enqueue_job"]

#: The SQL functions this module calls (its part of the allow-list).
FUNCTIONS = frozenset({"enqueue_job"})


def enqueue_job(
    gateway: Gateway,
    *,
    task_name: str,
    args: Mapping[str, Any],
    queue_name: str,
    queueing_lock: str,
    lock: str | None = None,
    priority: int = 0,
    scheduled_at: datetime | None = None,
) -> tuple[int | None, bool]:
    """``public.enqueue_job``: the job id (None when not queued) and whether it was queued
    (False: a job holding the same queueing lock is already waiting or running). ``lock``
    (no two jobs holding it run at once), ``priority`` (higher first) and ``scheduled_at``
    are sent only when given."""
    call: dict[str, Any] = {
        "p_task_name": task_name,
        "p_args": dict(args),
        "p_queue_name": queue_name,
        "p_queueing_lock": queueing_lock,
    }
    if lock is not None:
        call["p_lock"] = lock
    if priority:
        call["p_priority"] = priority
    if scheduled_at is not None:
        call["p_scheduled_at"] = scheduled_at
    rows = gateway.call("enqueue_job", call)
    row = rows[0] if rows else {}
    job_id = row.get("job_id")
    return (int(job_id) if job_id is not None else None), bool(row.get("queued"))
