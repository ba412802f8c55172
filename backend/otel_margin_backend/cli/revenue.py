"""The revenue commands: ``customers``, ``stripe``, ``revenue`` and ``fx`` (typer sub-apps of ``otel-margin``).

    otel-margin customers map cus_NffrFeUfNV2Hib acct_123
    otel-margin customers unmapped
    otel-margin customers actions [--month 2026-11] [--format table|json|csv]
    otel-margin stripe backfill --since 2026-01-01 [--dry-run]
    otel-margin stripe unusable [--format json] [--limit 50]
    otel-margin revenue import entries.csv
    otel-margin fx import rates.csv

Like every command, they turn otel-margin's errors into one red line (``cli._user_errors``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from otel_margin_backend.cli.common import console, err, load_settings, session
from otel_margin_backend.pipeline.money import money
from otel_margin_backend.revenue.config import RevenueConfig
from otel_margin_backend.revenue.currency import to_major

if TYPE_CHECKING:
    from otel_margin_backend.settings import Settings

T = TypeVar("T")
MAX_ERRORS_SHOWN = 50


customers_app = typer.Typer(
    name="customers", no_args_is_help=True, help="Map Stripe customers to otel-margin customers; what to do about each."
)
stripe_app = typer.Typer(name="stripe", help="Book revenue from Stripe.", no_args_is_help=True)
revenue_app = typer.Typer(name="revenue", help="Revenue that does not come from Stripe.", no_args_is_help=True)
fx_app = typer.Typer(name="fx", help="Exchange rates to the reporting currency.", no_args_is_help=True)


@contextmanager
def _session() -> Iterator[tuple[Settings, RevenueConfig, str]]:
    """Settings, revenue config and database URL, with otel-margin errors as one red line."""
    settings = load_settings()
    with session(settings) as store:
        yield settings, settings.revenue, store.url


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err,
        transient=True,
    )  # fmt: skip


def _print_errors(errors: list[str], what: str) -> None:
    for line in errors[:MAX_ERRORS_SHOWN]:
        err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if len(errors) > MAX_ERRORS_SHOWN:
        err.print(f"... and {len(errors) - MAX_ERRORS_SHOWN} more", highlight=False)
    err.print(f"{len(errors)} bad line(s): nothing was imported from {escape(what)}", highlight=False)


def _minor(amount: int, currency: str) -> str:
    return money(to_major(amount, currency), currency, code=True)


def _totals(amounts: dict[str, int]) -> str:
    return ", ".join(_minor(v, c) for c, v in sorted(amounts.items())) or "nothing"


# -- customers ---------------------------------------------------------------------------------------------------


@customers_app.command("map")
def map_customer(
    stripe_customer: Annotated[str, typer.Argument(help="The Stripe customer id (cus_...).")],
    customer_id: Annotated[str, typer.Argument(help="The otel-margin customer id its revenue belongs to.")],
) -> None:
    """Book a Stripe customer's revenue (past and future) to an otel-margin customer."""
    from otel_margin_backend.revenue.ledger import Ledger, open_connection

    if not stripe_customer.startswith("cus_"):
        raise typer.BadParameter(
            f"{stripe_customer!r} is not a Stripe customer id (cus_...)", param_hint="STRIPE_CUSTOMER"
        )
    if not customer_id.strip():
        raise typer.BadParameter("the customer id is empty", param_hint="CUSTOMER_ID")

    async def run(url: str, timeout_s: float) -> tuple[str | None, list[tuple[str, int, int]]]:
        async with open_connection(url, timeout_s=timeout_s) as conn:
            ledger = Ledger(conn)
            previous = await ledger.map_customer(stripe_customer, customer_id.strip())
            return previous, await ledger.customer_revenue(stripe_customer)

    with _session() as (settings, _config, url):
        previous, revenue = _run(run(url, settings.storage.connect_timeout_s))
    was = f" (was {escape(previous)})" if previous and previous != customer_id else ""
    console.print(f"Mapped {stripe_customer} to {escape(customer_id)}{was}.", highlight=False)
    if revenue:
        moved = _totals({currency: net for currency, net, _ in revenue})
        entries = sum(n for *_, n in revenue)
        console.print(f"{entries} revenue entries ({moved} net of tax) now belong to {escape(customer_id)}.",
                      highlight=False)  # fmt: skip
    else:
        console.print("No revenue is booked for it yet; what arrives will belong to it.", highlight=False)


