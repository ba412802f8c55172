"""The revenue tables, through the SQL functions and views of migrations 0020-0023 and 0063.

One ``Ledger`` wraps one async connection. It runs no transaction of its own: callers group a booking (the
event claim, the document's new state, its entries) in one ``conn.transaction()`` after ``lock()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, cast

from psycopg.types.json import Jsonb

from otel_margin_backend.revenue.currency import to_major
from otel_margin_backend.revenue.entries import Adjustment, Booking, ChargeContext, KnownRefund, RefundStep
from otel_margin_backend.revenue.recognition import utc
from otel_margin_backend.revenue.stripe_objects import CreditNote
from otel_margin_backend.storage.database import AsyncConn, connect_async

Outcome = Literal["booked", "reversed", "unchanged", "stale", "ignored", "customer"]
MissingKind = Literal["dispute_charge", "credit_note_refund"]


@asynccontextmanager
async def open_connection(url: str, *, timeout_s: float = 5.0) -> AsyncIterator[AsyncConn]:
    """One autocommit connection for a CLI command.

    Raises:
        StoreUnavailable: the database cannot be reached (one line naming the host).
    """
    async with await connect_async(url, timeout_s=timeout_s) as conn:
        yield conn


@dataclass(frozen=True, slots=True)
class CustomerObservation:
    """What a payload, the API or an event says about a Stripe customer."""

    stripe_customer_id: str
    observed_at: datetime
    name: str | None = None
    email: str | None = None
    metadata_customer_id: str | None = None
    metadata_known: bool = False
    """True for a full customer object; False for an invoice's name/email snapshot (metadata unknown)."""
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class DocumentState:
    """An invoice's or credit note's state, with when Stripe says it began."""

    object_id: str
    object_type: Literal["invoice", "credit_note"]
    stripe_customer_id: str | None
    currency: str
    total: int
    tax: int
    state: Literal["paid", "void", "uncollectible", "issued"]
    state_at: int
    state_rank: int
    invoice_id: str | None = None


@dataclass(frozen=True, slots=True)
class UnusableEventRow:
    """A row of ``stripe_unusable_events``: a signed event that was acknowledged but not booked."""

    received_at: datetime
    event_id: str | None
    event_type: str | None
    reason: str

    def as_json(self) -> dict[str, object]:
        """The row as ``stripe unusable --format json`` prints it."""
        return {"received_at": self.received_at.isoformat(), "event_id": self.event_id,
                "event_type": self.event_type, "reason": self.reason}  # fmt: skip


@dataclass(frozen=True, slots=True)
class UnmappedCustomer:
    """A row of ``stripe_customers_unmapped``."""

    stripe_customer_id: str
    name: str | None
    email: str | None
    metadata_known: bool
    currency: str
    net_minor: int
    documents: int
    first_month: datetime
    last_month: datetime
    issues: str | None = None
    """Why some of it cannot be mapped or split (its open booking issues), if any."""

    def as_json(self) -> dict[str, object]:
        """The row as JSON for ``customers unmapped --format json``."""
        return {
            "stripe_customer_id": self.stripe_customer_id,
            "name": self.name,
            "email": self.email,
            "metadata_known": self.metadata_known,
            "currency": self.currency,
            "net": str(to_major(self.net_minor, self.currency)),
            "net_minor": self.net_minor,
            "documents": self.documents,
            "first_month": f"{self.first_month:%Y-%m}",
            "last_month": f"{self.last_month:%Y-%m}",
            "issues": self.issues,
        }


