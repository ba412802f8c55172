"""Evaluation on real TimescaleDB and PostgreSQL: each threshold crossed once per period, resolved when it ends
or the spend falls back, and the budget_status view's exact figures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from otel_margin_backend.budgets.definition import parse_file
from otel_margin_backend.budgets.evaluation import Evaluation, evaluate
from otel_margin_backend.budgets.store import Alert, apply_budgets, read_alerts, read_status
from tests.backend.budgets.helpers import IMAGE_BUDGET, call, connect, delete_call, notifications, reprice, spend
from tests.support.events import run
from tests.support.seed import revenue
from tests.support.stores import READER_ROLE

MID_NOV = datetime(2026, 11, 16, tzinfo=UTC)  # half of November has elapsed: the forecast doubles the spend
LATE_NOV = datetime(2026, 11, 20, 12, tzinfo=UTC)
DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)
EARLY_DEC = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
MID_DEC = datetime(2026, 12, 16, tzinfo=UTC)


def _crossings(alerts: list[Alert]) -> list[tuple[object, ...]]:
    return [
        (a.severity, a.threshold_percent, a.period_start, a.crossed_at, a.spend_at_crossing, a.limit_at_crossing)
        for a in sorted(alerts, key=lambda a: a.id)
    ]


def _resolutions(alerts: list[Alert]) -> list[tuple[object, ...]]:
    return [
        (a.severity, a.resolved_at, a.resolution, a.spend_at_resolution, a.limit_at_resolution)
        for a in sorted(alerts, key=lambda a: a.id)
    ]


def test_a_600_budget_crosses_75_and_90_once_each_and_starts_clean_next_month(db_url: str) -> None:
    async def scenario() -> None:
        async with connect(db_url) as conn:
            applied = await apply_budgets(conn, parse_file(IMAGE_BUDGET), at=MID_NOV)
            assert applied.evaluation == Evaluation(crossed=0, resolved=0)
            # Another feature's spend never counts.
            await spend(db_url, call(100, "5000", feature="summarize"))

            await spend(db_url, call(1, "400.00"))
            assert await evaluate(conn, at=MID_NOV) == Evaluation(0, 0)
            [status] = await read_status(conn, at=MID_NOV)
            assert (status.spend, status.limit_amount, status.percent_used, status.state) == (
                Decimal("400.00"), Decimal(600), Decimal("66.66"), "ok",
            )  # fmt: skip
            assert (status.forecast, status.forecast_percent) == (Decimal("800.00"), Decimal("133.33"))

            await spend(db_url, call(2, "60.00"))
            assert await evaluate(conn, at=MID_NOV) == Evaluation(1, 0)
            assert await evaluate(conn, at=MID_NOV) == Evaluation(0, 0)
            assert await evaluate(conn, at=LATE_NOV) == Evaluation(0, 0)
            [status] = await read_status(conn, at=MID_NOV)
            assert (status.spend, status.percent_used, status.state) == (Decimal("460.00"), Decimal("76.66"), "warning")

            await spend(db_url, call(3, "100.00"))
            assert await evaluate(conn, at=LATE_NOV) == Evaluation(1, 0)
            for _ in range(3):
                assert await evaluate(conn, at=LATE_NOV) == Evaluation(0, 0)
            [status] = await read_status(conn, at=LATE_NOV)
            assert (status.spend, status.percent_used, status.state) == (
                Decimal("560.00"),
                Decimal("93.33"),
                "critical",
            )

            nov = datetime(2026, 11, 1, tzinfo=UTC)
            alerts = await read_alerts(conn)
            assert _crossings(alerts) == [
                ("warning", Decimal(75), nov, MID_NOV, Decimal("460.00"), Decimal(600)),
                ("critical", Decimal(90), nov, LATE_NOV, Decimal("560.00"), Decimal(600)),
            ]
            assert _resolutions(alerts) == [("warning", None, None, None, None), ("critical", None, None, None, None)]

            # December: November's alerts are resolved as rolled over (once), and the month starts clean.
            assert await evaluate(conn, at=EARLY_DEC) == Evaluation(0, 2)
            assert await evaluate(conn, at=EARLY_DEC) == Evaluation(0, 0)
            assert _resolutions(await read_alerts(conn)) == [
                ("warning", DEC_1, "period_rolled_over", Decimal("560.00"), Decimal(600)),
                ("critical", DEC_1, "period_rolled_over", Decimal("560.00"), Decimal(600)),
            ]
            [status] = await read_status(conn, at=EARLY_DEC)
            assert (status.period_start, status.spend, status.percent_used, status.state) == (
                DEC_1, Decimal(0), Decimal("0.00"), "ok",
            )  # fmt: skip
            assert await read_alerts(conn, open_only=True) == []

            # December's own crossing is a new alert of the new period.
            await spend(db_url, call(4, "450", time=datetime(2026, 12, 2, tzinfo=UTC)))
            assert await evaluate(conn, at=MID_DEC) == Evaluation(1, 0)
            assert await evaluate(conn, at=MID_DEC) == Evaluation(0, 0)
            [december] = await read_alerts(conn, open_only=True)
            assert (december.severity, december.period_start, december.spend_at_crossing) == (
                "warning", DEC_1, Decimal(450),
            )  # fmt: skip

            queued = await notifications(conn)
            assert [(e, p["severity"], p["period"]["start"]) for e, p in queued] == [
                ("crossed", "warning", "2026-11-01T00:00:00Z"),
                ("crossed", "critical", "2026-11-01T00:00:00Z"),
                ("resolved", "warning", "2026-11-01T00:00:00Z"),
                ("resolved", "critical", "2026-11-01T00:00:00Z"),
                ("crossed", "warning", "2026-12-01T00:00:00Z"),
            ]
            first_id = min(a.id for a in alerts)
            assert queued[0][1] == {
                "event": "budget.threshold_crossed",
                "alert_id": first_id,
                "budget": "image-generation",
                "scope": {"feature": "image_generation"},
                "scope_label": "feature=image_generation",
                "period": {"kind": "month", "start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
                "severity": "warning",
                "threshold_percent": "75",
                "currency": "USD",
                "spend": "460",
                "limit": "600",
                "percent": "76.66",
                "crossed_at": "2026-11-16T00:00:00Z",
                "resolved_at": None,
                "resolution": None,
            }
            assert queued[2][1] | {"alert_id": 0} == queued[0][1] | {
                "alert_id": 0,
                "event": "budget.threshold_resolved",
                "spend": "560",
                "percent": "93.33",
                "resolved_at": "2026-12-01T00:00:00Z",
                "resolution": "period_rolled_over",
            }

    run(scenario())


def test_spend_falling_back_resolves_and_a_new_crossing_is_a_new_alert(db_url: str) -> None:
    async def scenario() -> None:
        async with connect(db_url) as conn:
            await apply_budgets(conn, parse_file(IMAGE_BUDGET), at=MID_NOV)
            await spend(db_url, call(1, "400"), call(2, "60"), call(3, "100"))
            # Both thresholds reached in one evaluation: two alerts, warning first.
            assert await evaluate(conn, at=MID_NOV) == Evaluation(2, 0)

            await reprice(conn, 3, "10")  # 470 = 78.33 %: below critical, still above warning
            assert await evaluate(conn, at=LATE_NOV) == Evaluation(0, 1)
            assert await evaluate(conn, at=LATE_NOV) == Evaluation(0, 0)
            await delete_call(conn, 2)  # 410 = 68.33 %
            assert await evaluate(conn, at=LATE_NOV) == Evaluation(0, 1)
            assert _resolutions(await read_alerts(conn)) == [
                ("warning", LATE_NOV, "spend_fell_back", Decimal(410), Decimal(600)),
                ("critical", LATE_NOV, "spend_fell_back", Decimal(470), Decimal(600)),
            ]
            [status] = await read_status(conn, at=LATE_NOV)
            assert (status.spend, status.state) == (Decimal(410), "ok")

            # Spend rises again: the thresholds fire again, as new alerts (the old ones stay resolved).
            await spend(db_url, call(4, "190"))  # 600 = 100 %
            assert await evaluate(conn, at=LATE_NOV) == Evaluation(3, 0)
            assert await evaluate(conn, at=LATE_NOV) == Evaluation(0, 0)
            open_alerts = await read_alerts(conn, open_only=True)
            assert sorted(a.severity for a in open_alerts) == ["critical", "exceeded", "warning"]
            [status] = await read_status(conn, at=LATE_NOV)
            assert (status.spend, status.percent_used, status.state) == (Decimal(600), Decimal("100.00"), "exceeded")
            assert [e for e, _ in await notifications(conn)] == ["crossed"] * 2 + ["resolved"] * 2 + ["crossed"] * 3

    run(scenario())


def test_concurrent_evaluations_record_each_crossing_once(db_url: str) -> None:
    async def scenario() -> None:
        async with connect(db_url) as setup:
            await apply_budgets(setup, parse_file(IMAGE_BUDGET), at=MID_NOV)
        await spend(db_url, call(1, "600"))

        async def one() -> Evaluation:
            async with connect(db_url) as conn:
                return await evaluate(conn, at=MID_NOV)

        results = await asyncio.gather(*(one() for _ in range(6)))
        assert sum(r.crossed for r in results) == 3
        async with connect(db_url) as conn:
            assert len(await read_alerts(conn)) == 3
            assert len(await notifications(conn)) == 3

    run(scenario())


SCOPES = """\
budgets:
  - name: org
    period: month
    limit: {amount: 1000}
  - name: acme
    scope: {customer: acct_acme}
    period: month
    limit: {amount: 100}
  - name: acme-chat
    scope: {customer: acct_acme, feature: chat}
    period: month
    limit: {amount: 40}
  - name: gpt-4o
    scope: {provider: openai, model: gpt-4o}
    period: month
    limit: {amount: 200}
  - name: acme-today
    scope: {customer: acct_acme}
    period: day
    limit: {amount: 10}
    thresholds: {warning_percent: null, critical_percent: 50}
