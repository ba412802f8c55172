"""Retention: drop raw usage older than a cutoff.

On TimescaleDB whole chunks (days) are dropped with ``drop_chunks``, which is instant and frees
disk at once; a chunk straddling the cutoff is kept whole. On plain PostgreSQL rows are deleted in
batches so no single transaction holds locks for long. ``usage_hourly`` is kept, so long-range
dashboards keep working after raw rows are gone. Then the call records (``usage_calls``, one per provider
call, 0061_one_row_per_call.sql) of calls older than the cutoff and than the oldest row left are forgotten too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from otel_margin_backend.storage.database import Conn

DELETE_BATCH_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What a retention run removed: whole chunks (TimescaleDB) or rows (plain PostgreSQL)."""

    method: str
    """``drop_chunks`` or ``delete``."""
    chunks_dropped: int
    rows_deleted: int
    calls_forgotten: int = 0
    """``usage_calls`` rows removed with their calls' raw rows."""


def apply_retention(
    conn: Conn, cutoff: datetime, *, on_progress: Callable[[int], None] | None = None
) -> RetentionResult:
    """Remove ``usage_events`` rows older than ``cutoff`` (``conn`` in autocommit mode)."""
    is_hypertable = conn.execute("SELECT usage_events_is_hypertable()").fetchone()
    if is_hypertable and is_hypertable[0]:
        rows = conn.execute("SELECT drop_chunks('usage_events', older_than => %s)", (cutoff,)).fetchall()
        return RetentionResult("drop_chunks", len(rows), 0, _forget_calls(conn, cutoff))
    total = 0
    while True:
        deleted = conn.execute("SELECT usage_events_delete_before(%s, %s)", (cutoff, DELETE_BATCH_ROWS)).fetchone()
        count = int(deleted[0]) if deleted else 0
        total += count
        if on_progress is not None:
            on_progress(total)
        if count < DELETE_BATCH_ROWS:
            return RetentionResult("delete", 0, total, _forget_calls(conn, cutoff))


def _forget_calls(conn: Conn, cutoff: datetime) -> int:
    forgotten = conn.execute("SELECT usage_calls_delete_before(%s)", (cutoff,)).fetchone()
    return int(forgotten[0]) if forgotten else 0
