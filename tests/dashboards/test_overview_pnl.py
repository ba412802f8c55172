"""The dashboards' P&L figures equal ``otel-margin pnl`` (``read_pnl``) for the same range, exactly.

Grafana ends a range inclusively ("This month" ends at 23:59:59.999); the panels turn it into the half-open range
``pnl()`` takes, so a month picked in Grafana gives the CLI's ``--month``, and a day range its ``--from/--to``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from otel_margin_backend.analytics.actions import read_actions
from otel_margin_backend.analytics.config import DEFAULT_MONITOR_BELOW_PERCENT
from otel_margin_backend.analytics.pnl import Period, period, read_pnl
from tests.dashboards.files import dashboards, panels
from tests.dashboards.macros import QueryContext, Variable, expand
from tests.dashboards.seed import Seeder
from tests.support.seed import costs
from tests.support.zones import ZONES, in_zone

NOV_10 = datetime(2026, 11, 10, 9, tzinfo=UTC)
MS = timedelta(milliseconds=1)

RANGES = {
    "absolute month": (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), period(month="2026-11")),
    "this month": (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC) - MS,
                   period(month="2026-11")),
    "first five days": (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 6, tzinfo=UTC) - MS,
                        period(start="2026-11-01", end="2026-11-05")),
}  # fmt: skip


def seed(url: str) -> None:
    """The P&L reference figures for November, and December usage and revenue that must stay out of them."""
    seeder = Seeder(url)
    reference = {"plexo-health": ("233.25", ["120.00", "157.20"]), "helix-robotics": ("134.29", ["100.00", "27.31"]),
                 "northwind": ("6000.00", ["2500.00", "1000.49"]), "acme": ("6112.46", ["4435.00"])}  # fmt: skip
    rows = []
    for i, (customer, (revenue, spend)) in enumerate(reference.items()):
        seeder.revenue(customer, "2026-11", revenue)
        rows += [(customer, "chat", amount, NOV_10 + timedelta(hours=i, minutes=j)) for j, amount in enumerate(spend)]
    rows += [("acme", "search", "12.34", datetime(2026, 11, 3, 8, tzinfo=UTC)),
             ("acme", "chat", "999.00", datetime(2026, 12, 1, tzinfo=UTC)),  # the first instant after November
             ("northwind", "chat", "7.00", datetime(2026, 10, 31, 23, tzinfo=UTC))]  # fmt: skip
    seeder.costs(rows)
    seeder.revenue("acme", "2026-12", "5000.00")
    seeder.revenue("acme", "2026-10", "4000.00")


def panel_sql(uid: str, panel_id: int) -> str:
    (panel,) = [p for p in panels(dashboards()[uid]) if p["id"] == panel_id]
    sql: str = panel["targets"][0]["rawSql"]
    return sql


def one(conn: psycopg.Connection[Any], sql: str) -> Any:
    rows = conn.execute(sql).fetchall()
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


@pytest.mark.parametrize("name", sorted(RANGES))
@pytest.mark.parametrize("zone", ZONES)
def test_overview_stats_equal_the_cli_pnl(name: str, zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed(db_url)
    start, end, span = RANGES[name]
    ctx = QueryContext(start=start, end=end)
    with psycopg.connect(db_url) as conn:
        (org,) = read_pnl(conn, span, "organization")
        stats = {panel_id: one(conn, expand(panel_sql("otel-margin-overview", panel_id), ctx))
                 for panel_id in (1, 2, 3, 4)}  # fmt: skip
    assert stats == {1: org.revenue, 2: org.cost, 3: org.margin, 4: org.margin_pct}
    assert all(isinstance(v, Decimal) for v in stats.values())


@pytest.mark.parametrize("zone", ZONES)
def test_the_month_is_the_reference_month(zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed(db_url)
    start, end, _ = RANGES["this month"]
    with psycopg.connect(db_url) as conn:
        stats = [one(conn, expand(panel_sql("otel-margin-overview", i), QueryContext(start=start, end=end)))
                 for i in (1, 2, 3, 4)]  # fmt: skip
    assert stats == [Decimal("12480.00"), Decimal("8352.34"), Decimal("4127.66"), Decimal("33.07")]


@pytest.mark.parametrize("name", sorted(RANGES))
@pytest.mark.parametrize("zone", ZONES)
def test_customer_pnl_and_detail_equal_the_cli_pnl_by_customer(name: str, zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed(db_url)
    start, end, span = RANGES[name]
    with psycopg.connect(db_url) as conn:
        expected = read_pnl(conn, span, "customer")
        customers = Variable([row.key for row in expected], multi=True)
        ctx = QueryContext(start=start, end=end, variables={"customer": customers})
        table = conn.execute(expand(panel_sql("otel-margin-customer-pnl", 3), ctx)).fetchall()
        assert [row[:5] for row in table] == [(r.key, r.revenue, r.cost, r.margin, r.margin_pct) for r in expected]
        for row in expected:
            detail = QueryContext(start=start, end=end, variables={"customer": Variable(row.key)})
            stats = [one(conn, expand(panel_sql("otel-margin-customer", i), detail)) for i in (1, 2, 3, 4)]
            assert stats == [row.revenue, row.cost, row.margin, row.margin_pct], row.key
            by_model = conn.execute(expand(panel_sql("otel-margin-customer", 7), detail)).fetchall()
            assert sum((r[6] for r in by_model), Decimal(0)) == row.cost, row.key


def test_period_and_grafana_range_agree() -> None:
    for start, end, span in RANGES.values():
        assert isinstance(span, Period) and span.start == start
        assert span.end - end in (timedelta(0), MS)


@pytest.mark.parametrize("zone", ZONES)
def test_revenue_by_month_shows_the_months_of_the_range_only(zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed(db_url)
    december = QueryContext(start=datetime(2026, 12, 1, tzinfo=UTC), end=datetime(2027, 1, 1, tzinfo=UTC) - MS,
                            variables={"customer": Variable("acme")})  # fmt: skip
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(expand(panel_sql("otel-margin-customer", 8), december)).fetchall()
    assert [(row[0].astimezone(UTC), row[4]) for row in rows] == [
        (datetime(2026, 12, 1, tzinfo=UTC), Decimal("5000.00"))
    ]


@pytest.mark.parametrize("name", ["absolute month", "this month"])
@pytest.mark.parametrize("zone", ZONES)
def test_customer_actions_panel_equals_the_cli_actions(name: str, zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed(db_url)
    Seeder(db_url).revenue("plexo-health", "2026-10", "100.00")  # and a loss in October: two months running
    costs(db_url, [("plexo-health", "chat", "150.00", datetime(2026, 10, 12, tzinfo=UTC))], start_n=900)
    start, end, span = RANGES[name]
    with psycopg.connect(db_url) as conn:
        expected = read_actions(conn, span, DEFAULT_MONITOR_BELOW_PERCENT)
        table = conn.execute(expand(panel_sql("otel-margin-overview", 9), QueryContext(start=start, end=end)))
        rows = table.fetchall()
    assert rows == [(r.customer, r.revenue, r.cost, r.margin_pct, r.action, r.negative_two_months) for r in expected]
    by = {row[0]: row for row in rows}
    assert by["plexo-health"][1:] == (Decimal("233.25"), Decimal("277.20"), Decimal("-18.84"), "reprice or throttle",
                                      True)  # fmt: skip
    assert by["helix-robotics"][1:] == (Decimal("134.29"), Decimal("127.31"), Decimal("5.20"), "monitor", False)
