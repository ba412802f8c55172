"""``otel-margin bills …``: import what the providers billed, and reconcile it with the spans.

Mounted on the main command by ``app.add_typer(bills_app, name="bills")``. Errors are one red line (what to do
next), never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from otel_margin_backend.cli.common import console, err, load_settings, user_errors
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.money import money
from otel_margin_backend.pipeline.periods import parse_day

if TYPE_CHECKING:
    from otel_margin_backend.bills.reconcile import BillReconciliation, ProjectReconciliation

bills_app = typer.Typer(
    name="bills",
    help="The providers' bills: import them (API or invoice CSV) and reconcile them with what spans show.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _days(start: str | None, end: str | None, default_first: date, default_last: date) -> tuple[date, date]:
    last = parse_day(end, "--to") if end else default_last
    first = (
        parse_day(start, "--from") if start else (default_first if not end else last - (default_last - default_first))
    )
    if last < first:
        raise PermanentError(f"--to {last} is before --from {first}")
    if (last - first).days > 366:
        raise PermanentError(f"{first} to {last} is more than 366 days; import or reconcile a year at most at a time")
    return first, last


@bills_app.command()
def sync(
    provider: Annotated[str, typer.Option("--provider", help="openai or anthropic.")],
    start: Annotated[str | None, typer.Option("--from", help="First UTC day (default: sync_days ago).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last UTC day, included (default: today).")] = None,
) -> None:
    """Import a provider's bill (costs and token usage per day) through its admin API."""
    from otel_margin_backend.bills import sync as bill_sync
    from otel_margin_backend.bills.mapping import apply_mapping_file
    from otel_margin_backend.storage.database import Store

    settings = load_settings()
    config = settings.bills
    with user_errors():
        first, last = _days(start, end, *bill_sync.default_range(config))
        importer = bill_sync.create(provider, config)
        try:
            with (
                Store(settings.storage) as db,
                db.connection() as conn,
                Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True) as bar,
            ):
                task = bar.add_task(f"{provider}: {first} to {last}")
                result = bill_sync.sync_bill(conn, importer, first, last, trigger="cli",
                                             progress=lambda what: bar.update(task, description=what))  # fmt: skip
                apply_mapping_file(conn, config.mapping_file)
        finally:
            importer.close()
    _report(result.provider, first, last, result.days_fetched, result.revised, result.lines)


@bills_app.command("import")
def import_invoice(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Invoice CSV with a header.")
    ],
    provider: Annotated[str, typer.Option("--provider", help="The provider as spans name it, e.g. mistral.")],
) -> None:
    """Import a provider's invoice from CSV (day, amount; optional model, project, tokens …): it replaces its days."""
    from otel_margin_backend.bills import sync as bill_sync
    from otel_margin_backend.storage.database import Store

    settings = load_settings()
    with user_errors(), Store(settings.storage) as db, db.connection() as conn:
        result = bill_sync.import_invoice(conn, file, provider)
    _report(result.provider, result.first_day, result.last_day, result.days_fetched, result.revised, result.lines)


def _report(provider: str, first: date, last: date, fetched: int, revised: tuple[tuple[str, date], ...],
            lines: int) -> None:  # fmt: skip
    label = f"{provider} {first} to {last}"
    if not revised:
        console.print(f"Imported {label}: nothing changed since the last import ({fetched} stream-days checked).")
        return
    days = ", ".join(sorted({d.isoformat() for _, d in revised}))
    console.print(f"Imported {label}: {len(revised)} stream-day(s) new or revised ({lines:,} lines): {days}.")


@bills_app.command()
def imports(
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider's imports.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Most imports shown.")] = 20,
) -> None:
    """The latest bill imports, newest first: when, what range, what they stored, why they failed."""
    from otel_margin_backend.bills import store
    from otel_margin_backend.storage.database import Store

    settings = load_settings()
    with user_errors(), Store(settings.storage) as db, db.connection() as conn:
        rows = store.imports(conn, provider=provider, limit=limit)
    if not rows:
        console.print("No bill imports yet: run otel-margin bills sync --provider openai (or anthropic).")
        return
    table = Table("id", "provider", "started (UTC)", "days", "status", "stored", "error", title="Bill imports")
    for r in rows:
        table.add_row(str(r.import_id), escape(r.provider), r.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                      f"{r.first_day} to {r.last_day}", r.status, f"{r.days_stored} days, {r.lines:,} lines",
                      escape(r.error or ""))  # fmt: skip
    console.print(table)


RECONCILE_DAYS = 30
"""Days ``bills reconcile`` covers without ``--from``/``--to`` (ending today, UTC)."""


