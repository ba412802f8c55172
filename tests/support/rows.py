"""Reading back what the backend stored."""

from __future__ import annotations

import psycopg

USAGE_COLUMNS = (
    "customer_id, feature, provider, model, input_tokens, cache_read_tokens, output_tokens, reasoning_tokens, status"
)


def usage_rows(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT {USAGE_COLUMNS} FROM usage_events ORDER BY event_id").fetchall()


def count(url: str, table: str = "usage_events") -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])
