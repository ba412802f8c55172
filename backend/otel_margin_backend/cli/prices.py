"""``otel-margin prices …``: sync the price data, show and list prices, re-price stored usage, reconcile.

Mounted on the main command by ``app.add_typer(prices_app, name="prices")``. Every command reads the same
configuration as ``serve`` and prices with the same book: the active stored version (else the bundled
data) plus the overrides file. Errors are one red line and exit code 1, never a traceback.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from otel_margin_backend.cli.common import console, err, load_settings, user_errors
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.money import exact_number
from otel_margin_backend.pipeline.periods import parse_day
from otel_margin_backend.pricedata.timeline import PriceRange
from otel_margin_backend.pricing.types import PriceSource

if TYPE_CHECKING:
    from otel_margin_backend.pricedata.reprice import CustomerChange, RepriceSummary

prices_app = typer.Typer(
    name="prices",
    help="Price data: sync it, show and list prices, re-price stored usage, reconcile reported costs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

RECONCILE_DAYS = 30
"""Days ``prices reconcile`` covers without ``--from``/``--to`` (ending today, UTC)."""
_TOKEN_KINDS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok")


def _range(first: date, last: date) -> tuple[datetime, datetime]:
    if last < first:
        raise PermanentError(f"--to {last} is before --from {first}")
    return _midnight(first), _midnight(last + timedelta(days=1))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _when(at: datetime | None, *, open_text: str) -> str:
    if at is None:
        return open_text
    at = at.astimezone(UTC)
    return at.date().isoformat() if at.time() == time(0) else at.isoformat(timespec="minutes")


@prices_app.command()
def sync(
    source: Annotated[
        str | None,
        typer.Option("--source", help="URL or file of genai-prices data.json (default: the configured source)."),
    ] = None,
) -> None:
    """Fetch the newest genai-prices data, validate it and make it the active price version."""
    from otel_margin_backend.modelinfo.quality import QualityTable
    from otel_margin_backend.pricedata import store
    from otel_margin_backend.pricedata.sync import sync_prices
    from otel_margin_backend.storage.database import Store

    settings = load_settings()
    config = settings.pricing
    where = source or config.sync_source
    with user_errors(), Store(settings.storage) as db, db.connection() as conn:
        quality = QualityTable.load(config.quality_file)
        base = store.book_in_force(conn, config)
        result = sync_prices(conn, where, base=base, quality=quality, trigger="cli", timeout_s=config.sync_timeout_s)
    counts = f"{_count(result.provider_count, 'provider')}, {_count(result.model_count, 'model')}"
    if result.new_version:
        console.print(f"Stored price version {result.price_version} from {where} ({counts}); it is now active.")
    elif result.activated:
        console.print(f"Price version {result.price_version} from {where} ({counts}) is active again.")
    else:
        console.print(f"Price data from {where} is unchanged: {result.price_version} stays active.")
    if result.activated:
        console.print(
            f"Running otel-margin serve processes switch to it within {config.reload_interval_s:g} s. "
            "Stored usage keeps its prices: re-price a range with otel-margin prices reprice."
        )


@prices_app.command()
def show(
    model: Annotated[str, typer.Argument(help="The model as spans name it, e.g. o3 or openai/gpt-4o.")],
    provider: Annotated[str | None, typer.Option("--provider", help="The provider as spans name it.")] = None,
) -> None:
    """How a model name resolves, and its prices per kind over time."""
    from otel_margin_backend.pricedata import store
    from otel_margin_backend.pricedata.timeline import model_ranges
    from otel_margin_backend.storage.database import Store

    settings = load_settings()
    with user_errors():
        with Store(settings.storage) as db, db.connection() as conn:
            book = store.book_in_force(conn, settings.pricing)
        resolution = book.resolve(provider, model)
        if not resolution.resolved:
            named = f" (provider {provider!r})" if provider else ""
            raise PermanentError(f"no price for model {model!r}{named}: {'; '.join(resolution.steps)}")
        ranges = model_ranges(book, provider, model)
    target = f"{resolution.provider_id or '(any provider)'}/{resolution.model_id}"
    console.print(f"[bold]{escape(model)}[/] resolves to {resolution.source.value} [bold]{escape(target)}[/]")
    for step in resolution.steps:
        console.print(f"  • {escape(step)}", highlight=False)
    console.print(f"Price version {book.version}; overrides {book.override_version or 'none'}", highlight=False)
    console.print(_ranges_table(ranges, title=f"Prices of {target} over time (USD per unit of the kind)"))


def _ranges_table(ranges: list[PriceRange], *, title: str) -> Table:
    table = Table("source", "kind", "condition", "from", "to", "price", "list price", "discount %", title=title)
    for r in ranges:
        table.add_row(
            r.source.value,
            r.kind,
            escape(r.condition) or "standard",
            _when(r.valid_from, open_text="—"),
            _when(r.valid_to, open_text="open"),
            exact_number(r.amount),
            exact_number(r.list_amount),
            exact_number(r.discount_percent) if r.discount_percent is not None else "",
        )
    return table


@prices_app.command("list")
def list_prices(
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider's models.")] = None,
) -> None:
    """Models and their standard prices in force now (USD per million tokens)."""
    from otel_margin_backend.pricedata import store
    from otel_margin_backend.pricedata.timeline import book_ranges
    from otel_margin_backend.pricing.overrides import provider_lookup_key
    from otel_margin_backend.storage.database import Store

    settings = load_settings()
    with user_errors():
        with Store(settings.storage) as db, db.connection() as conn:
            book = store.book_in_force(conn, settings.pricing)
        ranges = book_ranges(book)
        wanted = provider_lookup_key(provider) if provider else None
        if wanted is not None and all(r.provider != wanted for r in ranges):
            raise PermanentError(f"no provider {provider!r} in price version {book.version}")
    now = datetime.now(UTC)
    context = {(p.id, m.id): m.context_window for p in book.providers for m in p.models}
    current: dict[tuple[PriceSource, str, str], dict[str, Decimal]] = {}
    for r in ranges:
        in_force = (r.valid_from is None or r.valid_from <= now) and (r.valid_to is None or now < r.valid_to)
        if r.condition == "" and in_force and (wanted is None or r.provider == wanted):
            current.setdefault((r.source, r.provider, r.model), {})[r.kind] = r.amount
    title = f"Standard prices in force now, USD per 1M tokens (price version {book.version})"
    table = Table("provider", "model", "input", "cache read", "cache write", "output", "context window", title=title)
    for (source, provider_id, model_id), kinds in current.items():
        window = context.get((provider_id, model_id))
        label = f"{model_id} (custom)" if source is PriceSource.CUSTOM else model_id
        table.add_row(
            provider_id or "(any)",
            escape(label),
            *(exact_number(kinds.get(kind)) for kind in _TOKEN_KINDS),
            f"{window:,}" if window else "—",
        )
    console.print(table)


@prices_app.command()
def reprice(
    start: Annotated[str, typer.Option("--from", help="First day (UTC), e.g. 2026-11-01.")],
    end: Annotated[str, typer.Option("--to", help="Last day (UTC, inclusive), e.g. 2026-11-30.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change and write nothing.")] = False,
) -> None:
    """Re-price stored usage in a range with the prices in force: per-customer before/after, then apply."""
    from otel_margin_backend.pricedata import store
    from otel_margin_backend.pricedata.reprice import Repricer
    from otel_margin_backend.storage.database import Store

    settings = load_settings()
    with user_errors():
        first, after_last = _range(parse_day(start, "--from"), parse_day(end, "--to"))
        label = f"{first:%Y-%m-%d} to {after_last - timedelta(days=1):%Y-%m-%d}"
        with Store(settings.storage) as db:
            with db.connection() as conn:
                book = store.book_in_force(conn, settings.pricing)
            with db.connection(autocommit=False) as conn:
                repricer = Repricer(conn, book, first, after_last, dry_run=dry_run)
                total = repricer.count()
                with Progress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True,
                ) as progress:  # fmt: skip
                    task = progress.add_task("re-pricing", total=total)
                    summary = repricer.scan(on_progress=lambda n: progress.update(task, completed=n))
                if summary.rows_scanned == 0:
                    repricer.discard()
                    console.print(f"No usage with token counts from {label} (UTC).")
                    return
                console.print(_reprice_table(summary, title=f"Re-price {label} (UTC) with {book.version}"))
                if dry_run:
                    repricer.discard()
                    console.print(f"Dry run: {summary.rows_to_update:,} calls would change; nothing was written.")
                    return
                result = repricer.apply()
    skipped = f"; {result.skipped:,} changed by another re-price meanwhile, left alone" if result.skipped else ""
    console.print(
        f"Applied: {result.updated:,} calls updated, {result.hour_groups:,} hourly rollup groups recomputed and their"
        f" daily totals corrected{skipped}."
    )


def _reprice_table(summary: RepriceSummary, *, title: str) -> Table:
    table = Table(
        "customer", "calls", "repriced", "before (USD)", "after (USD)", "difference (USD)", "unpriced before → after",
        title=title,
    )  # fmt: skip

    def add(change: CustomerChange, *, bold: bool = False) -> None:
        cells = [
            escape(change.customer_id),
            f"{change.calls:,}",
            f"{change.changed_calls:,}",
            exact_number(change.before),
            exact_number(change.after),
            exact_number(change.difference, signed=True),
            f"{change.unpriced_before:,} → {change.unpriced_after:,}",
        ]
        table.add_row(*cells, style="bold" if bold else None)

    for change in summary.customers:
        add(change)
    table.add_section()
    add(summary.total, bold=True)
    return table


@prices_app.command()
def reconcile(
    start: Annotated[str | None, typer.Option("--from", help="First day (UTC); default: 30 days ago.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (UTC, inclusive); default: today.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most rows shown.")] = 20,
) -> None:
    """The largest gaps between our cost and the provider-reported cost, by model and customer."""
    from otel_margin_backend.pricedata.reconcile import reconcile as read_gaps
    from otel_margin_backend.storage.database import Store

    settings = load_settings()
    with user_errors():
        today = datetime.now(UTC).date()
        last = parse_day(end, "--to") if end else today
        first = parse_day(start, "--from") if start else last - timedelta(days=RECONCILE_DAYS - 1)
        lo, hi = _range(first, last)
        with Store(settings.storage) as db, db.connection() as conn:
            gaps = read_gaps(conn, lo, hi, limit=limit)
    label = f"{first} to {last} (UTC)"
    if not gaps:
        console.print(f"No calls with a provider-reported cost from {label}.")
        return
    table = Table(
        "provider", "model", "customer", "calls", "our cost", "reported", "gap", "gap %", "unpriced (reported)",
        "reported by", title=f"Our cost against reported cost, {label}, largest gaps first (USD)",
    )  # fmt: skip
    for g in gaps:
        table.add_row(
            escape(g.provider),
            escape(g.model),
            escape(g.customer_id),
            f"{g.calls:,}",
            exact_number(g.our_cost),
            exact_number(g.reported_cost),
            exact_number(g.gap, signed=True),
            f"{g.gap_pct:+.2f}" if g.gap_pct is not None else "—",
            f"{g.unpriced_calls:,} ({exact_number(g.unpriced_reported_cost)})" if g.unpriced_calls else "",
            escape(g.sources or ""),
        )
    console.print(table)
