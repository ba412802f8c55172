"""``otel-margin stripe backfill``: book what Stripe holds since a date, as if its events had been delivered.

Lists (with the stripe client's auto-pagination) paid invoices, credit notes, refunds (with their charges) and
disputes created on or after ``since``, and books each through the same ``StripeBooker`` as webhooks. Bookings are
keyed by Stripe object ids (refunds by their own ids), so running it twice, or before or after the webhooks of the
same objects, books each object once. Invoices go first so that refunds and disputes are split into revenue and
tax like their invoice.

Each object is booked in its own transaction (progress is kept if the run stops). ``dry_run`` books everything
in one transaction, reports the change, and rolls it back.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, TypeVar

from otel_margin_backend.revenue.ledger import Ledger
from otel_margin_backend.revenue.stripe_api import StripeApi
from otel_margin_backend.revenue.stripe_booking import (
    Change,
    ChargeRefunded,
    CreditNoteChanged,
    DisputeClosed,
    InvoicePaid,
    RefundChanged,
    StripeBooker,
)
from otel_margin_backend.revenue.stripe_objects import Charge, Refund

Stage = Literal["invoices", "credit notes", "refunds", "disputes"]
STAGES: tuple[Stage, ...] = ("invoices", "credit notes", "refunds", "disputes")
T = TypeVar("T")


@dataclass
class BackfillReport:
    """What a backfill saw and what it changed."""

    seen: Counter[str] = field(default_factory=Counter)
    """Objects listed per stage."""
    outcomes: Counter[str] = field(default_factory=Counter)
    """Booking outcomes (booked, unchanged, stale, ignored, ...)."""
    changes: dict[tuple[str, str], int] = field(default_factory=dict)
    """Change of the ledger per (currency, kind), in minor units."""
    dry_run: bool = False


async def _next(items: Iterator[T]) -> T | None:
    return await asyncio.to_thread(next, items, None)


async def backfill(
    ledger: Ledger,
    booker: StripeBooker,
    api: StripeApi,
    since: date,
    *,
    dry_run: bool = False,
    on_progress: Callable[[Stage, int], None] | None = None,
) -> BackfillReport:
    """Book every paid invoice, credit note, refund and lost dispute created since a date.

    Args:
        ledger: The ledger (its connection must be in autocommit mode, outside a transaction).
        booker: Books each object (the same booker webhooks use).
        api: Lists the objects.
        since: First day (UTC) of the objects' creation.
        dry_run: Book in one transaction and roll it back.
        on_progress: Called with the stage and the objects listed so far in it.

    Returns:
        The report.

    Raises:
        StripeUnavailable: a Stripe API call failed (what was booked so far stays booked, unless dry_run).
        StoreUnavailable: the database failed.
    """
    report = BackfillReport(dry_run=dry_run)
    async with AsyncExitStack() as stack:
        if dry_run:
            await stack.enter_async_context(ledger.conn.transaction(force_rollback=True))
        before = await ledger.totals()

        async def book(change: Change) -> None:
            prepared = await booker.prepare(ledger, change)
            async with ledger.conn.transaction():
                await ledger.lock()
                result = await booker.apply(ledger, prepared)
            report.outcomes[result.outcome] += 1

        def progress(stage: Stage) -> None:
            report.seen[stage] += 1
            if on_progress is not None:
                on_progress(stage, report.seen[stage])

        invoices = api.invoices(since)
        while (invoice := await _next(invoices)) is not None:
            progress("invoices")
            await book(InvoicePaid(invoice, invoice.status_transitions.paid_at or invoice.created))

        notes = api.credit_notes(since)
        while (note := await _next(notes)) is not None:
            progress("credit notes")
            state: Literal["issued", "void"] = "void" if note.status == "void" else "issued"
            await book(CreditNoteChanged(note, state, note.voided_at or note.created))

        by_charge: dict[str, list[Refund]] = {}
        charges: dict[str, Charge] = {}
        refunds = api.refunds(since)
        while (refund := await _next(refunds)) is not None:
            progress("refunds")
            if refund.charge is None:
                continue
            by_charge.setdefault(refund.charge, []).append(refund)
            if refund.charge_object is not None:
                charges[refund.charge] = refund.charge_object
        listed_at = int(time.time())
        for charge_id, listed in sorted(by_charge.items()):
            known = charges.get(charge_id)
            charge = known if known is not None else await asyncio.to_thread(api.charge, charge_id)
            if charge is None:  # Stripe no longer knows the charge: book its refunds by id
                for refund in listed:
                    await book(RefundChanged(refund, listed_at))
                continue
            last = max(r.created for r in listed)
            await book(ChargeRefunded(charge, last, refunds=tuple(listed), observed_at=listed_at))

        disputes = api.disputes(since)
        while (dispute := await _next(disputes)) is not None:
            progress("disputes")
            if dispute.status == "lost":
                await book(DisputeClosed(dispute, dispute.lost_at))

        report.changes = (await ledger.totals()).minus(before)
    return report
