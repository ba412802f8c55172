"""What a document books: its revenue entries, computed from Stripe objects or a manual entry (pure; no I/O).

A ``Booking`` is the complete set of entries of one source document (an invoice, a charge's refunds, a dispute, a
credit note, a manual entry). The ledger replaces a document's entries with its booking as a whole, so booking
the same document twice, by webhook or backfill, in any order, leaves one copy.

Signs follow the effect on the customer's money: revenue and tax positive; discounts, refunds, credit notes
and lost disputes negative. The rules (README.md, "Recognition"):

- invoice line: ``revenue`` = line amount less inclusive taxes, ``discount`` = -(discounts and applied billing
  credits), ``tax`` = all taxes; each spread over the line's service period, or one-off when the invoice was paid.
- refund / lost dispute: in the month it happened, split into ``refund``/``dispute`` and ``tax`` in the ratio of
  the paid invoice's taxes to its total (all ``refund``/``dispute`` while the invoice is unknown). A charge's
  refunds are what its refunds (known by id) and its ``amount_refunded`` steps say together, each amount once
  (``refund_increments``).
- credit note: in its effective month, the part not refunded (refunds are booked with their charge), split into
  ``credit_note`` and ``tax`` in the credit note's own ratio.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from otel_margin_backend.revenue.recognition import Slice, month_of, prorate, recognize, utc
from otel_margin_backend.revenue.stripe_objects import CreditNote, Invoice, Line, Refund

log = logging.getLogger(__name__)

Kind = Literal["revenue", "discount", "tax", "refund", "credit_note", "dispute"]
KINDS: tuple[Kind, ...] = ("revenue", "discount", "tax", "refund", "credit_note", "dispute")
Source = Literal["stripe", "manual"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of ``revenue_entries`` (without the document-wide columns)."""

    kind: Kind
    month: date
    amount_minor: int
    source_line: str
    occurred_at: datetime
    service_start: datetime | None = None
    service_end: datetime | None = None

    def as_json(self) -> dict[str, object]:
        """The value as JSON for the ledger's SQL functions."""
        return {
            "source_line": self.source_line,
            "kind": self.kind,
            "month": self.month.isoformat(),
            "amount_minor": self.amount_minor,
            "occurred_at": self.occurred_at.isoformat(),
            "service_start": self.service_start.isoformat() if self.service_start else None,
            "service_end": self.service_end.isoformat() if self.service_end else None,
        }


@dataclass(frozen=True, slots=True)
class Booking:
    """Every entry of one source document."""

    source: Source
    source_id: str
    currency: str
    entries: tuple[Entry, ...]
    customer_id: str | None = None
    stripe_customer_id: str | None = None
    invoice_id: str | None = None
    charge_id: str | None = None


def entries_for(kind: Kind, amount_minor: int, slices_of: Sequence[Slice], line: str, at: datetime) -> list[Entry]:
    """Entries for the non-zero slices of an amount."""
    return [Entry(kind, s.month, s.amount_minor, line, at, s.start, s.end) for s in slices_of if s.amount_minor != 0]


def _line_entries(line: Line, paid_at: int) -> list[Entry]:
    inclusive = sum(t.amount for t in line.tax_list if t.inclusive)
    parts: list[tuple[Kind, int]] = [
        ("revenue", line.amount - inclusive),
        ("discount", -line.discount),
        ("tax", sum(t.amount for t in line.tax_list)),
    ]
    period = (line.period.start, line.period.end) if line.period else None
    out: list[Entry] = []
    for kind, amount in parts:
        out += entries_for(kind, amount, recognize(amount, period, paid_at), line.id, utc(paid_at))
    return out


def invoice_booking(invoice: Invoice, lines: Sequence[Line], paid_at: int) -> Booking:
    """The entries of a paid invoice: each line spread over its service period (one-off lines when paid).

    Args:
        invoice: The invoice.
        lines: All of its lines (the payload's, or every page fetched from the API).
        paid_at: When it was paid (Unix seconds): the month one-off lines count in.

    Returns:
        The booking; shipping counts as one-off revenue and tax.
    """
    entries: list[Entry] = []
    for line in lines:
        entries += _line_entries(line, paid_at)
    if invoice.shipping_cost is not None:
        ship = invoice.shipping_cost
        at = utc(paid_at)
        entries += entries_for("revenue", ship.amount_subtotal, recognize(ship.amount_subtotal, None, paid_at),
                               "shipping", at)  # fmt: skip
        entries += entries_for("tax", ship.amount_tax, recognize(ship.amount_tax, None, paid_at), "shipping", at)
    booked = sum(e.amount_minor for e in entries)
    if booked != invoice.total:
        log.warning(
            "invoice lines do not add up to its total",
            extra={"invoice": invoice.id, "lines_total": booked, "invoice_total": invoice.total},
        )
    return Booking("stripe", invoice.id, invoice.currency, tuple(entries), stripe_customer_id=invoice.customer,
                   invoice_id=invoice.id)  # fmt: skip


