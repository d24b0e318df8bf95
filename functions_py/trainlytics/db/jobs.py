"""Typed call of the job queue's one entry point for Python (``public.enqueue_job``)."""

from __future__ import annotations

from collections.abc import Mapping
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
) -> tuple[int | None, bool]:
    """``public.enqueue_job``: the job id (None when not queued) and whether it was queued
    (False: a job holding the same queueing lock is already waiting or running)."""
    rows = gateway.call(
        "enqueue_job",
        {
            "p_task_name": task_name,
            "p_args": dict(args),
            "p_queue_name": queue_name,
            "p_queueing_lock": queueing_lock,
        },
    )
    row = rows[0] if rows else {}
    job_id = row.get("job_id")
    return (int(job_id) if job_id is not None else None), bool(row.get("queued"))