@bills_app.command()
def reconcile(
    start: Annotated[str | None, typer.Option("--from", help="First UTC day (default: 30 days ago).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last UTC day, included (default: today).")] = None,
    by: Annotated[str, typer.Option("--by", help="model, project, day, provider or detail (day x model).")] = "model",
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """The bill against the spans: billed vs computed, the gap's causes, and the bill's attribution coverage."""
    from otel_margin_backend.bills import reconcile as rec
    from otel_margin_backend.bills.mapping import apply_mapping_file
    from otel_margin_backend.storage.database import Store

    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter(f"{fmt!r}: use table, json or csv", param_hint="--format")
    settings = load_settings()
    with user_errors():
        grouping = rec.check_by(by)
        today = datetime.now(UTC).date()
        first, last = _days(start, end, today - timedelta(days=RECONCILE_DAYS - 1), today)
        with Store(settings.storage) as db, db.connection() as conn:
            apply_mapping_file(conn, settings.bills.mapping_file)
            rows = rec.read(conn, first, last, grouping)
    label = f"{first} to {last} (UTC)"
    if fmt == "json":
        console.print_json(json.dumps({"from": first.isoformat(), "to": last.isoformat(), "by": by,
                                       "rows": [rec.as_json(r) for r in rows]}))  # fmt: skip
        return
    if fmt == "csv":
        console.out(_csv([rec.as_json(r) for r in rows]), end="")
        return
    if not rows:
        console.print(f"No bill from {label}: import one with otel-margin bills sync --provider openai (or anthropic).")
        return
    if grouping == "project":
        console.print(_projects_table(rows, label))  # type: ignore[arg-type]
        return
    console.print(_table(rows, grouping, label))  # type: ignore[arg-type]
    _notes(rows, settings.bills.gap_alert_percent, settings.bills.coverage_floor_percent)  # type: ignore[arg-type]


def usd_text(amount: Decimal | None) -> str:
    """An amount of the reconciliation tables (USD, the title says so): ``25.35``, ``0.1350`` under 1, ``0``, ``—``."""
    if amount is not None and amount == 0:
        return "0"
    return money(amount, small_places=4).replace("$", "")


def _key(row: BillReconciliation, by: str) -> str:
    parts = [row.day.isoformat() if row.day else "", row.provider, row.model if row.model is not None else ""]
    if by == "model":
        parts = [row.provider, row.model or "(no model)"]
    elif by == "day":
        parts = [row.day.isoformat() if row.day else "", row.provider]
    elif by == "provider":
        parts = [row.provider]
    return " ".join(p for p in parts if p)


def _table(rows: list[BillReconciliation], by: str, label: str) -> Table:
    table = Table(by, "billed", "computed", "gap", "unseen", "price", "unpriced", "covered",
                  title=f"Bill vs spans by {by}, {label}, USD")  # fmt: skip
    for r in rows:
        gap = f"{usd_text(r.gap)}\n{r.gap_pct}%" if r.gap_pct is not None else usd_text(r.gap)
        table.add_row(
            escape(_key(r, by)),
            usd_text(r.billed),
            usd_text(r.computed),
            f"[red]{gap}[/]" if r.gap_alert else gap,
            usd_text(r.unseen),
            usd_text(r.price_diff),
            usd_text(r.unpriced),
            "—" if r.coverage_pct is None else
            f"[yellow]{r.coverage_pct}%[/]" if r.coverage_alert else f"{r.coverage_pct}%",
        )  # fmt: skip
    return table


def _notes(rows: list[BillReconciliation], gap_pct: Decimal, floor_pct: Decimal) -> None:
    missing = sorted({s.strip() for r in rows if r.missing_from for s in r.missing_from.split(",")})
    if missing:
        console.print(f"Billed calls no span shows come from: {escape(', '.join(missing))} (instrument them).")
    if any(r.gap_alert for r in rows):
        console.print(f"[red]Red[/]: the gap is over {gap_pct}% of billed. Coverage in [yellow]yellow[/]: under "
                      f"{floor_pct}%.")  # fmt: skip
    console.print(
        "gap = unseen (calls no span shows) + price (same tokens, other money) + unpriced; covered: "
        "share of the bill on calls with a customer. docs/reconciliation.md says how to act on each."
    )
    if any(r.unseen is None and r.billed for r in rows):
        console.print("— : billed without token counts (tools, storage, an invoice without tokens): gap only.")


def _projects_table(rows: list[ProjectReconciliation], label: str) -> Table:
    table = Table("provider", "project", "service", "billed", "billed tokens", "seen tokens", "unseen",
                  title=f"Bill by project, {label}, USD")  # fmt: skip
    for r in rows:
        table.add_row(escape(r.provider), escape(r.project or "(default)"), escape(r.services or "(unmapped)"),
                      usd_text(r.billed), f"{r.billed_tokens:,}",
                      "—" if r.seen_tokens is None else f"{r.seen_tokens:,}", usd_text(r.unseen))  # fmt: skip
    return table


def _csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return out.getvalue()
