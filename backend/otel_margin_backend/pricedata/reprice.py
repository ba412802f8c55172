"""Re-pricing stored usage with the book in force: per-customer before/after, then one atomic update.

``Repricer`` works in one transaction on a connection of its own:

1. ``scan``: a server-side cursor reads every call in ``[start, end)`` that has token counts (``missing_usage``
   rows are left alone), prices it again with the book, and totals cost per customer before and after. Rows
   whose cost, status or versions change are COPYed, with the values the scan read, into a temporary table.
   Memory stays flat whatever the range; ``on_progress`` reports rows scanned.
2. ``apply``: ``usage_reprice_apply()`` (``0012_reprice.sql``) locks ``usage_hourly`` and ``usage_daily``
   against ingestion, updates the rows that still hold the values the scan read (a row another re-price
   changed meanwhile is skipped and counted), recomputes every affected hour group from its raw rows, moves
   each day group by what its hours moved, and the transaction commits: raw rows and rollups change
   together or not at all. ``discard`` (a dry run) rolls back instead,
   and nothing is written.

The span attributes that chose a service tier or batch price (``openai.response.service_tier``,
``otel_margin.processing``) are stored with each call (``usage_events.attributes``) and choose the price again;
the API host (``server.address``) is not stored, so a call whose provider only it named stays as it is. Hence
the rule: a priced call whose ``price_version`` and ``override_version``
already equal the book's is kept as it is (the same book priced it, with all its attributes); unpriced
calls are always priced again (a new custom model or Azure deployment may price them now).

Calls stored after the scan began are not re-priced (ingestion priced them with the book it held); run the
command again to include them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus
from otel_margin_backend.pricing.book import PriceBook
from otel_margin_backend.pricing.types import ZERO
from otel_margin_backend.storage.database import Conn

_SCAN = """
SELECT event_id, time, customer_id, provider, request_model, response_model,
       input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, {attributes},
       status, cost_input, cost_cache_read, cost_cache_write, cost_output, cost_reasoning, cost_total, currency,
       price_version, override_version
FROM usage_events
WHERE time >= %s AND time < %s AND status <> 'missing_usage'
"""
_HAS_ATTRIBUTES = (
    "SELECT EXISTS (SELECT FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = 'usage_events' AND column_name = 'attributes')"
)
_COUNT = "SELECT count(*) FROM usage_events WHERE time >= %s AND time < %s AND status <> 'missing_usage'"
_STAGE = (
    "COPY pg_temp.usage_reprice (event_id, time, old_status, old_cost_total, old_price_version,"
    " old_override_version, status, cost_input, cost_cache_read, cost_cache_write, cost_output, cost_reasoning,"
    " cost_total, currency, price_version, override_version) FROM STDIN (FORMAT BINARY)"
)
_STAGE_TYPES = ["bytea", "timestamptz", "text", "numeric", "text", "text", "text", "numeric", "numeric", "numeric",
                "numeric", "numeric", "numeric", "text", "text", "text"]  # fmt: skip
DEFAULT_BATCH_ROWS = 5_000


@dataclass(slots=True)
class CustomerChange:
    """How one customer's cost in the range changes."""

    customer_id: str
    calls: int = 0
    """Calls with token counts in the range."""
    changed_calls: int = 0
    """Calls whose cost changes."""
    before: Decimal = field(default=ZERO)
    """Cost of the calls as stored (priced calls only)."""
    after: Decimal = field(default=ZERO)
    """Cost with the book in force."""
    unpriced_before: int = 0
    unpriced_after: int = 0

    @property
    def difference(self) -> Decimal:
        """``after - before``: positive when the customer costs more than recorded."""
        return self.after - self.before

    def add(self, other: CustomerChange) -> None:
        """Add another customer's figures to these (for totals).

        Args:
            other: The figures to add.
        """
        self.calls += other.calls
        self.changed_calls += other.changed_calls
        self.before += other.before
        self.after += other.after
        self.unpriced_before += other.unpriced_before
        self.unpriced_after += other.unpriced_after


@dataclass(frozen=True, slots=True)
class RepriceSummary:
    """What a re-price would change (``scan``'s result)."""

    start: datetime
    end: datetime
    price_version: str
    override_version: str | None
    rows_scanned: int
    rows_to_update: int
    """Rows whose cost, status, price version or override version changes."""
    customers: tuple[CustomerChange, ...]
    """Per customer, largest absolute difference first."""
    total: CustomerChange
    """All customers together (``customer_id`` is ``"total"``)."""


@dataclass(frozen=True, slots=True)
class RepriceApplied:
    """What ``apply`` wrote."""

    updated: int
    """usage_events rows updated."""
    skipped: int
    """Rows left alone because another re-price changed them after the scan."""
    hour_groups: int
    """usage_hourly groups recomputed."""