@dataclass(frozen=True, slots=True)
class BookingIssue:
    """A row of ``stripe_booking_issues``: a Stripe booking that is not exact, and why."""

    kind: MissingKind
    object_id: str
    object_type: str
    related_id: str
    """The dispute's charge, or the credit note's refund."""
    stripe_customer_id: str | None
    currency: str
    amount_minor: int
    reason: str
    noted_at: datetime

    def as_json(self) -> dict[str, object]:
        """The issue as JSON for ``customers unmapped --format json``."""
        return {
            "kind": self.kind,
            "object_id": self.object_id,
            "object_type": self.object_type,
            "related_id": self.related_id,
            "stripe_customer_id": self.stripe_customer_id,
            "currency": self.currency,
            "amount": str(to_major(self.amount_minor, self.currency)),
            "amount_minor": self.amount_minor,
            "reason": self.reason,
            "noted_at": self.noted_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Totals:
    """What the ledger holds, per (currency, kind): amount in minor units and entry count."""

    amounts: dict[tuple[str, str], int]
    entries: int

    def minus(self, before: Totals) -> dict[tuple[str, str], int]:
        """The change from ``before``, without the keys that did not move."""
        keys = set(self.amounts) | set(before.amounts)
        delta = {k: self.amounts.get(k, 0) - before.amounts.get(k, 0) for k in sorted(keys)}
        return {k: v for k, v in delta.items() if v}


class Ledger:
    """The revenue tables over one connection."""

    def __init__(self, conn: AsyncConn) -> None:
        self.conn = conn

    async def _value(self, sql: str, params: Sequence[object] = ()) -> object:
        cur = await self.conn.execute(sql, params)
        row = await cur.fetchone()
        return row[0] if row else None

    async def lock(self) -> None:
        """Serialize with every other revenue writer until the transaction ends."""
        await self.conn.execute("SELECT revenue_lock()")

    async def replace(self, booking: Booking) -> bool:
        """Make a document's entries exactly the booking's; False when they already were."""
        changed = await self._value(
            "SELECT revenue_replace_entries(%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                booking.source,
                booking.source_id,
                booking.currency,
                booking.customer_id,
                booking.stripe_customer_id,
                booking.invoice_id,
                booking.charge_id,
                Jsonb([e.as_json() for e in booking.entries]),
            ),
        )
        return bool(changed)

    async def event_seen(self, event_id: str) -> bool:
        """True when this Stripe event was already booked (a redelivery)."""
        return bool(await self._value("SELECT stripe_event_seen(%s)", (event_id,)))

    async def claim_event(
        self, event_id: str, type_: str, object_id: str | None, created: int, livemode: bool, api_version: str | None
    ) -> bool:
        """Record an event as processed in this transaction; False when it was processed before."""
        claimed = await self._value(
            "SELECT stripe_event_claim(%s, %s, %s, %s, %s, %s)",
            (event_id, type_, object_id, utc(created), livemode, api_version),
        )
        return bool(claimed)

    async def finish_event(self, event_id: str, outcome: Outcome, detail: str | None) -> None:
        """Record how a claimed Stripe event ended."""
        await self.conn.execute("SELECT stripe_event_finish(%s, %s, %s)", (event_id, outcome, detail))

    async def record_failure(
        self, reason: str, http_status: int, message: str, event_id: str | None, event_type: str | None
    ) -> None:
        """Record a webhook request that could not be used (bad signature, bad payload)."""
        await self.conn.execute(
            "SELECT stripe_webhook_failure_record(%s, %s, %s, %s, %s)",
            (reason, http_status, message[:2000], event_id, event_type),
        )

    async def record_unusable(
        self, event_id: str | None, event_type: str | None, reason: str, *, keep: int, keep_days: int
    ) -> None:
        """Record a signed Stripe event revenue cannot book; keep the newest ``keep`` rows of ``keep_days`` days."""
        await self.conn.execute(
            "SELECT stripe_unusable_record(%s, %s, %s, %s, %s)", (event_id, event_type, reason, keep, keep_days)
        )

    async def unusable_events(self, limit: int) -> list[UnusableEventRow]:
        """The newest unusable Stripe events, newest first."""
        cur = await self.conn.execute(
            "SELECT received_at, event_id, event_type, reason FROM stripe_unusable_events ORDER BY id DESC LIMIT %s",
            (limit,),
        )
        return [UnusableEventRow(*row) for row in await cur.fetchall()]

    async def observe_customer(self, seen: CustomerObservation) -> None:
        """Record what a Stripe payload says about a customer (metadata, the otel-margin customer id)."""
        await self.conn.execute(
            "SELECT stripe_customer_observe(%s, %s, %s, %s, %s, %s, %s)",
            (
                seen.stripe_customer_id,
                seen.name,
                seen.email,
                seen.metadata_customer_id,
                seen.metadata_known,
                seen.deleted,
                seen.observed_at,
            ),
        )

    async def customer_needs_lookup(self, stripe_customer_id: str) -> bool:
        """True when nothing is known about this Stripe customer yet, so its metadata must be fetched."""
        return bool(await self._value("SELECT stripe_customer_needs_lookup(%s)", (stripe_customer_id,)))

    async def map_customer(self, stripe_customer_id: str, customer_id: str) -> str | None:
        """Map a Stripe customer; returns the previous otel-margin customer id it was mapped to."""
        previous = await self._value("SELECT stripe_customer_map_set(%s, %s)", (stripe_customer_id, customer_id))
        return cast(str | None, previous)

    async def customer_revenue(self, stripe_customer_id: str) -> list[tuple[str, int, int]]:
        """(currency, net minor units without tax, entries) booked for a Stripe customer."""
        cur = await self.conn.execute("SELECT * FROM stripe_customer_revenue(%s)", (stripe_customer_id,))
        return [(str(c), int(n), int(k)) for c, n, k in await cur.fetchall()]

    async def transition(self, doc: DocumentState) -> str:
        """Move a document to a state; returns the previous state, ``none``, or ``stale`` (nothing changed)."""
        result = await self._value(
            "SELECT stripe_document_transition(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                doc.object_id,
                doc.object_type,
                doc.stripe_customer_id,
                doc.currency,
                doc.total,
                doc.tax,
                doc.invoice_id,
                doc.state,
                utc(doc.state_at),
                doc.state_rank,
            ),
        )
        return str(result)

    async def link_invoice(self, invoice_id: str, refs: Sequence[str]) -> None:
        """Link the charges and payments that paid an invoice to it."""
        if refs:
            await self.conn.execute("SELECT stripe_invoice_link(%s, %s)", (invoice_id, list(refs)))

    async def observe_charge(
        self,
        charge_id: str,
        *,
        stripe_customer_id: str | None,
        currency: str,
        payment_intent_id: str | None,
        invoice_id: str | None,
    ) -> int:
        """Record a charge; returns how much of its ``amount_refunded`` is already booked."""
        booked = await self._value(
            "SELECT stripe_charge_observe(%s, %s, %s, %s, %s)",
            (charge_id, stripe_customer_id, currency, payment_intent_id, invoice_id),
        )
        return int(cast(int, booked))

    async def add_refund_steps(self, charge_id: str, steps: Sequence[RefundStep]) -> None:
        """Record a charge's refunds, keyed by refund id so a refund counts once."""
        await self.conn.execute("SELECT stripe_refunds_add(%s, %s)", (charge_id, Jsonb([s.as_json() for s in steps])))

    async def observe_refund(
        self, refund_id: str, charge_id: str, amount: int, status: str | None, created: int, observed_at: int
    ) -> bool:
        """Record a refund as Stripe showed it at ``observed_at`` (its charge must be recorded); True if it changed."""
        changed = await self._value(
            "SELECT stripe_refund_observe(%s, %s, %s, %s, %s, %s)",
            (refund_id, charge_id, amount, status, utc(created), utc(observed_at)),
        )
        return bool(changed)

    async def charge_refunds(self, charge_id: str) -> list[KnownRefund]:
        """The refunds recorded for a charge, as Stripe last showed each."""
        cur = await self.conn.execute(
            "SELECT refund_id, amount, status, created, observed_at FROM stripe_charge_refunds(%s)", (charge_id,)
        )
        return [KnownRefund(str(r), int(a), s, c, o) for r, a, s, c, o in await cur.fetchall()]

    async def refund(self, refund_id: str) -> tuple[str, KnownRefund] | None:
        """A recorded refund with its charge id, or None."""
        cur = await self.conn.execute("SELECT charge_id, amount, status, created FROM stripe_refund_get(%s)",
                                      (refund_id,))  # fmt: skip
        row = await cur.fetchone()
        if row is None:
            return None
        charge_id, amount, status, created = row
        return str(charge_id), KnownRefund(refund_id, int(amount), status, created)

    async def wait_for_refund(self, note: CreditNote, refund_id: str) -> None:
        """Keep a credit note whose refunded part is unknown, to book it again once its refund is recorded."""
        await self.conn.execute(
            "SELECT stripe_credit_note_refund_wait(%s, %s, %s)", (note.id, refund_id, Jsonb(note.model_dump()))
        )

    async def notes_waiting_for(self, refund_id: str) -> list[CreditNote]:
        """Issued credit notes kept by ``wait_for_refund`` for this refund."""
        cur = await self.conn.execute("SELECT stripe_credit_notes_waiting_for(%s)", (refund_id,))
        return [CreditNote.model_validate(note) for (note,) in await cur.fetchall()]

    async def note_missing(
        self, object_id: str, kind: MissingKind, stripe_customer_id: str | None, currency: str, amount_minor: int,
        reason: str,
    ) -> None:  # fmt: skip
        """Say why a booking is not exact (``stripe_booking_issues`` shows it until it is resolved)."""
        await self.conn.execute(
            "SELECT stripe_missing_data_note(%s, %s, %s, %s, %s, %s)",
            (object_id, kind, stripe_customer_id, currency, amount_minor, reason),
        )

    async def booking_issues(self) -> list[BookingIssue]:
        """Stripe bookings that are not exact (an unknown dispute charge, a credit note whose split is unknown)."""
        cur = await self.conn.execute(
            "SELECT kind, object_id, object_type, related_id, stripe_customer_id, currency, amount_minor, reason,"
            " noted_at FROM stripe_booking_issues ORDER BY noted_at, object_id"
        )
        return [
            BookingIssue(kind, str(oid), str(otype), str(rel), sid, str(cur_), int(amount), str(reason), noted)
            for kind, oid, otype, rel, sid, cur_, amount, reason, noted in await cur.fetchall()
        ]

    async def dispute_lost(self, dispute_id: str, charge_id: str, currency: str, amount: int, lost_at: int) -> bool:
        """Record a lost dispute; False when it was recorded before."""
        new = await self._value(
            "SELECT stripe_dispute_lost(%s, %s, %s, %s, %s)", (dispute_id, charge_id, currency, amount, utc(lost_at))
        )
        return bool(new)

    async def charge_context(self, charge_id: str) -> ChargeContext | None:
        """What is known about a charge: its customer, amount and the invoice it paid."""
        cur = await self.conn.execute("SELECT * FROM stripe_charge_context(%s)", (charge_id,))
        row = await cur.fetchone()
        if row is None:
            return None
        customer, currency, invoice_id, total, tax = row
        return ChargeContext(customer, str(currency), invoice_id, total, tax)

    async def charge_adjustments(self, charge_id: str) -> list[Adjustment]:
        """The refunds and lost disputes recorded against a charge."""
        cur = await self.conn.execute(
            "SELECT kind, source_id, refunded_to, amount, occurred_at FROM stripe_charge_adjustments(%s)",
            (charge_id,),
        )
        return [
            Adjustment(kind, str(source_id), int(amount), occurred_at, refunded_to)
            for kind, source_id, refunded_to, amount, occurred_at in await cur.fetchall()
        ]

    async def invoice_charges(self, invoice_id: str) -> list[str]:
        """The charges that paid an invoice."""
        cur = await self.conn.execute("SELECT stripe_invoice_charges(%s)", (invoice_id,))
        return [str(c) for (c,) in await cur.fetchall()]

    async def totals(self) -> Totals:
        """Booked amounts by currency and kind."""
        cur = await self.conn.execute("SELECT currency, kind, amount_minor, entries FROM revenue_totals()")
        rows = await cur.fetchall()
        return Totals({(str(c), str(k)): int(a) for c, k, a, _ in rows}, sum(int(n) for *_, n in rows))

    async def unmapped(self) -> list[UnmappedCustomer]:
        """Stripe customers with booked revenue but no otel-margin customer."""
        cur = await self.conn.execute(
            "SELECT stripe_customer_id, name, email, metadata_known, currency, net_minor, documents, first_month,"
            " last_month, issues FROM stripe_customers_unmapped ORDER BY stripe_customer_id, currency"
        )
        return [
            UnmappedCustomer(
                str(sid), name, email, bool(known), str(cur_), int(net or 0), int(docs), first, last, issues
            )
            for sid, name, email, known, cur_, net, docs, first, last, issues in await cur.fetchall()
        ]

    async def set_reporting_currency(self, currency: str) -> str:
        """Set the currency the reporting views convert to; returns the previous one."""
        return str(await self._value("SELECT revenue_set_reporting_currency(%s)", (currency,)))

    async def upsert_fx_rate(self, reporting_currency: str, currency: str, day: date, rate: Decimal) -> None:
        """Store one exchange rate to the reporting currency."""
        await self.conn.execute("SELECT fx_rate_upsert(%s, %s, %s, %s)", (reporting_currency, currency, day, rate))