"""


def test_scopes_and_periods_count_exactly_their_usage(db_url: str) -> None:
    nov_2 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    oct_31 = datetime(2026, 10, 31, 23, 59, tzinfo=UTC)

    async def scenario() -> None:
        await spend(
            db_url,
            call(1, "12.5", customer="acct_acme", feature="chat", model="gpt-4o"),
            call(2, "7.25", customer="acct_acme", feature="search", model="claude-sonnet-4", provider="anthropic"),
            call(3, "30", customer="acct_beta", feature="chat", model="gpt-4o"),
            call(4, "0.125", customer="acct_acme", feature="chat", model="gpt-4o-mini", time=nov_2),
            call(5, "999", customer="acct_acme", feature="chat", model="gpt-4o", time=oct_31),  # October
            call(6, None, customer="acct_acme", feature="chat", model="mystery-model"),  # unpriced
        )
        async with connect(db_url) as conn:
            result = await apply_budgets(conn, parse_file(SCOPES), at=LATE_NOV)
            assert result.evaluation == Evaluation(0, 0)
            rows = {s.budget: s for s in await read_status(conn, at=datetime(2026, 11, 3, 18, tzinfo=UTC))}
        assert {name: (s.spend, s.unpriced_calls, s.scope_label) for name, s in rows.items()} == {
            "org": (Decimal("49.875"), 1, "organization"),
            "acme": (Decimal("19.875"), 1, "customer=acct_acme"),
            "acme-chat": (Decimal("12.625"), 1, "customer=acct_acme, feature=chat"),
            "gpt-4o": (Decimal("42.5"), 0, "provider=openai, model=gpt-4o"),
            "acme-today": (Decimal("19.75"), 1, "customer=acct_acme"),
        }
        today = rows["acme-today"]
        assert (today.period, today.period_start, today.period_end) == (
            "day", datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC),
        )  # fmt: skip
        # 19.75 of 10 by 18:00: the day's run rate is 19.75 / 0.75.
        assert (today.percent_used, today.forecast, today.state) == (Decimal("197.50"), Decimal("26.33"), "exceeded")
        assert (today.warning_percent, today.critical_percent) == (None, Decimal(50))
        assert rows["acme-chat"].state == "ok" and rows["acme-chat"].percent_used == Decimal("31.56")

    run(scenario())


REVENUE_SHARE = """\
budgets:
  - name: acme-ai-share
    scope: {customer: acct_acme}
    period: month
    limit: {percent_of_revenue: 30}
  - name: org-ai-share
    period: month
    limit: {percent_of_revenue: 30}
  - name: acme-ai-share-daily
    scope: {customer: acct_acme}
    period: day
    limit: {percent_of_revenue: 30}
