"""What the demo prints at the end: the P&L, the budgets and their alerts, and the simulator's suggestions.

Everything is read from the same SQL (and the same simulator) that Grafana, the CLI and REST use.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from otel_margin_backend.analytics import render
from otel_margin_backend.analytics.pnl import Period, read_pnl, read_quality
from otel_margin_backend.bills.reconcile import BillReconciliation, ProjectReconciliation
from otel_margin_backend.bills.reconcile import read as read_bill
from otel_margin_backend.pipeline.money import money
from otel_margin_backend.pricing import PricingConfig, build_book
from otel_margin_backend.simulator.config import SimulatorConfig
from otel_margin_backend.simulator.simulator import SimulationRequest, Simulator
from otel_margin_backend.storage.database import Store

STATE_STYLE = {"ok": "green", "warning": "yellow", "critical": "red", "exceeded": "bold red"}


def print_report(store: Store, pricing: PricingConfig, simulator: SimulatorConfig, start: datetime, end: datetime,
                 console: Console) -> None:  # fmt: skip
    """Print the demo's summary for ``[start, end)`` from the store's SQL views and the simulator."""
    span = Period(start, end)
    with store.connection() as conn:
        rows = read_pnl(conn, span, "customer")
        org = read_pnl(conn, span, "organization")
        quality = read_quality(conn, span)
        budgets = conn.execute(
            "SELECT budget, scope_label, period, spend, limit_amount, percent_used, forecast, state, currency"
            " FROM budget_status ORDER BY percent_used DESC NULLS LAST, budget"
        ).fetchall()
        alerts = conn.execute(
            "SELECT budget, severity, trim_scale(threshold_percent), spend_at_crossing, currency, crossed_at"
            " FROM budget_alerts"
            " WHERE resolved_at IS NULL ORDER BY crossed_at, budget, threshold_percent"
        ).fetchall()
        bill = read_bill(conn, start.date(), (end - timedelta(microseconds=1)).date(), "model")
        # The configured simulator, as `otel-margin simulate` uses it (its quality-drop limit included).
        simulation = Simulator(simulator, build_book(pricing)).simulate(conn, SimulationRequest(start=start, end=end))
    console.print()
    console.print(render.pnl_table(rows, by="customer", title=f"P&L by customer, {span.label}"))
    console.print(render.pnl_table(org, by="organization", title="Organization"))
    console.print(render.quality_line(quality))

    table = Table(title="Budgets (current period)", title_justify="left")
    for column in ("Budget", "Scope", "Period", "Spend", "Limit", "% used", "Forecast", "State"):
        table.add_column(column, justify="right" if column in ("Spend", "Limit", "% used", "Forecast") else "left")
    for name, scope, period, spend, limit, used, forecast, state, currency in budgets:
        style = STATE_STYLE.get(state, "")
        table.add_row(name, scope, period, money(spend, currency), money(limit, currency),
                      render.percent(used), money(forecast, currency), f"[{style}]{state}[/]")  # fmt: skip
    console.print(table)
    for budget, severity, threshold, spend, currency, crossed_at in alerts:
        console.print(
            f"[{STATE_STYLE.get(severity, '')}]alert[/] {budget}: {severity} at {threshold} % "
            f"(spend {money(spend, currency)}) since {crossed_at:%Y-%m-%d %H:%M} UTC"
        )  # fmt: skip

    suggestions = Table(title="Cheaper models (simulated on the same calls, current prices)", title_justify="left")
    for column in ("Feature", "Current model", "Events", "Cost", "Suggested", "Simulated cost", "Savings ($)",
                   "Savings (%)", "Quality Δ"):  # fmt: skip
        suggestions.add_column(column)
    for group in simulation.groups:
        best = group.suggested
        if best is None:
            continue
        suggestions.add_row(
            group.feature, group.model, f"{group.events:,}", money(group.cost),
            best.candidate, money(best.simulated_cost), money(best.savings),
            render.percent(best.savings_percent), _signed(group.quality_difference),
        )  # fmt: skip
    console.print(suggestions)
    _print_bill(bill, console)


def _print_bill(rows: list[BillReconciliation] | list[ProjectReconciliation], console: Console) -> None:
    reconciled = [r for r in rows if isinstance(r, BillReconciliation)]
    if not reconciled:
        return
    table = Table(title="The provider's bill against the spans (bills reconcile)", title_justify="left")
    for column in ("Model", "Billed", "Computed", "Gap", "Unseen", "Covered"):
        table.add_column(column, justify="left" if column == "Model" else "right")
    for r in reconciled:
        table.add_row(f"{r.provider}/{r.model}", money(r.billed), money(r.computed), money(r.gap),
                      money(r.unseen), render.percent(r.coverage_pct))  # fmt: skip
    console.print(table)
    missing = sorted({s.strip() for r in reconciled if r.missing_from for s in r.missing_from.split(",")})
    if missing:
        console.print(f"Billed calls no span shows come from: {', '.join(missing)} (a job nobody instrumented).")


def _signed(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:+.1f}"