def credit_note_booking(note: CreditNote, refunded: int) -> Booking:
    """The entries of an issued credit note: its part not paid back as a refund, in its effective month.

    Args:
        note: The credit note.
        refunded: The part of it paid back as a refund (``CreditNote.refunded_part``): booked with the refund's
            charge, so not here.

    Returns:
        The booking (no entries when all of it was refunded).
    """
    at = note.effective_at or note.created
    gross = note.total - min(max(refunded, 0), note.total)
    net, tax = prorate(gross, note.total - note.tax_total, note.total)
    entries = [
        *entries_for("credit_note", -net, recognize(-net, None, at), "", utc(at)),
        *entries_for("tax", -tax, recognize(-tax, None, at), "", utc(at)),
    ]
    return Booking("stripe", note.id, note.currency, tuple(entries), stripe_customer_id=note.customer,
                   invoice_id=note.invoice)  # fmt: skip


def void_booking(source_id: str, currency: str) -> Booking:
    """No entries: what a voided (or uncollectible) document books."""
    return Booking("stripe", source_id, currency, ())


@dataclass(frozen=True, slots=True)
class RefundStep:
    """One recorded increase of a charge's ``amount_refunded`` (what a charge payload says, without refund ids)."""

    refunded_to: int
    amount: int
    occurred_at: int
    refund_id: str | None = None

    def as_json(self) -> dict[str, object]:
        """The value as JSON for the ledger's SQL functions."""
        return {
            "refunded_to": self.refunded_to,
            "amount": self.amount,
            "occurred_at": utc(self.occurred_at).isoformat(),
            "refund_id": self.refund_id,
        }


def refund_steps(amount_refunded: int, booked: int, refunds: Sequence[Refund] | None, at: int) -> list[RefundStep]:
    """The steps to record for a charge payload's ``amount_refunded`` above what is recorded.

    A step says "by ``occurred_at`` the charge had ``refunded_to`` refunded"; it must never be dated before a
    refund it includes (``refund_increments`` relies on it). The refunds the payload lists are recorded by id
    beside the steps.

    Args:
        amount_refunded: The charge's cumulative refunded amount, as the payload says.
        booked: The highest ``refunded_to`` recorded for the charge.
        refunds: The charge's refunds when the payload lists them (backfill, or older API versions), else None.
        at: When the payload was true (the event's time; in backfill, the latest listed refund).

    Returns:
        Nothing when the payload is not ahead of what is recorded (a replay, or an older event arriving late).
        Otherwise a step to ``amount_refunded`` at ``at``, preceded, when the listed refunds do not add up to it
        (refunds made before a backfill's window), by a step to that remainder just before the first listed one.
    """
    if amount_refunded <= booked:
        return []
    counted = sorted((r for r in refunds or () if r.counts and r.amount > 0), key=lambda r: (r.created, r.id))
    listed = sum(r.amount for r in counted)
    if not counted or listed > amount_refunded:
        return [RefundStep(amount_refunded, amount_refunded - booked, at)]
    steps: list[RefundStep] = []
    remainder = amount_refunded - listed
    if remainder > booked:
        steps.append(RefundStep(remainder, remainder - booked, counted[0].created - 1))
    last = max(at, counted[-1].created)
    steps.append(RefundStep(amount_refunded, amount_refunded - max(booked, remainder), last))
    return steps


@dataclass(frozen=True, slots=True)
class KnownRefund:
    """A refund known by its id (from a refund event, a charge's listed refunds, backfill or the API)."""

    refund_id: str
    amount: int
    status: str | None
    created: datetime
    observed_at: datetime | None = None
    """When Stripe's refund was in this state (for a failed one: when its failure was known)."""

    @property
    def counts(self) -> bool:
        """Failed and canceled refunds gave nothing back."""
        return self.status not in ("failed", "canceled") and self.amount > 0

    def undone_in(self, step: Adjustment) -> int:
        """The part of a step's ``refunded_to`` this refund no longer stands for: a refund that failed (or was
        canceled) after the charge payload of the step counted it, i.e. made before the step, failed after it."""
        if self.counts or self.observed_at is None:
            return 0
        return self.amount if self.created <= step.occurred_at < self.observed_at else 0


