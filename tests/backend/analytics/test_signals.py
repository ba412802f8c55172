"""Operational signals (0031_signals.sql): the views alert rules read, on data seeded around now()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from tests.support.seed import costs

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def test_cost_variance_against_the_same_weekday_last_week(db_url: str) -> None:
    yesterday, week_before = TODAY - timedelta(days=1), TODAY - timedelta(days=8)
    before, after = week_before + timedelta(hours=3), yesterday + timedelta(hours=3)
    costs(
        db_url,
        [
            ("steady", "chat", "100", before),
            ("steady", "chat", "109", after),
            ("jumpy", "chat", "100", before),
            ("jumpy", "chat", "111", after),
        ],
    )
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT customer_id, cost, cost_week_before, round(variance_pct, 2), breached FROM signal_cost_variance"
            " WHERE day = %s ORDER BY customer_id", (yesterday,)
        ).fetchall()  # fmt: skip
    assert rows == [
        ("jumpy", Decimal("111"), Decimal("100"), Decimal("11.00"), True),
        ("steady", Decimal("109"), Decimal("100"), Decimal("9.00"), False),
    ]


def test_day_over_day_growth_per_feature(db_url: str) -> None:
    two_days, one_day = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
    costs(
        db_url,
        [
            ("a", "search", "50", two_days),
            ("a", "search", "53", one_day),
            ("a", "images", "50", two_days),
            ("a", "images", "52", one_day),
        ],
    )
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT feature, round(growth_pct, 2), breached FROM signal_feature_growth WHERE day = %s ORDER BY 1",
            (one_day,),
        ).fetchall()
    assert rows == [("images", Decimal("4.00"), False), ("search", Decimal("6.00"), True)]


def test_attribution_coverage_and_ingestion(db_url: str) -> None:
    recent = datetime.now(UTC) - timedelta(minutes=30)
    costs(db_url, [("acct_1", "chat", "9", recent), ("(unattributed)", "chat", "1", recent)])
    with psycopg.connect(db_url) as conn:
        day = recent.replace(hour=0, minute=0, second=0, microsecond=0)
        coverage = conn.execute(
            "SELECT cost, attributed_cost_pct, calls FROM signal_attribution WHERE day = %s", (day,)
        ).fetchone()
        stalled, minutes = conn.execute(
            "SELECT stalled, round(minutes_since_last_event) FROM signal_ingestion"
        ).fetchone() or (None, None)
    assert coverage == (Decimal("10"), Decimal("90.0000000000000000"), 2)
    assert stalled is True and minutes == Decimal("30")  # calls arrived today, none in the last 15 minutes


def test_a_fresh_database_is_not_stalled(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT last_event, stalled FROM signal_ingestion").fetchone() == (None, False)
