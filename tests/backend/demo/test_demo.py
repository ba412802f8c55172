"""``otel-margin demo``: the real SDK, instrumentation and pipeline; a P&L, alerts and suggestions at the end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from otel_margin_backend.demo import scenario
from otel_margin_backend.demo.run import window
from otel_margin_backend.demo.traffic import planned_calls
from tests.backend.cli.test_main import otel_margin
from tests.support.stores import Server


@pytest.fixture
def tsdb_url(timescale_server: Server) -> Iterator[str]:
    url, janitor = timescale_server.new_database()
    yield url
    janitor.drop()


def test_the_demo_sends_every_call_and_reports(tsdb_url: str, tmp_path: Path) -> None:
    env = {"OTEL_MARGIN_DATABASE_URL": tsdb_url, "OTEL_MARGIN_DATA_DIR": str(tmp_path), "OTEL_MARGIN_HTTP_PORT": "0",
           "OTEL_MARGIN_GRPC_PORT": "0"}  # fmt: skip
    result = otel_margin("demo", "--days", "3", "--no-serve", env=env, timeout_s=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout

    with psycopg.connect(tsdb_url) as conn:
        stored = conn.execute("SELECT count(*), count(DISTINCT customer_id) FROM usage_events").fetchone()
        unpriced = conn.execute("SELECT count(*) FROM usage_events WHERE status <> 'priced'").fetchone()
        revenue = conn.execute("SELECT count(DISTINCT customer_id) FROM revenue_monthly").fetchone()
        budgets = conn.execute("SELECT count(*) FROM budgets").fetchone()
    start, end = window(3)
    expected = len(planned_calls(scenario.WORKLOADS, start, end))
    assert stored == (expected, 5)  # four customers and the unattributed bucket
    assert unpriced == (0,)
    assert revenue == (len(scenario.MONTHLY_REVENUE),) and budgets == (3,)
    assert f"Sent {expected:,} model calls as OpenTelemetry spans" in out
    plexo = next(line for line in out.splitlines() if "plexo-health" in line and "%" in line)
    assert "-$" in plexo  # the reasoning-heavy customer loses money
    assert "plexo-ai-share" in out and "customer=plexo-health" in out
    assert "alert image-generation: warning at 75 %" in out  # its limit is set so that it is, any day
    assert "openai/o4-mini" in out  # the cheaper model suggested for deep-analysis


def test_the_window_is_whole_days_up_to_the_next_hour() -> None:
    start, end = window(30, now=datetime(2026, 11, 23, 20, 15, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 11, 23, 21, tzinfo=UTC))
    assert end - start == timedelta(days=29, hours=21)
