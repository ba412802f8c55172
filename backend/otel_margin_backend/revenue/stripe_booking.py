"""Booking Stripe changes: the one path both webhooks and backfill take.

A change (an invoice paid or voided, a charge refunded, a refund made or updated, a credit note issued or voided,
a dispute lost, a customer updated) is booked in two steps:

1. ``prepare`` gathers what the payload lacks, outside any transaction: an invoice's lines beyond the first 10,
   the charges that paid it, a dispute's or a refund's charge, the refund a credit note of an API version before
   2025-03-31 names, and the metadata of customers never seen (Stripe API calls).
2. ``apply`` runs inside the caller's transaction, after ``Ledger.lock()``: it moves the document to its new
   state unless the recorded state is newer (out-of-order delivery), then replaces the document's entries.

Everything is keyed by Stripe object ids, so a change booked twice (webhook and backfill, or a replay) books once.
A charge's refunds are rebuilt from what is recorded about them (refunds by id, and the charge's
``amount_refunded`` steps: ``entries.refund_increments``), so ``refund.*`` and ``charge.refunded`` events for the
same refund, in any order, count it once. What cannot be booked exactly (a lost dispute on a charge nobody can
name, a credit note whose refunded part is unknown) is said in ``stripe_booking_issues``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from otel_margin_backend.pipeline.errors import RetryableError
from otel_margin_backend.pipeline.money import money
from otel_margin_backend.revenue.config import RevenueConfig
from otel_margin_backend.revenue.currency import to_major
from otel_margin_backend.revenue.entries import (
    charge_bookings,
    credit_note_booking,
    invoice_booking,
    refund_steps,
    void_booking,
)
from otel_margin_backend.revenue.ledger import CustomerObservation, DocumentState, Ledger, Outcome
from otel_margin_backend.revenue.recognition import utc
from otel_margin_backend.revenue.stripe_api import StripeApi
from otel_margin_backend.revenue.stripe_objects import Charge, CreditNote, Customer, Dispute, Invoice, Line, Refund


def _money(minor: int, currency: str) -> str:
    return money(to_major(minor, currency), currency, code=True)


class MissingData(RetryableError):
    """The payload is incomplete and the API, which could complete it, is not configured."""


@dataclass(frozen=True, slots=True)
class InvoicePaid:
    """An invoice was paid: book its lines."""

    invoice: Invoice
    at: int
    """When it happened, if the invoice does not say (the event's time)."""


@dataclass(frozen=True, slots=True)
class InvoiceClosed:
    """An invoice was voided or marked uncollectible: remove its entries."""

    invoice: Invoice
    state: Literal["void", "uncollectible"]
    at: int


@dataclass(frozen=True, slots=True)
class ChargeRefunded:
    """A charge was refunded (in part or in full)."""

    charge: Charge
    at: int
    refunds: tuple[Refund, ...] | None = None
    """The charge's refunds when known (backfill lists them); else those in the payload, if any."""
    observed_at: int | None = None
    """When the listed refunds were in their state (backfill: when listed); default ``at``."""


@dataclass(frozen=True, slots=True)
class RefundChanged:
    """A refund made or updated (``refund.created``, ``refund.updated``, ``refund.failed``,
    ``charge.refund.updated``)."""

    refund: Refund
    at: int
    """When Stripe's refund was in this state (the event's time)."""


@dataclass(frozen=True, slots=True)
class CreditNoteChanged:
    """A credit note was issued or voided."""

    note: CreditNote
    state: Literal["issued", "void"]
    at: int


@dataclass(frozen=True, slots=True)
class DisputeClosed:
    """A dispute on a charge was closed (lost disputes book a negative entry)."""

    dispute: Dispute
    lost_at: int


@dataclass(frozen=True, slots=True)
class CustomerChanged:
    """A customer was created or updated (its metadata may name the otel-margin customer)."""

    customer: Customer
    at: int
    deleted: bool = False


Change = (
    InvoicePaid | InvoiceClosed | ChargeRefunded | RefundChanged | CreditNoteChanged | DisputeClosed | CustomerChanged
)

PAID, CLOSED = 1, 0
"""State ranks at the same second: an invoice can be paid after being marked uncollectible, never before."""
ISSUED, VOIDED = 0, 1


@dataclass(frozen=True, slots=True)
class Result:
    """What booking a change did."""

    outcome: Outcome
    detail: str


@dataclass(frozen=True, slots=True)
class Prepared:
    """A change plus what ``prepare`` fetched for it."""

    change: Change
    customers: tuple[CustomerObservation, ...] = ()
    lines: tuple[Line, ...] = ()
    payment_refs: tuple[str, ...] = ()
    charge: Charge | None = None
    """A dispute's or a refund's charge, fetched (or expanded in the payload)."""
    refund: Refund | None = None
    """The refund a credit note names, fetched."""
    missing: str | None = None
    """Why what the change needs could not be fetched (no API key, or Stripe does not know it)."""


class StripeBooker:
    """Books Stripe changes into the ledger."""

    def __init__(self, config: RevenueConfig, api: StripeApi | None) -> None:
        self.metadata_key = config.stripe_customer_metadata_key
        self.api = api

    def observation(self, customer: Customer, observed_at: int) -> CustomerObservation:
        """A full customer object as the ledger records it."""
        metadata = customer.metadata
        return CustomerObservation(
            stripe_customer_id=customer.id,
            observed_at=utc(observed_at),
            name=customer.name,
            email=customer.email,
            metadata_customer_id=(metadata or {}).get(self.metadata_key) or None,
            metadata_known=metadata is not None,
            deleted=customer.deleted,
        )

    async def _customers(
        self,
        ledger: Ledger,
        customer_id: str | None,
        *,
        expanded: Customer | None = None,
        name: str | None = None,
        email: str | None = None,
        at: int,
    ) -> list[CustomerObservation]:
        if customer_id is None:
            return []
        if expanded is not None and expanded.metadata is not None:
            return [self.observation(expanded, at)]
        seen = [CustomerObservation(customer_id, utc(at), name=name, email=email)]
        if self.api is not None and await ledger.customer_needs_lookup(customer_id):
            fetched = await asyncio.to_thread(self.api.customer, customer_id)
            if fetched is not None:
                seen.append(self.observation(fetched, int(time.time())))
        return seen

    async def prepare(self, ledger: Ledger, change: Change) -> Prepared:
        """Fetch what the change needs beyond its payload (outside any transaction).

        Raises:
            StripeUnavailable: an API call failed.
            MissingData: the payload is incomplete and no API key is configured.
        """
        match change:
            case InvoicePaid(invoice=invoice) | InvoiceClosed(invoice=invoice):
                customers = await self._customers(
                    ledger, invoice.customer, expanded=invoice.customer_object, name=invoice.customer_name,
                    email=invoice.customer_email, at=change.at,
                )  # fmt: skip
                if isinstance(change, InvoiceClosed):
                    return Prepared(change, tuple(customers))
                lines = await self._lines(invoice)
                refs = invoice.payment_refs
                if not refs and invoice.tax_total != 0 and self.api is not None:
                    refs = await asyncio.to_thread(self.api.invoice_payment_refs, invoice.id)
                return Prepared(change, tuple(customers), tuple(lines), tuple(refs))
            case ChargeRefunded(charge=refunded):
                return Prepared(change, tuple(await self._customers(ledger, refunded.customer, at=change.at)))
            case RefundChanged(refund=refund):
                charge = refund.charge_object
                if charge is None and refund.charge and refund.customer is None and self.api is not None:
                    context = await ledger.charge_context(refund.charge)
                    if context is None or (context.stripe_customer_id is None and context.invoice_id is None):
                        charge = await asyncio.to_thread(self.api.charge, refund.charge)
                customer = refund.customer or (charge.customer if charge else None)
                return Prepared(change, tuple(await self._customers(ledger, customer, at=change.at)), charge=charge)
            case CreditNoteChanged(note=note):
                customers = await self._customers(ledger, note.customer, expanded=note.customer_object, at=change.at)
                fetched: Refund | None = None
                missing: str | None = None
                unsplit = change.state == "issued" and note.refund is not None and note.refunded_part() is None
                if unsplit and note.refund is not None and await ledger.refund(note.refund) is None:
                    if self.api is None:
                        missing = "no API key is set to fetch it"
                    elif (fetched := await asyncio.to_thread(self.api.refund, note.refund)) is None:
                        missing = "Stripe answered 404 for it"
                return Prepared(change, tuple(customers), refund=fetched, missing=missing)
            case DisputeClosed(dispute=dispute):
                disputed = dispute.charge_object
                missing = None
                if dispute.status == "lost" and disputed is None:
                    if self.api is None:
                        missing = "no API key is set to fetch it"
                    elif (disputed := await asyncio.to_thread(self.api.charge, dispute.charge)) is None:
                        missing = "Stripe answered 404 for it"
                customer = disputed.customer if disputed else None
                customers = await self._customers(ledger, customer, at=change.lost_at)
                return Prepared(change, tuple(customers), charge=disputed, missing=missing)
            case CustomerChanged():
                return Prepared(change)

    async def _lines(self, invoice: Invoice) -> Sequence[Line]:
        if not invoice.lines.has_more:
            return invoice.lines.data
        if self.api is None:
            raise MissingData(
                f"invoice {invoice.id} has more lines than the payload carries; set STRIPE_API_KEY so they can be "
                "fetched (Stripe will redeliver the event)"
            )
        return await asyncio.to_thread(self.api.invoice_lines, invoice.id)

    async def apply(self, ledger: Ledger, prepared: Prepared) -> Result:
        """Book a prepared change. Call inside a transaction, after ``ledger.lock()``."""
        for seen in prepared.customers:
            await ledger.observe_customer(seen)
        match prepared.change:
            case InvoicePaid() as paid:
                return await self._invoice_paid(ledger, paid, prepared)
            case InvoiceClosed() as closed:
                return await self._invoice_closed(ledger, closed)
            case ChargeRefunded() as refunded:
                return await self._charge_refunded(ledger, refunded)
            case RefundChanged() as refund:
                return await self._refund(ledger, refund, prepared.charge)
            case CreditNoteChanged() as note:
                return await self._credit_note(ledger, note, prepared)
            case DisputeClosed() as closed_dispute:
                return await self._dispute(ledger, closed_dispute, prepared)
            case CustomerChanged() as customer:
                seen = self.observation(customer.customer, customer.at)
                if customer.deleted:
                    seen = CustomerObservation(
                        seen.stripe_customer_id, seen.observed_at, seen.name, seen.email, seen.metadata_customer_id,
                        seen.metadata_known, deleted=True,
                    )  # fmt: skip
                await ledger.observe_customer(seen)
                return Result("customer", f"customer {customer.customer.id} recorded")

    async def _invoice_paid(self, ledger: Ledger, change: InvoicePaid, prepared: Prepared) -> Result:
        invoice = change.invoice
        paid_at = invoice.status_transitions.paid_at or change.at
        state = DocumentState(
            invoice.id, "invoice", invoice.customer, invoice.currency, invoice.total, invoice.tax_total,
            "paid", paid_at, PAID,
        )  # fmt: skip
        if await ledger.transition(state) == "stale":
            return Result("stale", f"invoice {invoice.id} has a newer state than paid at {utc(paid_at):%Y-%m-%d}")
        await ledger.link_invoice(invoice.id, prepared.payment_refs)
        changed = await ledger.replace(invoice_booking(invoice, prepared.lines, paid_at))
        for charge_id in await ledger.invoice_charges(invoice.id):
            await self.rebook_charge(ledger, charge_id)
        return Result("booked" if changed else "unchanged", f"invoice {invoice.id}")

    async def _invoice_closed(self, ledger: Ledger, change: InvoiceClosed) -> Result:
        invoice = change.invoice
        transitions = invoice.status_transitions
        at = (transitions.voided_at if change.state == "void" else transitions.marked_uncollectible_at) or change.at
        state = DocumentState(
            invoice.id, "invoice", invoice.customer, invoice.currency, invoice.total, invoice.tax_total,
            change.state, at, CLOSED,
        )  # fmt: skip
        if await ledger.transition(state) == "stale":
            return Result("stale", f"invoice {invoice.id} was paid after it became {change.state}")
        if await ledger.replace(void_booking(invoice.id, invoice.currency)):
            return Result("reversed", f"invoice {invoice.id} is {change.state}: its revenue was reversed")
        return Result("unchanged", f"invoice {invoice.id} is {change.state}; nothing was booked for it")

    async def _charge_refunded(self, ledger: Ledger, change: ChargeRefunded) -> Result:
        charge = change.charge
        booked = await ledger.observe_charge(
            charge.id, stripe_customer_id=charge.customer, currency=charge.currency,
            payment_intent_id=charge.payment_intent, invoice_id=charge.invoice,
        )  # fmt: skip
        refunds = change.refunds if change.refunds is not None else (charge.refunds.data if charge.refunds else None)
        observed_at = change.observed_at if change.observed_at is not None else change.at
        for refund in refunds or ():
            await ledger.observe_refund(refund.id, charge.id, refund.amount, refund.status, refund.created, observed_at)
        steps = refund_steps(charge.amount_refunded, booked, refunds, change.at)
        if steps:
            await ledger.add_refund_steps(charge.id, steps)
        changed = await self.rebook_charge(ledger, charge.id)
        for refund in refunds or ():
            changed = await self._rebook_notes_of(ledger, refund.id) or changed
        if changed:
            return Result("booked", f"charge {charge.id}: {charge.amount_refunded} refunded in all")
        if charge.amount_refunded < booked:
            return Result("stale", f"charge {charge.id}: {booked} already refunded, this says {charge.amount_refunded}")
        return Result("unchanged", f"charge {charge.id}: refunds already booked")

    async def _refund(self, ledger: Ledger, change: RefundChanged, charge: Charge | None) -> Result:
        refund = change.refund
        if refund.charge is None:
            return Result("ignored", f"refund {refund.id} is not of a charge: revenue does not book it")
        await self._record_refund(ledger, refund, refund.charge, charge, change.at)
        changed = await self.rebook_charge(ledger, refund.charge)
        changed = await self._rebook_notes_of(ledger, refund.id) or changed
        what = f"refund {refund.id} of charge {refund.charge}: {refund.amount} {refund.status or ''}".rstrip()
        return Result("booked" if changed else "unchanged", what)

    async def _record_refund(
        self, ledger: Ledger, refund: Refund, charge_id: str, charge: Charge | None, observed_at: int,
        customer: str | None = None,
    ) -> None:  # fmt: skip
        """Record a refund and what it says about its charge (``customer``: the charge's, if nothing else says)."""
        charge = charge or refund.charge_object
        await ledger.observe_charge(
            charge_id, stripe_customer_id=refund.customer or (charge.customer if charge else None) or customer,
            currency=refund.currency,
            payment_intent_id=refund.payment_intent or (charge.payment_intent if charge else None),
            invoice_id=charge.invoice if charge else None,
        )  # fmt: skip
        await ledger.observe_refund(refund.id, charge_id, refund.amount, refund.status, refund.created, observed_at)

    async def _rebook_notes_of(self, ledger: Ledger, refund_id: str) -> bool:
        """Book again the credit notes that waited for this refund's amount; True if any changed."""
        known = await ledger.refund(refund_id)
        if known is None:
            return False
        amount = known[1].amount if known[1].counts else 0
        changed = False
        for note in await ledger.notes_waiting_for(refund_id):
            changed = await ledger.replace(credit_note_booking(note, note.refunded_part(amount) or 0)) or changed
        return changed

    async def _credit_note(self, ledger: Ledger, change: CreditNoteChanged, prepared: Prepared) -> Result:
        note = change.note
        at, rank = (note.created, ISSUED) if change.state == "issued" else (note.voided_at or change.at, VOIDED)
        state = DocumentState(
            note.id, "credit_note", note.customer, note.currency, note.total, note.tax_total, change.state, at, rank,
            invoice_id=note.invoice,
        )  # fmt: skip
        if await ledger.transition(state) == "stale":
            return Result("stale", f"credit note {note.id} was voided")
        if change.state == "void":
            changed = await ledger.replace(void_booking(note.id, note.currency))
            return Result("reversed" if changed else "unchanged", f"credit note {note.id} voided")
        refunded = await self._refunded_part(ledger, note, prepared)
        detail = f"credit note {note.id}"
        if refunded is None and note.refund is not None:
            refunded = note.refundable  # book only the part surely not refunded: never count a refund twice
            await ledger.wait_for_refund(note, note.refund)
            reason = (
                f"names refund {note.refund} but not how much of its {_money(note.total, note.currency)} it refunded "
                f"to the card, and {prepared.missing or 'the refund is unknown'}: only the part surely not refunded "
                f"({_money(note.total - refunded, note.currency)}) is booked; "
                f"{self._hint('or subscribe the endpoint to refund.created')}"
            )
            await ledger.note_missing(note.id, "credit_note_refund", note.customer, note.currency, refunded, reason)
            detail += f": its refunded part is unknown ({reason})"
        changed = await ledger.replace(credit_note_booking(note, refunded or 0))
        return Result("booked" if changed else "unchanged", detail)

    async def _refunded_part(self, ledger: Ledger, note: CreditNote, prepared: Prepared) -> int | None:
        """The part of a credit note refunded to the card: from the payload, the recorded refund, or the API."""
        refunded = note.refunded_part()
        if refunded is not None or not note.refund:
            return refunded
        fetched = prepared.refund
        if fetched is not None and fetched.charge is not None:
            await self._record_refund(ledger, fetched, fetched.charge, None, int(time.time()), customer=note.customer)
            await self.rebook_charge(ledger, fetched.charge)
        known = await ledger.refund(note.refund)
        if known is None:
            return None
        return note.refunded_part(known[1].amount if known[1].counts else 0)

    async def _dispute(self, ledger: Ledger, change: DisputeClosed, prepared: Prepared) -> Result:
        dispute, charge = change.dispute, prepared.charge
        if dispute.status != "lost":
            return Result("ignored", f"dispute {dispute.id} closed as {dispute.status}: revenue stands")
        named_before = await ledger.charge_context(dispute.charge) is not None
        await ledger.observe_charge(
            dispute.charge, stripe_customer_id=charge.customer if charge else None, currency=dispute.currency,
            payment_intent_id=dispute.payment_intent or (charge.payment_intent if charge else None),
            invoice_id=charge.invoice if charge else None,
        )  # fmt: skip
        new = await ledger.dispute_lost(dispute.id, dispute.charge, dispute.currency, dispute.amount, change.lost_at)
        context = await ledger.charge_context(dispute.charge)
        if context is not None and context.stripe_customer_id is None and context.invoice_id is None:
            if prepared.missing and not named_before:
                why = f"its charge {dispute.charge} is unknown (no earlier event named it) and {prepared.missing}"
                hint = self._hint("or book the charge's invoice first", backfill=True)
            else:
                why = f"its charge {dispute.charge} has no Stripe customer and pays no known invoice"
                hint = "book the invoice it paid, if any (otel-margin stripe backfill)"
            reason = f"lost dispute booked whole, without a customer or a tax split: {why}; {hint}"
            await ledger.note_missing(dispute.id, "dispute_charge", None, dispute.currency, dispute.amount, reason)
        if not new:
            return Result("unchanged", f"dispute {dispute.id} already booked")
        await self.rebook_charge(ledger, dispute.charge)
        return Result("booked", f"dispute {dispute.id} lost: {dispute.amount}")

    def _hint(self, alternative: str, *, backfill: bool = False) -> str:
        """What to do when an object could not be fetched: set a key, or check the one that is set."""
        if self.api is None:
            return f"set STRIPE_API_KEY{' and run otel-margin stripe backfill' if backfill else ''}, {alternative}"
        return f"check that STRIPE_API_KEY is of the Stripe account that sends these events, {alternative}"

    async def rebook_charge(self, ledger: Ledger, charge_id: str) -> bool:
        """Rebuild a charge's refund and dispute entries from what is recorded (after a refund, a lost dispute,
        or once the invoice it paid is known, which fixes the revenue/tax split); True if any entry changed."""
        context = await ledger.charge_context(charge_id)
        if context is None:
            return False
        adjustments = await ledger.charge_adjustments(charge_id)
        refunds = await ledger.charge_refunds(charge_id)
        changed = False
        for booking in charge_bookings(charge_id, context, adjustments, refunds):
            changed = await ledger.replace(booking) or changed
        return changed