"""


def test_a_share_of_revenue_limit_follows_the_customers_net_revenue(db_url: str) -> None:
    async def scenario() -> None:
        revenue(db_url, "acct_acme", "2026-11", "1000.00")
        revenue(db_url, "acct_beta", "2026-11", "2000.00")
        revenue(db_url, "acct_acme", "2026-10", "5000.00")  # another month: never counts for November
        await spend(db_url, call(1, "240", customer="acct_acme"))
        async with connect(db_url) as conn:
            result = await apply_budgets(conn, parse_file(REVENUE_SHARE), at=MID_NOV)
            assert result.evaluation == Evaluation(crossed=1, resolved=0)  # acme's warning: 240 is 80 % of 300
            rows = {s.budget: s for s in await read_status(conn, at=MID_NOV)}
            acme = rows["acme-ai-share"]
            assert (acme.limit_kind, acme.percent_of_revenue, acme.revenue, acme.limit_amount) == (
                "percent_of_revenue", Decimal(30), Decimal("1000.00"), Decimal(300),
            )  # fmt: skip
            assert (acme.spend, acme.percent_used, acme.state) == (Decimal(240), Decimal("80.00"), "warning")
            org = rows["org-ai-share"]
            assert (org.revenue, org.limit_amount, org.percent_used) == (
                Decimal("3000.00"),
                Decimal(900),
                Decimal("26.66"),
            )
            # A day gets its share of the month's revenue (1000 / 30 days), as the P&L prorates: 30 % of it is 10.
            daily = rows["acme-ai-share-daily"]
            assert (daily.period_start, daily.limit_amount, daily.spend, daily.state) == (
                MID_NOV, Decimal(10), Decimal(0), "ok",
            )  # fmt: skip
            [nov_3] = await read_status(conn, at=datetime(2026, 11, 3, 18, tzinfo=UTC), name="acme-ai-share-daily")
            assert (nov_3.limit_amount, nov_3.spend, nov_3.percent_used, nov_3.state) == (
                Decimal(10), Decimal(240), Decimal("2400.00"), "exceeded",
            )  # fmt: skip

            # More revenue raises the limit past the spend: resolved as limit_raised, not as a spend change.
            revenue(db_url, "acct_acme", "2026-11", "500.00", source_id="upsell")
            assert await evaluate(conn, at=MID_NOV) == Evaluation(0, 1)
            [acme] = await read_status(conn, at=MID_NOV, name="acme-ai-share")
            assert (acme.limit_amount, acme.percent_used, acme.state) == (Decimal(450), Decimal("53.33"), "ok")
            resolved = [a for a in await read_alerts(conn, budget="acme-ai-share") if a.resolution]
            assert [(a.severity, a.resolution, a.spend_at_resolution, a.limit_at_resolution) for a in resolved] == [
                ("warning", "limit_raised", Decimal(240), Decimal(450))
            ]

            # Refunded to nothing: no revenue means any AI cost exceeds a share-of-revenue limit.
            revenue(db_url, "acct_acme", "2026-11", "-1500.00", kind="refund", source_id="refund")
            [acme] = await read_status(conn, at=MID_NOV, name="acme-ai-share")
            assert (acme.revenue, acme.limit_amount, acme.percent_used, acme.state) == (
                Decimal("0.00"), Decimal(0), None, "exceeded",
            )  # fmt: skip
            assert await evaluate(conn, at=MID_NOV) == Evaluation(3, 0)

    run(scenario())


def test_the_evaluation_right_after_apply_counts(db_url: str) -> None:
    async def scenario() -> None:
        async with connect(db_url) as conn:
            await apply_budgets(conn, parse_file(REVENUE_SHARE), at=MID_NOV)
            # Evaluated at once on apply: the day budget has no revenue and no spend, so nothing alerts.
            assert await read_alerts(conn) == []

    run(scenario())


EUR_BUDGET = """\
budgets:
  - name: image-eur
    scope: {feature: image_generation}
    period: month
    limit: {amount: 500, currency: EUR}
