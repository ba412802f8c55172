"""The ``otel-margin`` command.

Every command turns otel-margin's own errors into one red line and a non-zero exit: users see what
went wrong and what to check, never a traceback.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from otel_margin_backend import __version__
from otel_margin_backend.analytics.pnl import GroupBy
from otel_margin_backend.cli.bills import bills_app
from otel_margin_backend.cli.budgets import budgets_app
from otel_margin_backend.cli.common import console, err, fail, load_settings, user_errors
from otel_margin_backend.cli.grafana import grafana_app
from otel_margin_backend.cli.prices import prices_app
from otel_margin_backend.cli.revenue import customers_app, fx_app, revenue_app, stripe_app
from otel_margin_backend.cli.simulate import simulate
from otel_margin_backend.cli.verify import verify
from otel_margin_backend.pipeline.errors import OtelMarginError
from otel_margin_backend.receivers.config import MAX_WORKERS
from otel_margin_backend.settings import Settings

app = typer.Typer(
    name="otel-margin",
    help="Per-customer AI margin from OpenTelemetry GenAI spans.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(prices_app, name="prices")
app.add_typer(budgets_app, name="budgets")
app.command()(simulate)
app.command()(verify)
app.add_typer(customers_app, name="customers")
app.add_typer(stripe_app, name="stripe")
app.add_typer(revenue_app, name="revenue")
app.add_typer(fx_app, name="fx")
app.add_typer(grafana_app, name="grafana")
app.add_typer(bills_app, name="bills")


def _print_version(wanted: bool) -> None:
    if wanted:
        console.print(f"otel-margin {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Per-customer AI margin from OpenTelemetry GenAI spans."""


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"otel-margin {__version__}")


@app.command()
def migrate() -> None:
    """Apply pending database migrations (safe to run from several processes at once)."""
    from otel_margin_backend.service.backend import prepare
    from otel_margin_backend.storage.database import Store

    settings = load_settings()
    with user_errors(), Store(settings.storage) as store:
        applied = prepare(store, settings)
        target = store.target
    table = Table("version", "migration", "applied at", "this run", title=f"Migrations on {target}")
    for m in applied:
        table.add_row(
            f"{m.version:04d}",
            m.name,
            m.applied_at.isoformat(timespec="seconds"),
            "[green]applied[/]" if m.newly_applied else "",
        )
    console.print(table)


@app.command()
def serve(
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_WORKERS,
            help="Receiver processes sharing the ports (default: OTEL_MARGIN_WORKERS, or half the CPUs, 1 to 4).",
        ),
    ] = None,
) -> None:
    """Run the backend: migrate, then serve OTLP (gRPC :4317, HTTP :4318), REST and health checks until stopped."""
    from otel_margin_backend.service.workers import serve as run_service

    settings = load_settings()
    with user_errors():
        run_service(settings, workers=workers)


@app.command()
def doctor(
    acceptance: Annotated[
        bool, typer.Option("--acceptance", help="Check the rollout's acceptance checklist against stored state.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json (with --acceptance).")] = "table",
) -> None:
    """Show the database, its TimescaleDB edition, migrations and the effective configuration.

    With --acceptance: each checklist item (docs/acceptance.md) with pass, fail or unknown and its evidence; exits
    1 when an item fails, 3 when none fails but one is unknown.
    """
    from otel_margin_backend.storage.database import Store, server_info
    from otel_margin_backend.storage.migrator import available, pending

    if fmt not in ("table", "json") or (fmt == "json" and not acceptance):
        raise typer.BadParameter(f"{fmt!r}: use table, or json with --acceptance", param_hint="--format")
    settings = load_settings()
    if acceptance:
        _acceptance(settings, fmt)
        return
    checks = Table("check", "result", title="otel-margin doctor", show_lines=False)
    ok = True
    with user_errors(), Store(settings.storage) as store:
        checks.add_row("database", store.target)
        try:
            with store.connection() as conn:
                info = server_info(conn)
                todo = pending(conn)
        except OtelMarginError as exc:
            checks.add_row("connection", f"[red]{exc}[/]")
            ok = False
        else:
            checks.add_row("connection", "[green]ok[/]")
            checks.add_row("PostgreSQL", info.server_version)
            ts = info.edition if info.timescaledb_version else "[yellow]not installed[/] (plain PostgreSQL works)"
            checks.add_row("TimescaleDB", ts)
            shipped = len(available())
            state = "[green]up to date[/]" if not todo else f"[yellow]{len(todo)} pending[/]: run otel-margin migrate"
            checks.add_row("migrations", f"{shipped - len(todo)}/{shipped} applied, {state}")
    console.print(checks)
    cfg = Table("variable", "value", title="Effective configuration (secrets masked)")
    for name, value in settings.effective().items():
        cfg.add_row(name, value)
    console.print(cfg)
    if not ok:
        raise typer.Exit(1)


