"""``otel-margin bills …``: import what the providers billed, and reconcile it with the spans.

Mounted on the main command by ``app.add_typer(bills_app, name="bills")``. Errors are one red line (what to do
next), never a traceback.
"""

from __future__ import annotations

from datetime import UTC, date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from otel_margin_backend.cli.common import console, err, load_settings, user_errors
from otel_margin_backend.pipeline.errors import PermanentError

bills_app = typer.Typer(
    name="bills",
    help="The providers' bills: import them (API or invoice CSV) and reconcile them with what spans show.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise PermanentError(f"{option}: {text!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-01") from None


def _days(start: str | None, end: str | None, default_first: date, default_last: date) -> tuple[date, date]:
    last = _day(end, "--to") if end else default_last
    first = _day(start, "--from") if start else (default_first if not end else last - (default_last - default_first))
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