class Repricer:
    """One re-price run; owns the transaction of ``conn`` from ``scan`` to ``apply`` or ``discard``.

    Args:
        conn: A connection in manual-commit mode (``autocommit=False``), not inside a transaction.
        book: The book to price with (the active version plus the overrides).
        start: First instant of the range (inclusive).
        end: End of the range (exclusive).
        dry_run: Only compute the summary; ``apply`` is refused.
        batch_rows: Rows fetched and staged per round trip.
    """

    def __init__(
        self,
        conn: Conn,
        book: PriceBook,
        start: datetime,
        end: datetime,
        *,
        dry_run: bool = False,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> None:
        if conn.autocommit:
            raise ValueError("Repricer needs a connection with autocommit off")
        if end <= start:
            raise ValueError("the range must end after it starts")
        self._conn = conn
        self._book = book
        self._start = start
        self._end = end
        self._dry_run = dry_run
        self._batch_rows = batch_rows
        self._staged = 0
        self._scanned = False

    def count(self) -> int:
        """How many calls the range holds (for a progress bar).

        Returns:
            The count.
        """
        row = self._conn.execute(_COUNT, (self._start, self._end)).fetchone()
        return int(row[0]) if row else 0

    def scan(self, on_progress: Callable[[int], None] | None = None) -> RepriceSummary:
        """Price every call of the range again and stage the changes.

        Args:
            on_progress: Called with the number of rows scanned so far, after each batch.

        Returns:
            Per-customer before/after.
        """
        if self._scanned:
            raise RuntimeError("scan() runs once per Repricer")
        self._scanned = True
        conn, book = self._conn, self._book
        if not self._dry_run:
            conn.execute("SELECT usage_reprice_open()")
        customers: dict[str, CustomerChange] = {}
        scanned = 0
        has_attributes = conn.execute(_HAS_ATTRIBUTES).fetchone()
        scan = _SCAN.format(attributes="attributes" if has_attributes and has_attributes[0] else "NULL::jsonb")
        same_book = (UsageStatus.PRICED.value, book.version, book.override_version)
        with conn.cursor(name="usage_reprice_scan") as cursor:
            cursor.execute(scan.encode(), (self._start, self._end))
            while rows := cursor.fetchmany(self._batch_rows):
                changes = []
                for row in rows:
                    old = row[12:]
                    change = customers.get(row[2])
                    if change is None:
                        change = customers[row[2]] = CustomerChange(row[2])
                    change.calls += 1
                    if (old[0], old[8], old[9]) == same_book:
                        change.before += old[6]
                        change.after += old[6]
                        continue
                    event = UsageEvent(
                        time=row[1], event_id=row[0], provider=row[3], request_model=row[4], response_model=row[5],
                        input_tokens=row[6], cache_read_tokens=row[7], cache_write_tokens=row[8],
                        output_tokens=row[9], reasoning_tokens=row[10], attributes=row[11] or {},
                    )  # fmt: skip
                    book.price(event)
                    new = (event.status.value, event.cost_input, event.cost_cache_read, event.cost_cache_write,
                           event.cost_output, event.cost_reasoning, event.cost_total, event.currency,
                           event.price_version, event.override_version)  # fmt: skip
                    old_total, new_total = old[6], event.cost_total
                    change.before += old_total or ZERO
                    change.after += new_total or ZERO
                    change.unpriced_before += old[0] == UsageStatus.UNPRICED.value
                    change.unpriced_after += event.status is UsageStatus.UNPRICED
                    if old_total != new_total:
                        change.changed_calls += 1
                    if tuple(old) != new:
                        changes.append((row[0], row[1], old[0], old_total, old[8], old[9], *new))
                scanned += len(rows)
                self._stage(changes)
                if on_progress is not None:
                    on_progress(scanned)
        total = CustomerChange("total")
        for change in customers.values():
            total.add(change)
        ordered = sorted(customers.values(), key=lambda c: (-abs(c.difference), c.customer_id))
        return RepriceSummary(
            start=self._start,
            end=self._end,
            price_version=book.version,
            override_version=book.override_version,
            rows_scanned=scanned,
            rows_to_update=self._staged,
            customers=tuple(ordered),
            total=total,
        )

    def _stage(self, changes: Sequence[tuple[object, ...]]) -> None:
        self._staged += len(changes)
        if self._dry_run or not changes:
            return
        with self._conn.cursor().copy(_STAGE) as copy:
            copy.set_types(_STAGE_TYPES)
            for change in changes:
                copy.write_row(change)

    def apply(self) -> RepriceApplied:
        """Write the staged prices and corrected rollups, and commit.

        Returns:
            What was written.

        Raises:
            RuntimeError: a dry run, or ``scan`` has not run.
        """
        if self._dry_run or not self._scanned:
            raise RuntimeError("apply() needs a scan() that is not a dry run")
        if self._staged == 0:
            self._conn.rollback()
            return RepriceApplied(0, 0, 0)
        try:
            row = self._conn.execute("SELECT updated, skipped, hour_groups FROM usage_reprice_apply()").fetchone()
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise
        assert row is not None
        return RepriceApplied(int(row[0]), int(row[1]), int(row[2]))

    def discard(self) -> None:
        """Roll back: nothing of this run is written."""
        self._conn.rollback()
