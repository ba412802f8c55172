"""The P&L reproduces the reference figures exactly, by customer and for the organization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from otel_margin_backend.analytics.pnl import Period, as_json, period, read_pnl, read_projection, read_quality
from otel_margin_backend.pipeline.errors import PermanentError
from tests.support.events import event, run, write
from tests.support.seed import costs, revenue
from tests.support.zones import ZONES, in_zone

NOV = period(month="2026-11")
T = datetime(2026, 11, 10, 9, tzinfo=UTC)

# Reference: Plexo Health $233.25 / $277.20 -> -$43.95, -18.84 %; Helix Robotics $134.29 / $127.31 -> 5.20 %;
# organization $12,480 / $8,340 -> $4,140, 33.2 %.
CUSTOMERS = {
    "plexo-health": ("233.25", ["120.00", "157.20"]),
    "helix-robotics": ("134.29", ["100.00", "27.31"]),
    "northwind": ("6000.00", ["2500.00", "1000.49"]),
    "acme": ("6112.46", ["4435.00"]),
}


def seed_reference(url: str) -> None:
    rows = []
    for i, (customer, (rev, spend)) in enumerate(CUSTOMERS.items()):
        revenue(url, customer, "2026-11", rev)
        rows += [(customer, "chat", amount, T + timedelta(hours=i, minutes=j)) for j, amount in enumerate(spend)]
    costs(url, rows)


@pytest.mark.parametrize("zone", ZONES)
def test_reference_figures_by_customer_and_organization(zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed_reference(db_url)
    with psycopg.connect(db_url) as conn:
        by_customer = {r.key: r for r in read_pnl(conn, NOV, "customer")}
        (org,) = read_pnl(conn, NOV, "organization")

    plexo, helix = by_customer["plexo-health"], by_customer["helix-robotics"]
    assert (plexo.revenue, plexo.cost, plexo.margin, plexo.margin_pct) == (
        Decimal("233.25"),
        Decimal("277.20"),
        Decimal("-43.95"),
        Decimal("-18.84"),
    )
    assert plexo.unprofitable and not helix.unprofitable
    assert (helix.revenue, helix.cost, helix.margin, helix.margin_pct) == (
        Decimal("134.29"),
        Decimal("127.31"),
        Decimal("6.98"),
        Decimal("5.20"),
    )
    assert (org.revenue, org.cost, org.margin) == (Decimal("12480.00"), Decimal("8340.00"), Decimal("4140.00"))
    assert org.margin_pct == Decimal("33.17") and round(org.margin_pct, 1) == Decimal("33.2")
    assert org.calls == 7 and org.reporting_currency == "USD" and org.unconverted == []
    # The unprofitable customer comes first.
    assert next(iter(by_customer)) == "plexo-health"


def test_by_feature_has_cost_shares_and_no_revenue(db_url: str) -> None:
    costs(db_url, [("a", "chat", "30", T), ("a", "search", "10", T), ("b", "search", "60", T)])
    with psycopg.connect(db_url) as conn:
        rows = {r.key: r for r in read_pnl(conn, NOV, "feature")}
    assert {k: (r.revenue, r.cost, r.cost_share_pct) for k, r in rows.items()} == {
        "search": (None, Decimal("70"), Decimal("70.00")),
        "chat": (None, Decimal("30"), Decimal("30.00")),
    }


@pytest.mark.parametrize("zone", ZONES)
def test_a_partial_range_gets_its_share_of_the_month(zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    revenue(db_url, "acme", "2026-11", "300.00")  # November has 30 days: $10 a day
    costs(db_url, [("acme", "chat", "4", datetime(2026, 11, 2, tzinfo=UTC)),
                   ("acme", "chat", "5", datetime(2026, 11, 20, tzinfo=UTC))])  # fmt: skip
    with psycopg.connect(db_url) as conn:
        (row,) = read_pnl(conn, period(start="2026-11-01", end="2026-11-06"), "customer")
    assert (row.revenue, row.cost, row.margin) == (Decimal("60"), Decimal("4"), Decimal("56"))  # 6 of 30 days


@pytest.mark.parametrize("zone", ZONES)
def test_revenue_without_an_exchange_rate_is_never_mixed_in(zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    revenue(db_url, "kabushiki", "2026-11", "50000", currency="JPY")
    revenue(db_url, "kabushiki", "2026-11", "100.00")
    with psycopg.connect(db_url) as conn:
        (row,) = read_pnl(conn, NOV, "customer")
        assert row.revenue == Decimal("100.00") and row.unconverted == ["JPY"]
        conn.execute("INSERT INTO fx_rates (reporting_currency, currency, day, rate) VALUES ('USD', 'JPY', "
                     "'2026-11-01', 0.0065)")  # fmt: skip
        (row,) = read_pnl(conn, NOV, "customer")
    assert row.revenue == Decimal("425.00") and row.unconverted == []


@pytest.mark.parametrize("zone", ZONES)
def test_projection_and_data_quality(zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    revenue(db_url, "acme", "2026-11", "900.00")
    unpriced = [event(90 + n, customer="acme", model="mystery", cost=None, time=datetime(2026, 11, 4, 5, tzinfo=UTC))
                for n in range(2)]  # fmt: skip
    run(write(db_url, unpriced))
    costs(db_url, [("acme", "chat", "100", datetime(2026, 11, 3, tzinfo=UTC)),
                   ("(unattributed)", "chat", "20", datetime(2026, 11, 4, tzinfo=UTC))])  # fmt: skip
    with psycopg.connect(db_url) as conn:
        projections = {p.key: p for p in read_projection(conn, datetime(2026, 11, 11, tzinfo=UTC))}
        quality = read_quality(conn, NOV)
    org = projections["organization"]
    assert org.elapsed_pct == Decimal("33.33")
    assert org.cost_to_date == Decimal("120") and org.projected_cost == Decimal("360.0000000000")
    assert org.month_revenue == Decimal("900.00") and org.projected_margin == Decimal("540.0000000000")
    assert projections["acme"].projected_cost == Decimal("300.0000000000")
    assert quality.unattributed_cost == Decimal("20") and quality.unattributed_cost_pct is not None
    assert round(quality.unattributed_cost_pct, 4) == Decimal("16.6667")
    assert (quality.calls, quality.unpriced_calls) == (4, 2)
    # JSON shows percentages as the tables do, to two places; money stays exact.
    shown = as_json(quality)
    assert (shown["unattributed_cost_pct"], shown["unpriced_calls_pct"], shown["unattributed_cost"]) == (
        "16.67",
        "50.00",
        "20.00",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"month": "2026-13"}, "is not a month"),
        ({"start": "2026-11-05"}, "give both --from and --to"),
        ({"start": "2026-11-05", "end": "2026-11-01"}, "is before --from"),
        ({"month": "2026-11", "start": "2026-11-01", "end": "2026-11-02"}, "either a month or --from/--to"),
        ({"start": "yesterday", "end": "2026-11-01"}, "is not a date"),
    ],
)
def test_bad_periods_are_named(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        period(**kwargs)


def test_a_month_period_is_the_whole_utc_month() -> None:
    assert Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)) == NOV
    assert NOV.label == "2026-11"
    assert period(month="2026-12").end == datetime(2027, 1, 1, tzinfo=UTC)
