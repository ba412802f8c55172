"""The reconciliation on a month with three known causes (``scenario.py``): each gap attributed to its cause with
exact amounts, the coverage right to the cent, the uninstrumented service named, the gap alert on the right days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from otel_margin_backend.bills.reconcile import BillReconciliation, ProjectReconciliation, read
from otel_margin_backend.storage.database import Conn
from tests.backend.bills import scenario as sc


@pytest.fixture
def conn(db_url: str, tmp_path: Path) -> Iterator[Conn]:
    sc.seed(db_url, tmp_path)
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


def rows(conn: Conn, by: str, first: date = sc.FIRST, last: date = sc.LAST) -> list[BillReconciliation]:
    out = read(conn, first, last, by)  # type: ignore[arg-type]
    assert all(isinstance(r, BillReconciliation) for r in out)
    return out  # type: ignore[return-value]


def test_each_gap_is_attributed_to_its_cause_with_exact_amounts(conn: Conn) -> None:
    by_model = {r.model: r for r in rows(conn, "model")}
    gpt, mini = by_model[sc.GPT4O], by_model[sc.MINI]
    # gpt-4o: billed 3,200 calls at $0.0075; 2,820 priced spans; 200 calls unseen, 180 unpriced, price right.
    assert (gpt.billed, gpt.computed, gpt.gap) == (Decimal("24.00"), Decimal("21.15"), Decimal("2.85"))
    assert (gpt.unseen, gpt.unpriced, gpt.price_diff) == (Decimal("1.50"), Decimal("1.35"), Decimal(0))
    assert (gpt.billed_tokens, gpt.seen_tokens, gpt.calls, gpt.unpriced_calls) == (4_800_000, 4_500_000, 3000, 180)
    assert gpt.missing_from == "batch-worker"
    # gpt-4o-mini: the price book is 10 % under the bill: all of the gap is price difference.
    assert (mini.billed, mini.computed, mini.gap) == (Decimal("1.35"), Decimal("1.215"), Decimal("0.135"))
    assert (mini.unseen, mini.unpriced, mini.price_diff) == (Decimal(0), Decimal(0), Decimal("0.135"))
    assert mini.missing_from is None
    # Coverage: the bill's money on calls with a customer: 90 of 100 gpt-4o calls, all of gpt-4o-mini's.
    assert (gpt.attributed, gpt.coverage_pct) == (Decimal("20.25"), Decimal("84.38"))
    assert (mini.attributed, mini.coverage_pct) == (Decimal("1.35"), Decimal("100.00"))
    (month,) = rows(conn, "provider")
    assert (month.billed, month.computed, month.gap, month.gap_pct) == (
        Decimal("25.35"), Decimal("22.365"), Decimal("2.985"), Decimal("11.78"))  # fmt: skip
    assert (month.unseen, month.unpriced, month.price_diff) == (Decimal("1.50"), Decimal("1.35"), Decimal("0.135"))
    assert (month.attributed, month.coverage_pct, month.coverage_alert) == (Decimal("21.60"), Decimal("85.21"), True)


def test_the_gap_alert_fires_on_the_days_it_should(conn: Conn) -> None:
    days = rows(conn, "day")
    assert len(days) == 30
    alerting = [r.day.day for r in days if r.gap_alert and r.day is not None]
    assert alerting == [*range(1, 11), *range(21, 31)]
    quiet = next(r for r in days if r.day == date(2026, 11, 15))
    # Only gpt-4o-mini's price difference: 0.0045 of 0.795 billed (0.57 %, under the 2 % threshold).
    assert (quiet.billed, quiet.gap, quiet.gap_pct, quiet.price_diff) == (
        Decimal("0.795"), Decimal("0.0045"), Decimal("0.57"), Decimal("0.0045"))  # fmt: skip
    conn.execute("SELECT bill_set_thresholds(0.5, 90)")
    assert all(r.gap_alert for r in rows(conn, "day"))


def test_detail_rows_add_up_to_the_month(conn: Conn) -> None:
    detail = rows(conn, "detail")
    assert len(detail) == 60
    assert sum(r.gap for r in detail) == Decimal("2.985")
    assert all(r.gap == r.unseen + r.unpriced + r.price_diff for r in detail if r.unseen is not None)
    first = next(r for r in detail if r.day == sc.FIRST and r.model == sc.GPT4O)
    assert (first.billed, first.unseen, first.missing_from) == (Decimal("0.90"), Decimal("0.15"), "batch-worker")


def test_by_project_names_the_service_and_its_unseen_money(conn: Conn) -> None:
    projects = read(conn, sc.FIRST, sc.LAST, "project")
    assert all(isinstance(p, ProjectReconciliation) for p in projects)
    by_id = {p.project: p for p in projects}  # type: ignore[union-attr]
    batch, shop = by_id["proj_batch"], by_id["proj_shop"]
    assert isinstance(batch, ProjectReconciliation) and isinstance(shop, ProjectReconciliation)
    assert (batch.services, batch.billed, batch.billed_tokens, batch.seen_tokens, batch.unseen) == (
        "batch-worker", Decimal("1.50"), 300_000, 0, Decimal("1.50"))  # fmt: skip
    assert (shop.services, shop.billed, shop.seen_tokens, shop.unseen) == (
        "checkout", Decimal("23.85"), 9_000_000, Decimal(0))  # fmt: skip