@customers_app.command("unmapped")
def unmapped(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List Stripe customers whose revenue belongs to no otel-margin customer yet, and Stripe bookings that are
    not exact (with why and what to do)."""
    from otel_margin_backend.revenue.ledger import Ledger, open_connection

    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"{fmt!r}: use table or json", param_hint="--format")

    async def run(url: str, timeout_s: float) -> tuple[list[Any], list[Any]]:
        async with open_connection(url, timeout_s=timeout_s) as conn:
            ledger = Ledger(conn)
            return list(await ledger.unmapped()), list(await ledger.booking_issues())

    with _session() as (settings, config, url):
        rows, issues = _run(run(url, settings.storage.connect_timeout_s))
    if fmt == "json":
        console.print_json(
            json.dumps({"unmapped": [r.as_json() for r in rows], "issues": [i.as_json() for i in issues]})
        )
        return
    if not rows and not issues:
        console.print("All booked Stripe revenue belongs to an otel-margin customer.", highlight=False)
        return
    if rows:
        why = any(row.issues for row in rows)
        table = Table(
            "Stripe customer", "name", "email", "net revenue", "documents", "months", *(["why"] if why else []),
            title="Stripe revenue without an otel-margin customer",
        )  # fmt: skip
        for row in rows:
            months = f"{row.first_month:%Y-%m}" if row.first_month == row.last_month else (
                f"{row.first_month:%Y-%m} to {row.last_month:%Y-%m}")  # fmt: skip
            table.add_row(
                row.stripe_customer_id, escape(row.name or ("" if row.metadata_known else "(not fetched)")),
                escape(row.email or ""), _minor(row.net_minor, row.currency), str(row.documents), months,
                *([escape(row.issues or "")] if why else []),
            )  # fmt: skip
        console.print(table)
        console.print(
            escape(
                f"Set metadata[{config.stripe_customer_metadata_key}] on the Stripe customer, or run: "
                "otel-margin customers map <cus_...> <customer id>"
            ),
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print("All booked Stripe revenue belongs to an otel-margin customer.", highlight=False)
    if issues:
        listed = Table("object", "Stripe customer", "amount", "reason", title="Stripe bookings that are not exact")
        for issue in issues:
            listed.add_row(
                issue.object_id, issue.stripe_customer_id or "(none)", _minor(issue.amount_minor, issue.currency),
                escape(issue.reason),
            )  # fmt: skip
        console.print(listed)


# -- stripe --------------------------------------------------------------------------------------------------------


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-01") from None


@customers_app.command("actions")
def customers_actions(
    month: Annotated[str | None, typer.Option(help="Calendar UTC month, e.g. 2026-11 (default: this month).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """What to do about each customer's margin: reprice or throttle, monitor, ok (and two negative months)."""
    from otel_margin_backend.analytics import actions
    from otel_margin_backend.analytics.pnl import period

    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter(f"{fmt!r}: use table, json or csv", param_hint="--format")
    settings = load_settings()
    floor = settings.actions.monitor_below_percent
    with session(settings) as store:
        span = period(month=month)
        with store.connection() as conn:
            rows = actions.read_actions(conn, span, floor)
    if fmt == "json":
        console.print_json(json.dumps({"month": span.label, "monitor_below_percent": str(floor),
                                       "rows": [actions.action_json(r) for r in rows]}))  # fmt: skip
        return
    if fmt == "csv":
        console.out(actions.actions_csv(rows), end="")
        return
    if not rows:
        console.print(f"No usage or revenue for {span.label}.", highlight=False)
        return
    console.print(actions.actions_table(rows, title=f"Customer actions {span.label} (monitor below {floor} %)"))


@stripe_app.command("backfill")
def backfill(
    since: Annotated[str, typer.Option("--since", help="Book objects created on or after this day (UTC), YYYY-MM-DD.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; save nothing.")] = False,
) -> None:
    """Book paid invoices, credit notes, refunds and lost disputes from Stripe (safe to repeat)."""
    from otel_margin_backend.pipeline.errors import PermanentError
    from otel_margin_backend.revenue.backfill import STAGES, BackfillReport, Stage
    from otel_margin_backend.revenue.backfill import backfill as run_backfill
    from otel_margin_backend.revenue.ledger import Ledger, open_connection
    from otel_margin_backend.revenue.stripe_api import StripeApi
    from otel_margin_backend.revenue.stripe_booking import StripeBooker

    first_day = _day(since)

    async def run(url: str, timeout_s: float, config: RevenueConfig, progress: Callable[[Stage, int], None]) -> Any:
        with StripeApi(config) as api:
            async with open_connection(url, timeout_s=timeout_s) as conn:
                return await run_backfill(
                    Ledger(conn), StripeBooker(config, api), api, first_day, dry_run=dry_run, on_progress=progress
                )

    with _session() as (settings, config, url):
        if config.stripe_api_key is None:
            raise PermanentError("stripe backfill needs an API key: set STRIPE_API_KEY (or OTEL_MARGIN_STRIPE_API_KEY)")
        with _progress() as bar:
            tasks = {stage: bar.add_task(f"{stage}: 0", total=None) for stage in STAGES}

            def advance(stage: Stage, seen: int) -> None:
                bar.update(tasks[stage], description=f"{stage}: {seen}", completed=seen)

            report: BackfillReport = _run(run(url, settings.storage.connect_timeout_s, config, advance))
    _print_backfill(report, first_day)


def _print_backfill(report: Any, since: dt.date) -> None:
    title = f"Stripe backfill since {since}" + (" (dry run: nothing was saved)" if report.dry_run else "")
    console.print(title, highlight=False)
    listed = Table("objects", "listed")
    for stage, count in report.seen.items():
        listed.add_row(stage, str(count))
    console.print(listed)
    outcomes = ", ".join(f"{n} {outcome}" for outcome, n in sorted(report.outcomes.items())) or "nothing to book"
    console.print(f"Bookings: {outcomes}.", highlight=False)
    if not report.changes:
        console.print("Revenue is unchanged." if not report.dry_run else "Revenue would not change.", highlight=False)
        return
    changes = Table("currency", "kind", "change", title="Would change" if report.dry_run else "Changed")
    for (currency, kind), delta in report.changes.items():
        changes.add_row(currency, kind, _minor(delta, currency))
    console.print(changes)


@stripe_app.command("unusable")
def unusable(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Newest events shown.")] = 50,
) -> None:
    """List signed Stripe events that were acknowledged but could not be booked, newest first, with why."""
    from otel_margin_backend.revenue.ledger import Ledger, open_connection

    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"{fmt!r}: use table or json", param_hint="--format")

    async def run(url: str, timeout_s: float) -> list[Any]:
        async with open_connection(url, timeout_s=timeout_s) as conn:
            return list(await Ledger(conn).unusable_events(limit))

    with _session() as (settings, _config, url):
        rows = _run(run(url, settings.storage.connect_timeout_s))
    if fmt == "json":
        console.print_json(json.dumps({"unusable": [r.as_json() for r in rows]}))
        return
    if not rows:
        console.print("No signed Stripe event was unusable.", highlight=False)
        return
    table = Table("received (UTC)", "event", "reason", title="Signed Stripe events not booked", expand=False)
    for row in rows:
        event = escape(row.event_id or "(no id)") + (f"\n{escape(row.event_type)}" if row.event_type else "")
        table.add_row(f"{row.received_at.astimezone(dt.UTC):%Y-%m-%d %H:%M}", event, escape(row.reason))
    console.print(table)
    console.print(
        "Fix the cause, then resend the event from Stripe's dashboard (Developers > Events); it is booked once.",
        highlight=False,
    )


