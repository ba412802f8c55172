"""What a document books: its revenue entries, computed from Stripe objects or a manual entry (pure; no I/O).

A ``Booking`` is the complete set of entries of one source document (an invoice, a charge's refunds, a dispute, a
credit note, a manual entry). The ledger replaces a document's entries with its booking as a whole, so booking
the same document twice, by webhook or backfill, in any order, leaves one copy.

Signs follow the effect on the customer's money: revenue and tax positive; discounts, refunds, credit notes
and lost disputes negative. The rules (README.md, "Recognition"):

- invoice line: ``revenue`` = line amount less inclusive taxes, ``discount`` = -(discounts and applied billing
  credits), ``tax`` = all taxes; each spread over the line's service period, or one-off when the invoice was paid.
- refund / lost dispute: in the month it happened, split into ``refund``/``dispute`` and ``tax`` in the ratio of
  the paid invoice's taxes to its total (all ``refund``/``dispute`` while the invoice is unknown).
- credit note: in its effective month, the part not refunded (refunds are booked from ``charge.refunded``), split
  into ``credit_note`` and ``tax`` in the credit note's own ratio.
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


def credit_note_booking(note: CreditNote) -> Booking:
    """The entries of an issued credit note: its part not paid back as a refund, in its effective month."""
    at = note.effective_at or note.created
    gross = note.total - note.refunded
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
    """One booked increase of a charge's ``amount_refunded``."""

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
    """The part of a charge's ``amount_refunded`` not booked yet, as dated steps.

    Args:
        amount_refunded: The charge's cumulative refunded amount, as the payload says.
        booked: How much of it is already booked (the high-water mark).
        refunds: The charge's refunds when the payload lists them (backfill, or older API versions), else None.
        at: When the change happened if the refunds are not listed (the event's time).

    Returns:
        Nothing when the payload is not ahead of what is booked (a replay, or an older event arriving late).
        Otherwise one step per listed refund beyond the booked mark, dated when it was made; refunds not listed
        (made before a backfill's window) are one step dated with the first listed one.
    """
    if amount_refunded <= booked:
        return []
    counted = sorted((r for r in refunds or () if r.counts and r.amount > 0), key=lambda r: (r.created, r.id))
    listed = sum(r.amount for r in counted)
    if not counted or listed > amount_refunded:
        return [RefundStep(amount_refunded, amount_refunded - booked, at)]
    steps: list[RefundStep] = []
    cumulative = amount_refunded - listed
    if cumulative > booked:
        steps.append(RefundStep(cumulative, cumulative - booked, counted[0].created))
    for refund in counted:
        before = cumulative
        cumulative += refund.amount
        if cumulative > booked:
            steps.append(RefundStep(cumulative, cumulative - max(before, booked), refund.created, refund.id))
    return steps


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


def charge_bookings(charge_id: str, context: ChargeContext, adjustments: Sequence[Adjustment]) -> list[Booking]:
    """The refund entries of a charge (one booking) and one booking per lost dispute.

    Each amount counts in the month it happened and is split into revenue and tax like the invoice it paid
    (``invoice_tax / invoice_total``), or wholly revenue while that invoice is not known.
    """
    whole = context.invoice_total or 0
    tax_part = context.invoice_tax or 0

    def split(amount: int) -> tuple[int, int]:
        return prorate(amount, whole - tax_part, whole)

    refunds: list[Entry] = []
    disputes: dict[str, list[Entry]] = {}
    for item in adjustments:
        net, tax = split(item.amount)
        month = month_of(int(item.occurred_at.timestamp()))
        if item.kind == "refund":
            line = f"refund:{item.refunded_to}"
            refunds += [Entry("refund", month, -net, line, item.occurred_at)] if net else []
            refunds += [Entry("tax", month, -tax, line, item.occurred_at)] if tax else []
        else:
            rows = disputes.setdefault(item.source_id, [])
            rows += [Entry("dispute", month, -net, "", item.occurred_at)] if net else []
            rows += [Entry("tax", month, -tax, "", item.occurred_at)] if tax else []
    return [
        Booking("stripe", source_id, context.currency, tuple(rows), stripe_customer_id=context.stripe_customer_id,
                invoice_id=context.invoice_id, charge_id=charge_id)
        for source_id, rows in [(charge_id, refunds), *sorted(disputes.items())]
    ]  # fmt: skip