"""


def test_a_budget_in_another_currency_converts_the_spend(db_url: str) -> None:
    async def scenario() -> None:
        await spend(db_url, call(1, "400"))
        async with connect(db_url) as conn:
            await apply_budgets(conn, parse_file(EUR_BUDGET), at=MID_NOV)
            [row] = await read_status(conn, at=MID_NOV)
            # No EUR rate for USD yet: the spend is unknown and nothing alerts.
            assert (row.spend_usd, row.spend, row.state, row.percent_used) == (Decimal(400), None, "no_fx_rate", None)
            assert await evaluate(conn, at=MID_NOV) == Evaluation(0, 0)

            await conn.execute("SELECT fx_rate_upsert('EUR', 'USD', '2026-11-01', 0.9)")
            [row] = await read_status(conn, at=MID_NOV)
            assert (row.spend, row.percent_used, row.state, row.currency) == (
                Decimal("360.0"), Decimal("72.00"), "ok", "EUR",
            )  # fmt: skip
            await spend(db_url, call(2, "20"))
            assert await evaluate(conn, at=MID_NOV) == Evaluation(1, 0)
            [alert] = await read_alerts(conn)
            assert (alert.currency, alert.spend_at_crossing, alert.limit_at_crossing) == ("EUR", Decimal("378.0"), 500)

    run(scenario())


def test_the_status_view_is_the_source_and_dashboards_can_read_it(db_url: str) -> None:
    now = datetime.now(UTC)

    async def scenario() -> None:
        await spend(db_url, call(1, "450", time=now))
        async with connect(db_url) as conn:
            await apply_budgets(conn, parse_file(IMAGE_BUDGET))
            [from_python] = await read_status(conn)
        assert from_python.spend == Decimal(450) and from_python.state == "warning"
        assert from_python.period_start == now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    run(scenario())
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"SET ROLE {READER_ROLE}")
        row = conn.execute("SELECT budget, spend, limit_amount, percent_used, state FROM budget_status").fetchone()
        alerts = conn.execute("SELECT count(*) FROM budget_alerts WHERE resolved_at IS NULL").fetchone()
    assert row == ("image-generation", Decimal(450), Decimal(600), Decimal("75.00"), "warning")
    assert alerts == (1,)


def test_periods_and_payloads_are_utc_whatever_the_session_time_zone(db_url: str) -> None:
    async def scenario() -> None:
        await spend(db_url, call(1, "460", time=datetime(2026, 11, 30, 23, 30, tzinfo=UTC)))
        async with await psycopg.AsyncConnection.connect(
            db_url, autocommit=True, options="-c TimeZone=Pacific/Auckland"
        ) as conn:
            await apply_budgets(conn, parse_file(IMAGE_BUDGET), at=MID_NOV)  # 2026-11-16 13:00 in Auckland
            [status] = await read_status(conn, at=MID_NOV)
            assert (status.period_start, status.period_end, status.spend) == (
                datetime(2026, 11, 1, tzinfo=UTC), DEC_1, Decimal(460),
            )  # fmt: skip
            [(_, payload)] = await notifications(conn)
        assert payload["period"] == {"kind": "month", "start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}
        assert payload["crossed_at"] == "2026-11-16T00:00:00Z"

    run(scenario())
