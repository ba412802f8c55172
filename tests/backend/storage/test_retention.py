"""Retention: drop_chunks on TimescaleDB, batched DELETE on plain PostgreSQL; rollups stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from otel_margin_backend.storage import retention
from otel_margin_backend.storage.retention import apply_retention
from tests.support.events import event, run, write
from tests.support.stores import Server

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_retention_removes_old_raw_rows_and_keeps_rollups(db_url: str) -> None:
    old = [event(n, time=NOW - timedelta(days=500 + n % 3)) for n in range(1, 31)]
    recent = [event(n, time=NOW - timedelta(days=2)) for n in range(31, 41)]
    run(write(db_url, old + recent))

    deleted_progress: list[int] = []
    with psycopg.connect(db_url, autocommit=True) as conn:
        result = apply_retention(conn, NOW - timedelta(days=400), on_progress=deleted_progress.append)
        remaining = conn.execute("SELECT count(*), min(time) FROM usage_events").fetchone()
        rolled = conn.execute("SELECT sum(calls) FROM usage_hourly").fetchone()
        hyper = conn.execute("SELECT usage_events_is_hypertable()").fetchone()

    assert remaining == (10, NOW - timedelta(days=2))
    assert rolled == (40,)  # hourly rollups keep the history
    if hyper == (True,):
        assert result.method == "drop_chunks" and result.chunks_dropped == 3 and result.rows_deleted == 0
    else:
        assert result.method == "delete" and result.rows_deleted == 30 and deleted_progress[-1] == 30


def test_plain_postgresql_deletes_in_batches(postgres_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, janitor = postgres_server.new_database()
    monkeypatch.setattr(retention, "DELETE_BATCH_ROWS", 10)
    try:
        run(write(url, [event(n, time=NOW - timedelta(days=900)) for n in range(1, 26)]))
        progress: list[int] = []
        with psycopg.connect(url, autocommit=True) as conn:
            result = apply_retention(conn, NOW, on_progress=progress.append)
    finally:
        janitor.drop()
    assert result.method == "delete"
    assert progress == [10, 20, 25] and result.rows_deleted == 25
