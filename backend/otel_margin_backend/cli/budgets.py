"""``otel-margin budgets``: apply a budgets file, show status, list, delete, and show alerts.

Mounted on the main command with ``app.add_typer(budgets_app, name="budgets")``. Errors follow the main
command's convention (``_user_errors``): one red line per problem, exit 1, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from otel_margin_backend.budgets import store
from otel_margin_backend.budgets.definition import load_file
from otel_margin_backend.cli.common import console, run_async, user_errors
from otel_margin_backend.pipeline.money import NONE_TEXT, exact_number, money
from otel_margin_backend.storage.database import AsyncConn

T = TypeVar("T")

budgets_app = typer.Typer(
    name="budgets",
    help="Budgets on AI cost with threshold alerts (75 % warning, 90 % critical, 100 % exceeded by default).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

STATE_STYLES = {
    "ok": "green",
    "warning": "yellow",
    "critical": "bold red",
    "exceeded": "bold white on red",
    "no_fx_rate": "magenta",
}
"""Colors of budget states in tables."""

Format = Literal["table", "json"]


def _run(work: Callable[[AsyncConn], Awaitable[T]]) -> T:
    return run_async(work)


@budgets_app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="The budgets YAML file.", dir_okay=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")] = False,
) -> None:
    """Make the budgets those of FILE, then evaluate them.

    Budgets in the file are created or updated; budgets an earlier apply created that the file no longer has
    are removed; budgets made over REST are kept. Applying the same file again changes nothing.
    """
    with user_errors():
        config = load_file(file)
    result = _run(lambda conn: store.apply_budgets(conn, config, dry_run=dry_run))
    console.print(f"{'Would apply' if dry_run else 'Applied'} {file}:", highlight=False, soft_wrap=True)
    changes = Table("budget", "change")
    for names, label in (
        (result.created, "[green]created[/]"),
        (result.updated, "[yellow]updated[/]"),
        (result.removed, "[red]removed[/]"),
        (result.unchanged, "[dim]unchanged[/]"),
    ):
        for name in names:
            changes.add_row(name, label)
    console.print(changes)
    counts = (
        f"{len(result.created)} created, {len(result.updated)} updated, {len(result.removed)} removed, "
        f"{len(result.unchanged)} unchanged"
    )
    if result.evaluation is None:
        console.print(f"Dry run: {counts}. Nothing was changed.")
        return
    evaluation = result.evaluation
    console.print(
        f"{counts}. Evaluated: {evaluation.crossed} threshold(s) newly crossed, {evaluation.resolved} resolved."
    )


@budgets_app.command()
def status(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    at: Annotated[
        datetime | None,
        typer.Option(help="Show the periods containing this UTC time instead of now, e.g. 2026-10-31T23:59:59."),
    ] = None,
) -> None:
    """Each budget in its current period: spend, limit, % used, forecast at period end and state."""
    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"{fmt!r}: use table or json", param_hint="--format")
    when = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    rows = _run(lambda conn: store.read_status(conn, at=when))
    if fmt == "json":
        console.print_json(json.dumps({"budgets": [r.as_json() for r in rows]}))
        return
    if not rows:
        console.print("No budgets. Define them in a YAML file and run `otel-margin budgets apply FILE`.")
        return
    table = Table(
        "budget", "scope", "period", "spend", "limit", "% used", "forecast", "state",
        title=f"Budgets as of {(when or datetime.now(UTC)):%Y-%m-%d %H:%M} UTC",
    )  # fmt: skip
    for r in rows:
        style = STATE_STYLES.get(r.state, "")
        limit = _amount(r.limit_amount, r.currency)
        if r.limit_kind == "percent_of_revenue":
            limit += f" ({exact_number(r.percent_of_revenue)} % of {_amount(r.revenue, r.currency)})"
        forecast = _amount(r.forecast, r.currency)
        if r.forecast_percent is not None:
            forecast += f" ({exact_number(r.forecast_percent)} %)"
        table.add_row(
            r.budget,
            r.scope_label,
            f"{r.period} from {r.period_start:%Y-%m-%d}",
            _amount(r.spend, r.currency) + (f" [dim](+{r.unpriced_calls} unpriced)[/]" if r.unpriced_calls else ""),
            limit,
            Text(NONE_TEXT if r.percent_used is None else f"{exact_number(r.percent_used)} %", style=style),
            forecast,
            Text(r.state, style=style),
        )
    console.print(table)


@budgets_app.command("list")
def list_() -> None:
    """Every budget's definition: scope, period, limit, thresholds and who manages it."""
    budgets = _run(store.list_budgets)
    if not budgets:
        console.print("No budgets.")
        return
    table = Table("budget", "scope", "period", "limit", "thresholds", "managed by", "description")
    for b in budgets:
        c = b.config
        limit = (
            _amount(c.limit.amount, c.limit.currency)
            if c.limit.amount is not None
            else f"{exact_number(c.limit.percent_of_revenue)} % of revenue ({c.limit.currency})"
        )
        thresholds = " / ".join(
            f"{severity} {exact_number(percent)} %"
            for severity, percent in c.thresholds.by_severity().items()
            if percent
        )
        scope = ", ".join(f"{k}={v}" for k, v in c.scope.as_dict().items()) or "organization"
        table.add_row(c.name, scope, c.period, limit, thresholds, b.managed_by, c.description)
    console.print(table)


@budgets_app.command()
def delete(name: Annotated[str, typer.Argument(help="The budget to remove.")]) -> None:
    """Remove a budget made over REST (open alerts are resolved as budget_removed).

    Budgets from the budgets file are removed by deleting them from the file and running apply.
    """
    _run(lambda conn: store.delete_budget(conn, name))
    console.print(f"Removed budget {name}.")


@budgets_app.command()
def alerts(
    budget: Annotated[str | None, typer.Option(help="Only this budget's alerts.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only alerts not resolved yet.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most alerts shown, newest first.")] = 50,
) -> None:
    """Threshold crossings, newest first, with how each was resolved."""
    rows = _run(lambda conn: store.read_alerts(conn, budget=budget, open_only=open_only, limit=limit))
    if not rows:
        console.print("No budget alerts.")
        return
    table = Table("budget", "scope", "period", "severity", "crossed at", "spend at crossing", "resolved")
    for a in rows:
        resolved = "[bold]open[/]" if a.resolved_at is None else f"{a.resolved_at:%Y-%m-%d %H:%M} ({a.resolution})"
        table.add_row(
            a.budget,
            a.scope_label,
            f"{a.period} from {a.period_start:%Y-%m-%d}",
            Text(f"{a.severity} ({exact_number(a.threshold_percent)} %)", style=STATE_STYLES.get(a.severity, "")),
            f"{a.crossed_at:%Y-%m-%d %H:%M}",
            f"{_amount(a.spend_at_crossing, a.currency)} of {_amount(a.limit_at_crossing, a.currency)}",
            resolved,
        )
    console.print(table)


def _amount(value: Decimal | None, currency: str) -> str:
    """Exact, with the code (``460.00 USD``, ``599.995 USD``): a spend just under its limit never reads as the limit."""
    return money(value, currency, code=True, exact=True)