@dataclass(frozen=True, slots=True)
class RefundIncrement:
    """One booked rise of what a charge has refunded: to ``refunded_to``, by ``amount``, at ``occurred_at``."""

    refunded_to: int
    amount: int
    occurred_at: datetime


def refund_increments(steps: Sequence[Adjustment], refunds: Sequence[KnownRefund]) -> list[RefundIncrement]:
    """What a charge has refunded over time, each amount once, from its refunds and its ``amount_refunded`` steps.

    In time order (at the same instant refunds first, since a charge payload can only include refunds made before
    it): a refund raises the total by its amount; a step raises it to its ``refunded_to`` if that is higher (the
    part of ``amount_refunded`` no known refund explains), less the refunds it counted that failed later. So a
    refund reported both by ``refund.created`` and by ``charge.refunded`` counts once, whichever arrived first, and
    the result depends only on what is recorded, never on the order it arrived in. Each increment's
    ``refunded_to`` names its entry line (``refund:<n>``).

    Args:
        steps: The charge's ``refund`` adjustments (recorded steps).
        refunds: The charge's refunds known by id.

    Returns:
        The increments, in time order.
    """
    items: list[tuple[datetime, int, str, int, int | None]] = [
        (r.created, 0, r.refund_id, r.amount, None) for r in refunds if r.counts
    ]
    items += [
        (s.occurred_at, 1, "", 0, s.refunded_to - sum(r.undone_in(s) for r in refunds))
        for s in steps
        if s.kind == "refund" and s.refunded_to is not None
    ]
    total = 0
    out: list[RefundIncrement] = []
    for at, _, _, amount, to in sorted(items, key=lambda i: (i[0], i[1], i[2], i[4] or 0)):
        target = total + amount if to is None else to
        if target > total:
            out.append(RefundIncrement(target, target - total, at))
            total = target
    return out


@dataclass(frozen=True, slots=True)
class ChargeContext:
    """What is known around a charge: its customer and the invoice it paid."""

    stripe_customer_id: str | None
    currency: str
    invoice_id: str | None
    invoice_total: int | None
    invoice_tax: int | None


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A booked refund step or lost dispute of a charge."""

    kind: Literal["refund", "dispute"]
    source_id: str
    amount: int
    occurred_at: datetime
    refunded_to: int | None = None


def charge_bookings(
    charge_id: str, context: ChargeContext, adjustments: Sequence[Adjustment], refunds: Sequence[KnownRefund] = ()
) -> list[Booking]:
    """The refund entries of a charge (one booking) and one booking per lost dispute.

    Each amount counts in the month it happened and is split into revenue and tax like the invoice it paid
    (``invoice_tax / invoice_total``), or wholly revenue while that invoice is not known. Refunds are the charge's
    ``refund_increments`` of its steps and its refunds known by id.
    """
    whole = context.invoice_total or 0
    tax_part = context.invoice_tax or 0

    def split(amount: int) -> tuple[int, int]:
        return prorate(amount, whole - tax_part, whole)

    rows: list[Entry] = []
    for step in refund_increments(adjustments, refunds):
        net, tax = split(step.amount)
        month = month_of(int(step.occurred_at.timestamp()))
        line = f"refund:{step.refunded_to}"
        rows += [Entry("refund", month, -net, line, step.occurred_at)] if net else []
        rows += [Entry("tax", month, -tax, line, step.occurred_at)] if tax else []
    disputes: dict[str, list[Entry]] = {}
    for item in adjustments:
        if item.kind != "dispute":
            continue
        net, tax = split(item.amount)
        month = month_of(int(item.occurred_at.timestamp()))
        lost = disputes.setdefault(item.source_id, [])
        lost += [Entry("dispute", month, -net, "", item.occurred_at)] if net else []
        lost += [Entry("tax", month, -tax, "", item.occurred_at)] if tax else []
    return [
        Booking("stripe", source_id, context.currency, tuple(entries), stripe_customer_id=context.stripe_customer_id,
                invoice_id=context.invoice_id, charge_id=charge_id)
        for source_id, entries in [(charge_id, rows), *sorted(disputes.items())]
    ]  # fmt: skip