def _acceptance(settings: Settings, fmt: str) -> None:
    from otel_margin_backend.cli import acceptance
    from otel_margin_backend.storage.database import Store
    from otel_margin_backend.storage.migrator import pending

    with user_errors(), Store(settings.storage) as store, store.connection() as conn:
        if todo := pending(conn):
            raise fail(f"{len(todo)} migration(s) pending: run otel-margin migrate, then doctor --acceptance again")
        items = acceptance.check(conn, settings)
    if fmt == "json":
        console.print_json(data=acceptance.as_json(items))
    else:
        console.print(acceptance.table(items))
    code = acceptance.exit_code(items)
    if code:
        raise typer.Exit(code)


_DURATION = re.compile(r"^(\d+)([hdw])$")


def parse_age(text: str) -> timedelta:
    """``400d``, ``12w`` or ``36h`` as a timedelta."""
    match = _DURATION.match(text.strip())
    if not match or int(match[1]) <= 0:
        raise typer.BadParameter(f"{text!r} is not an age; use a positive number with h, d or w, e.g. 400d")
    unit = {"h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: int(match[1])})


@app.command()
def retention(
    older_than: Annotated[str, typer.Option("--older-than", help="Drop raw usage older than this, e.g. 400d.")],
) -> None:
    """Delete raw usage events older than a cutoff (hourly rollups are kept)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from otel_margin_backend.storage.database import Store
    from otel_margin_backend.storage.retention import apply_retention

    age = parse_age(older_than)
    settings = load_settings()
    cutoff = datetime.now(UTC) - age
    with (
        user_errors(),
        Store(settings.storage) as store,
        store.connection() as conn,
        Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True) as progress,
    ):
        task = progress.add_task(f"removing usage before {cutoff:%Y-%m-%d %H:%M} UTC")
        result = apply_retention(
            conn, cutoff, on_progress=lambda n: progress.update(task, description=f"deleted {n:,} rows")
        )
    if result.method == "drop_chunks":
        console.print(
            f"Dropped {result.chunks_dropped} chunk(s) of usage_events older than {cutoff:%Y-%m-%d} "
            "(TimescaleDB drop_chunks)."
        )
    else:
        console.print(f"Deleted {result.rows_deleted:,} usage_events rows older than {cutoff:%Y-%m-%d}.")


@app.command()
def pnl(
    month: Annotated[str | None, typer.Option(help="Calendar month, e.g. 2026-11 (default: this month).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First UTC day, e.g. 2026-11-01 (included).")] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Last UTC day, included; a range reaching today stops at the end of this hour."),
    ] = None,
    by: Annotated[GroupBy, typer.Option(help="customer, feature, model, provider or organization.")] = "customer",
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    cost_basis: Annotated[
        str, typer.Option("--cost-basis", help="computed (from spans, the default) or billed (scaled to the bill).")
    ] = "computed",
    target_margin: Annotated[
        str | None,
        typer.Option(
            help="Instead: per customer, the monthly revenue that reaches this margin %, e.g. 60, at the "
            "last full month's cost (or --month's)."
        ),
    ] = None,
) -> None:
    """Profit and loss: revenue, AI cost, margin and margin % for a month or a range.

    --cost-basis billed scales each day, provider and model's cost to what the provider billed for it
    (docs/reconciliation.md#the-pl-on-the-bills-numbers); days without a bill keep the computed cost.
    """
    from otel_margin_backend.analytics import pnl as pnl_read
    from otel_margin_backend.analytics import render
    from otel_margin_backend.storage.database import Store

    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter(f"{fmt!r}: use table, json or csv", param_hint="--format")
    if cost_basis not in ("computed", "billed"):
        raise typer.BadParameter(f"{cost_basis!r}: use computed or billed", param_hint="--cost-basis")
    settings = load_settings()
    if target_margin is not None:
        _target_pnl(settings, target_margin, month=month, ranged=bool(start or end), by=by, fmt=fmt)
        return
    with user_errors():
        span = pnl_read.period(month=month, start=start, end=end)
        with Store(settings.storage) as store, store.connection() as conn:
            # Read by usage_rollup_range() (migration 0092): this session's P&L costs on the bill's basis.
            conn.execute("SELECT set_config('otel_margin.cost_basis', %s, false)", (cost_basis,))
            rows = pnl_read.read_pnl(conn, span, by)
            total = pnl_read.read_pnl(conn, span, "organization")
            quality = pnl_read.read_quality(conn, span)
            now = datetime.now(UTC)
            projection = [p for p in pnl_read.read_projection(conn, now) if p.key == "organization"]
    if fmt == "json":
        console.print_json(render.to_json(rows, period=span.label, by=by,
                                          organization=[pnl_read.as_json(t) for t in total],
                                          data_quality=pnl_read.as_json(quality)))  # fmt: skip
        return
    if fmt == "csv":
        console.out(render.to_csv(rows), end="")
        return
    if not rows:
        console.print(f"No usage or revenue for {span.label}.")
        return
    basis = ", cost as billed" if cost_basis == "billed" else ""
    console.print(render.pnl_table(rows, by=by, title=f"P&L {span.label} by {by}{basis}"))
    if by != "organization" and total:
        console.print(render.pnl_table(total, by="organization", title="Organization"))
    console.print(render.quality_line(quality))
    if projection and span.start <= now < span.end:
        console.print(render.projection_line(projection[0]))


def _target_pnl(settings: Settings, target_margin: str, *, month: str | None, ranged: bool, by: str, fmt: str) -> None:
    """``pnl --target-margin``: customer_target_pricing() as a table, JSON or CSV."""
    from otel_margin_backend.analytics import target
    from otel_margin_backend.storage.database import Store

    with user_errors():
        if ranged or by != "customer":
            raise OtelMarginError(
                "--target-margin prices customers at a full month's cost: drop --from/--to and --by (use --month "
                "for an earlier month)"
            )
        target_pct = target.parse_target(target_margin)
        span = target.trailing_month(month)
        with Store(settings.storage) as store, store.connection() as conn:
            rows = target.read_target(conn, target_pct, span)
    if fmt == "json":
        console.print_json(data={"month": span.label, "target_margin_pct": str(target_pct),
                                 "rows": [target.target_json(r) for r in rows]})  # fmt: skip
        return
    if fmt == "csv":
        console.out(target.target_csv(rows), end="")
        return
    if not rows:
        console.print(f"No usage or revenue for {span.label}.")
        return
    title = f"Revenue for a {target_pct} % margin at the cost of {span.label}"
    console.print(target.target_table(rows, title=title))
    console.print(
        "Revenue needed = the month's AI cost / (1 - target/100), rounded up to the cent; the price change is "
        "against the month's revenue."
    )


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1, max=90, help="Days of traffic to simulate.")] = 30,
    backend_url: Annotated[
        str | None, typer.Option(help="A running backend's HTTP URL (default: start one here).")
    ] = None,
    otlp_endpoint: Annotated[
        str | None, typer.Option(help="OTLP/HTTP endpoint for spans (default: the backend).")
    ] = None,
    serve: Annotated[bool, typer.Option(help="Keep the local backend serving afterwards.")] = True,
    reset: Annotated[
        bool, typer.Option("--reset", help="Remove the demo's earlier usage, revenue and budgets first.")
    ] = False,
) -> None:
    """A month of a sample app's AI calls through the real pipeline; prints the P&L, budget alerts and savings.

    Safe to run again: the same simulated calls are the same spans, so a rerun over the same days changes no
    figure. --reset removes only the demo's own data (environment "demo"), then runs it afresh.
    """
    from otel_margin_backend.demo.extras import check_installed

    settings = load_settings(quiet=True)
    with user_errors():
        check_installed(embedded_database=settings.storage.embedded)  # before the demo's (heavy) imports
    from otel_margin_backend.demo.run import DemoOptions, run_demo

    options = DemoOptions(days=days, backend_url=backend_url, otlp_endpoint=otlp_endpoint, serve=serve, reset=reset)
    with user_errors():
        run_demo(settings, options, console)


@app.command()
def replay(
    samples: Annotated[Path, typer.Argument(help="JSONL file, one usage event per line (the POST /v1/usage shape).")],
) -> None:
    """Price recorded usage events through a throwaway backend and compare with the simulator's cost."""
    from otel_margin_backend.demo.replay import replay as run_replay
    from otel_margin_backend.pipeline.money import money

    settings = load_settings(quiet=True)
    with user_errors():
        rows = run_replay(samples, settings)
    table = Table("request id", "model", "tokens in / out", "status", "cost (pipeline)", "cost (simulator)", "",
                  title=f"Replay of {samples}")  # fmt: skip
    for row in rows:
        table.add_row(row.request_id, f"{row.provider}/{row.model}" if row.provider else row.model,
                      f"{row.input_tokens:,} / {row.output_tokens:,}", row.status, money(row.cost, exact=True),
                      money(row.simulated, exact=True), "[green]✓[/]" if row.agrees else "[red]✗[/]")  # fmt: skip
    console.print(table)
    disagree = sum(not r.agrees for r in rows)
    total = sum((r.cost for r in rows if r.cost is not None), Decimal(0))
    console.print(f"{len(rows)} events, total {money(total)}; " + (
        "pipeline and simulator agree on every event." if not disagree
        else f"[red]{disagree} event(s) differ[/] (unpriced models show as —)."))  # fmt: skip
    if disagree:
        raise typer.Exit(1)