# -- revenue -------------------------------------------------------------------------------------------------------


@revenue_app.command("import")
def import_revenue(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV with a header row.")],
) -> None:
    """Import manual revenue from CSV (columns as POST /v1/revenue; re-importing replaces by external_id)."""
    from otel_margin_backend.revenue import manual
    from otel_margin_backend.revenue.ledger import Ledger, open_connection

    with _session() as (settings, _config, url):
        bookings, errors = manual.parse_csv(file)
        if errors:
            _print_errors(errors, str(file))
            raise typer.Exit(1)

        async def run(advance: Callable[[int], None]) -> int:
            async with open_connection(url, timeout_s=settings.storage.connect_timeout_s) as conn:
                return await manual.store(Ledger(conn), bookings, on_progress=advance)

        with _progress() as bar:
            task = bar.add_task(f"importing {file.name}", total=len(bookings))
            changed = _run(run(lambda done: bar.update(task, completed=done)))
    console.print(
        f"Imported {len(bookings)} entries from {escape(file.name)} ({changed} new or changed, "
        f"{len(bookings) - changed} unchanged): {_totals(manual.totals(bookings))}.",
        highlight=False,
    )


# -- fx ------------------------------------------------------------------------------------------------------------


@fx_app.command("import")
def import_rates(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV: date,currency,rate.")],
) -> None:
    """Import exchange rates to the reporting currency (one unit of currency = rate units of it)."""
    from otel_margin_backend.revenue import fx
    from otel_margin_backend.revenue.ledger import Ledger, open_connection

    with _session() as (settings, config, url):
        reporting = config.reporting_currency
        rates, errors = fx.parse_rates(file, reporting)
        if errors:
            _print_errors(errors, str(file))
            raise typer.Exit(1)

        async def run(advance: Callable[[int], None]) -> str:
            async with open_connection(url, timeout_s=settings.storage.connect_timeout_s) as conn:
                return await fx.store_rates(Ledger(conn), reporting, rates, on_progress=advance)

        with _progress() as bar:
            task = bar.add_task(f"importing {file.name}", total=len(rates))
            previous = _run(run(lambda done: bar.update(task, completed=done)))
    currencies = ", ".join(sorted({r.currency for r in rates})) or "none"
    console.print(f"Imported {len(rates)} rates to {reporting} ({currencies}).", highlight=False)
    if previous != reporting:
        console.print(f"The reporting currency is now {reporting} (it was {previous}).", highlight=False)
