"""Applying budgets files, REST-made budgets, and what changing or removing a budget does to its alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from otel_margin_backend.budgets.definition import BudgetConfig, LimitConfig, ScopeConfig, parse_file
from otel_margin_backend.budgets.errors import BudgetManagedByFile, BudgetNotFound
from otel_margin_backend.budgets.evaluation import Evaluation
from otel_margin_backend.budgets.store import (
    apply_budgets,
    delete_budget,
    get_budget,
    list_budgets,
    put_budget,
    read_alerts,
)
from otel_margin_backend.storage.database import AsyncConn
from tests.backend.budgets.helpers import IMAGE_BUDGET, call, connect, notifications, spend
from tests.support.events import run

AT = datetime(2026, 11, 16, tzinfo=UTC)

TWO_BUDGETS = (
    IMAGE_BUDGET
    + """\
  - name: acme-daily
    scope: {customer: acct_acme, feature: chat}
    period: day
    limit: {amount: 25.50}
    thresholds: {warning_percent: 50}
"""
)


async def snapshot(conn: AsyncConn) -> list[tuple[Any, ...]]:
    """Everything apply may touch, including timestamps."""
    out: list[tuple[Any, ...]] = []
    for table in ("budgets", "budget_alerts", "budget_notifications"):
        cur = await conn.execute(f"SELECT * FROM {table} ORDER BY 1")
        out += [(table, *row) for row in await cur.fetchall()]
    return out


def test_applying_the_same_file_twice_changes_nothing(db_url: str) -> None:
    async def scenario() -> None:
        await spend(db_url, call(1, "500"))
        async with connect(db_url) as conn:
            first = await apply_budgets(conn, parse_file(TWO_BUDGETS), at=AT)
            assert (first.created, first.updated, first.unchanged, first.removed) == (
                ("image-generation", "acme-daily"), (), (), (),
            )  # fmt: skip
            assert first.evaluation == Evaluation(crossed=1, resolved=0)
            before = await snapshot(conn)
            # The same budgets, reformatted: flow style, 600.00 for 600, keys reordered.
            same = TWO_BUDGETS.replace("amount: 600", "amount: 600.00").replace(
                "    scope: {customer: acct_acme, feature: chat}", "    scope: {feature: chat, customer: acct_acme}"
            )
            for text in (TWO_BUDGETS, same):
                again = await apply_budgets(conn, parse_file(text), at=AT)
                assert (again.created, again.updated, again.removed) == ((), (), ())
                assert again.unchanged == ("image-generation", "acme-daily")
                assert again.evaluation == Evaluation(0, 0)
                assert not again.changed
                assert await snapshot(conn) == before

    run(scenario())


def test_a_dry_run_changes_nothing(db_url: str) -> None:
    async def scenario() -> None:
        async with connect(db_url) as conn:
            result = await apply_budgets(conn, parse_file(TWO_BUDGETS), dry_run=True, at=AT)
            assert result.created == ("image-generation", "acme-daily") and result.evaluation is None
            assert await list_budgets(conn) == []

    run(scenario())


def test_budgets_missing_from_the_file_are_removed_but_rest_ones_are_kept(db_url: str) -> None:
    async def scenario() -> None:
        await spend(db_url, call(1, "500"), call(2, "20", customer="acct_acme", feature="chat"))
        async with connect(db_url) as conn:
            await apply_budgets(conn, parse_file(TWO_BUDGETS), at=AT)
            rest = BudgetConfig(name="from-rest", period="month", limit=LimitConfig(amount=Decimal(10_000)))
            assert await put_budget(conn, rest, at=AT) == ("created", Evaluation(0, 0))
            open_before = {(a.budget, a.severity) for a in await read_alerts(conn, open_only=True)}
            assert open_before == {("image-generation", "warning")}

            result = await apply_budgets(conn, parse_file("budgets: []"), at=AT)
            assert result.removed == ("acme-daily", "image-generation")
            assert [b.config.name for b in await list_budgets(conn)] == ["from-rest"]
            [alert] = await read_alerts(conn)
            assert (alert.budget, alert.resolution, alert.resolved_at, alert.spend_at_resolution) == (
                "image-generation", "budget_removed", AT, Decimal(500),
            )  # fmt: skip
            assert [(e, p["resolution"]) for e, p in await notifications(conn)] == [
                ("crossed", None), ("resolved", "budget_removed"),
            ]  # fmt: skip

    run(scenario())


def test_changing_what_a_budget_measures_resets_its_alerts(db_url: str) -> None:
    async def scenario() -> None:
        await spend(db_url, call(1, "560"))
        async with connect(db_url) as conn:
            await apply_budgets(conn, parse_file(IMAGE_BUDGET), at=AT)
            assert {a.severity for a in await read_alerts(conn, open_only=True)} == {"warning", "critical"}

            # A new description only: alerts stay as they are.
            reworded = await apply_budgets(conn, parse_file(IMAGE_BUDGET.replace("for all", "for every")), at=AT)
            assert reworded.updated == ("image-generation",) and reworded.evaluation == Evaluation(0, 0)

            # A higher limit: the open alerts are resolved as budget_changed, then evaluated afresh (560 of 700
            # is 80 %: the warning fires again, the critical does not).
            raised = await apply_budgets(conn, parse_file(IMAGE_BUDGET.replace("amount: 600", "amount: 700")), at=AT)
            assert raised.updated == ("image-generation",)
            assert raised.evaluation == Evaluation(crossed=1, resolved=0)
            alerts = sorted(await read_alerts(conn), key=lambda a: a.id)
            assert [(a.severity, a.limit_at_crossing, a.resolution) for a in alerts] == [
                ("warning", Decimal(600), "budget_changed"),
                ("critical", Decimal(600), "budget_changed"),
                ("warning", Decimal(700), None),
            ]

    run(scenario())


def test_rest_budgets_are_created_updated_and_deleted(db_url: str) -> None:
    async def scenario() -> None:
        async with connect(db_url) as conn:
            budget = BudgetConfig(
                name="acme", scope=ScopeConfig(customer="acct_acme"), period="day", limit=LimitConfig(amount=Decimal(5))
            )
            assert (await put_budget(conn, budget, at=AT))[0] == "created"
            assert (await put_budget(conn, budget, at=AT))[0] == "unchanged"
            bigger = budget.model_copy(update={"limit": LimitConfig(amount=Decimal("7.5"))})
            assert (await put_budget(conn, bigger, at=AT))[0] == "updated"
            stored = await get_budget(conn, "acme")
            assert stored is not None and stored.managed_by == "api" and stored.config == bigger
            await delete_budget(conn, "acme", at=AT)
            assert await get_budget(conn, "acme") is None
            with pytest.raises(BudgetNotFound, match="no budget named 'acme'"):
                await delete_budget(conn, "acme", at=AT)

    run(scenario())


def test_file_budgets_are_read_only_over_rest_and_a_file_takes_over_a_rest_budget(db_url: str) -> None:
    async def scenario() -> None:
        async with connect(db_url) as conn:
            rest = BudgetConfig(name="image-generation", period="day", limit=LimitConfig(amount=Decimal(1)))
            await put_budget(conn, rest, at=AT)
            result = await apply_budgets(conn, parse_file(IMAGE_BUDGET), at=AT)
            assert result.updated == ("image-generation",)
            stored = await get_budget(conn, "image-generation")
            assert stored is not None and stored.managed_by == "file" and stored.config.period == "month"
            with pytest.raises(BudgetManagedByFile, match="managed by the budgets file"):
                await put_budget(conn, rest, at=AT)
            with pytest.raises(BudgetManagedByFile):
                await delete_budget(conn, "image-generation", at=AT)

    run(scenario())
