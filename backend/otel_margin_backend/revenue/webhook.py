"""Stripe webhooks: verify the signature, then book the event once.

- The ``Stripe-Signature`` header is checked with the stripe library (``stripe.Webhook.construct_event``: HMAC-SHA256
  of ``"{t}.{raw body}"`` with the endpoint secret, any ``v1`` entry, timestamps older than the library's default
  tolerance of 300 s refused). A bad or stale signature is ``InvalidSignature`` (HTTP 400); no configured secret
  is ``WebhookNotConfigured`` (HTTP 503: nothing unsigned is booked, and Stripe redelivers once it is set).
- The event id is claimed in ``stripe_events`` in the same transaction as the booking: a redelivered event is a
  ``duplicate`` and books nothing.
- Booked: ``invoice.paid``, ``invoice.voided``, ``invoice.marked_uncollectible``, ``charge.refunded``,
  ``refund.created``, ``refund.updated``, ``refund.failed``, ``charge.refund.updated`` (a refund counts once
  whichever of these the endpoint receives, in any order), ``credit_note.created``, ``credit_note.voided``,
  ``charge.dispute.closed`` (lost only); ``customer.created``,
  ``customer.updated`` and ``customer.deleted`` refresh the customer mapping. Every other type, including
  ``invoice.payment_succeeded`` (revenue comes from ``invoice.paid`` only, so it is never counted twice), is
  recorded as ``ignored``.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from otel_margin_backend.pipeline.errors import PermanentError, RetryableError
from otel_margin_backend.revenue.config import RevenueConfig
from otel_margin_backend.revenue.ledger import Ledger
from otel_margin_backend.revenue.stripe_booking import (
    Change,
    ChargeRefunded,
    CreditNoteChanged,
    CustomerChanged,
    DisputeClosed,
    InvoiceClosed,
    InvoicePaid,
    RefundChanged,
    Result,
    StripeBooker,
)
from otel_margin_backend.revenue.stripe_objects import (
    Charge,
    CreditNote,
    Customer,
    Dispute,
    Event,
    Invoice,
    Refund,
    parse,
)
from otel_margin_backend.storage.database import AsyncConn

MAX_BODY_BYTES = 1_048_576
"""Stripe events are far smaller; a larger body is refused."""


class WebhookNotConfigured(RetryableError):
    """No webhook signing secret is configured, so no event can be trusted."""


class InvalidSignature(PermanentError):
    """The ``Stripe-Signature`` header is missing, malformed, wrong, or too old."""


class BadEvent(PermanentError):
    """A correctly signed body that is not a Stripe event revenue can read."""


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What one delivery did."""

    event_id: str
    event_type: str
    status: str
    """``booked``, ``reversed``, ``unchanged``, ``stale``, ``ignored``, ``customer``, or ``duplicate``."""
    detail: str

    def as_dict(self) -> dict[str, str]:
        """The result as the webhook's JSON answer."""
        return {"id": self.event_id, "type": self.event_type, "status": self.status, "detail": self.detail}


IGNORED_ON_PURPOSE = {
    "invoice.payment_succeeded": "revenue is booked from invoice.paid only",
}


def change_of(event: Event) -> Change | None:
    """The change an event carries, or None for a type revenue does not book.

    Raises:
        BadEvent: the event's object lacks a field revenue needs.
    """
    obj, at = event.data.object, event.created
    what = f"event {event.id} ({event.type})"
    try:
        match event.type:
            case "invoice.paid":
                return InvoicePaid(parse(Invoice, obj, what), at)
            case "invoice.voided":
                return InvoiceClosed(parse(Invoice, obj, what), "void", at)
            case "invoice.marked_uncollectible":
                return InvoiceClosed(parse(Invoice, obj, what), "uncollectible", at)
            case "charge.refunded":
                return ChargeRefunded(parse(Charge, obj, what), at)
            case "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated":
                return RefundChanged(parse(Refund, obj, what), at)
            case "credit_note.created":
                return CreditNoteChanged(parse(CreditNote, obj, what), "issued", at)
            case "credit_note.voided":
                return CreditNoteChanged(parse(CreditNote, obj, what), "void", at)
            case "charge.dispute.closed":
                return DisputeClosed(parse(Dispute, obj, what), at)
            case "customer.created" | "customer.updated":
                return CustomerChanged(parse(Customer, obj, what), at)
            case "customer.deleted":
                return CustomerChanged(parse(Customer, obj, what), at, deleted=True)
    except PermanentError as exc:
        raise BadEvent(str(exc)) from None
    return None


class StripeWebhook:
    """Verifies deliveries and books their events."""

    def __init__(self, config: RevenueConfig, booker: StripeBooker) -> None:
        self._secret = config.stripe_webhook_secret
        self.booker = booker

    def verify(self, body: bytes, signature: str | None) -> Event:
        """The event a delivery carries, if Stripe signed it.

        Raises:
            WebhookNotConfigured: no signing secret is configured.
            InvalidSignature: the signature is missing, wrong, or older than the tolerance.
            BadEvent: the signed body is not a Stripe event.
        """
        if self._secret is None:
            raise WebhookNotConfigured(
                "Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET (or OTEL_MARGIN_STRIPE_WEBHOOK_SECRET) "
                "to the endpoint's signing secret (whsec_...); until then no event is booked",
                retry_after_s=60,
            )
        try:
            event = stripe.Webhook.construct_event(body, signature, self._secret.get_secret_value())
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature(f"invalid Stripe-Signature: {exc.user_message or exc}") from None
        except ValueError as exc:  # not JSON, or a v2 thin event
            raise BadEvent(f"the signed body is not a Stripe snapshot event: {exc}") from None
        return parse(Event, event.to_dict(), "the signed body")

    async def process(self, conn: AsyncConn, event: Event) -> WebhookResult:
        """Book a verified event once.

        Raises:
            BadEvent: its object lacks a field revenue needs.
            RetryableError: the database or the Stripe API is unavailable (nothing was booked).
        """
        ledger = Ledger(conn)
        if await ledger.event_seen(event.id):
            return WebhookResult(event.id, event.type, "duplicate", "this event was processed before")
        change = change_of(event)
        prepared = await self.booker.prepare(ledger, change) if change is not None else None
        async with conn.transaction():
            await ledger.lock()
            object_id = event.data.object.get("id")
            if not await ledger.claim_event(
                event.id, event.type, object_id if isinstance(object_id, str) else None, event.created,
                event.livemode, event.api_version,
            ):  # fmt: skip
                return WebhookResult(event.id, event.type, "duplicate", "this event was processed before")
            if prepared is None:
                reason = IGNORED_ON_PURPOSE.get(event.type, "revenue does not book this event type")
                result = Result("ignored", reason)
            else:
                result = await self.booker.apply(ledger, prepared)
            await ledger.finish_event(event.id, result.outcome, result.detail)
        return WebhookResult(event.id, event.type, result.outcome, result.detail)
