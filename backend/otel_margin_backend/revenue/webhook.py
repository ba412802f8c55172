"""Stripe webhooks: verify the signature, then book the event once.

- The ``Stripe-Signature`` header is checked with the stripe library (``stripe.WebhookSignature.verify_header``:
  HMAC-SHA256 of ``"{t}.{raw body}"`` with the endpoint secret, any ``v1`` entry, timestamps older than the
  library's default tolerance of 300 s refused); a timestamp more than the same 300 s *ahead* of the server's
  clock is refused here (the library checks only the past). A bad, stale or future signature, a header that is
  not ASCII, or a body that is not UTF-8 (so not Stripe's) is ``InvalidSignature`` (HTTP 400); no configured
  secret is ``WebhookNotConfigured`` (HTTP 503: nothing unsigned is booked, and Stripe redelivers once it is set).
- A correctly signed body revenue cannot book (not a JSON object, not an event, nested deeper than 64 levels, a
  NUL character, a number or time out of range, a field of the wrong type, a value the database refuses) is
  ``UnusableEvent``: the route answers 200 (so Stripe stops redelivering what would fail again) and records it
  with its reason in ``stripe_unusable_events`` (``otel-margin stripe unusable``); nothing of it is booked.
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

import time
from dataclasses import dataclass

import orjson
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
from otel_margin_backend.storage.writer import FailureKind, failure_kind

MAX_BODY_BYTES = 1_048_576
"""Stripe events are far smaller; a larger body is refused."""
SIGNATURE_TOLERANCE_S = 300
"""How far a signature's timestamp may be from the server's clock, before or after (the library's default)."""
MAX_DEPTH = 64
"""Deepest nesting of arrays and objects in an event (Stripe's are under 10 levels)."""
MAX_INTEGER = 2**53
"""Largest magnitude of a number in an event (JSON's exact integers; Stripe's amounts stay far below)."""
MAX_ID_CHARS = 256
"""Longest event id or type kept with an unusable event (Stripe's are under 64)."""


class WebhookNotConfigured(RetryableError):
    """No webhook signing secret is configured, so no event can be trusted."""


class InvalidSignature(PermanentError):
    """The ``Stripe-Signature`` header is missing, malformed, wrong, or too old."""


class BadEvent(PermanentError):
    """A correctly signed body that is not a Stripe event revenue can read."""


class UnusableEvent(BadEvent):
    """A correctly signed body revenue cannot book: acknowledged (Stripe must not redeliver it) and recorded."""

    def __init__(self, reason: str, event_id: str | None = None, event_type: str | None = None) -> None:
        super().__init__(reason)
        self.reason = clean(reason, 2000)
        self.event_id = clean(event_id, MAX_ID_CHARS) if event_id else None
        self.event_type = clean(event_type, MAX_ID_CHARS) if event_type else None


def clean(text: str, limit: int) -> str:
    """Text from a payload made safe to store and print: NUL and lone surrogates replaced, at most ``limit``
    characters."""
    text = text[:limit].replace("\x00", "\\0")
    return text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text


def _problem(data: object) -> str | None:
    """Why a decoded event cannot be stored as it is: nesting, NUL characters, numbers out of range."""
    stack: list[tuple[object, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            return f"the event is nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return f"a key in {path or 'the event'} contains a NUL character"
                # Paths are cut to 120 characters: a long key must not be copied into every path below it.
                stack.append((item, depth + 1, (f"{path}.{key}" if path else key)[:120]))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{path}[{i}]"[:120]) for i, item in enumerate(value))
        elif isinstance(value, str) and "\x00" in value:
            return f"{clean(path, 120)} contains a NUL character"
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            return f"{clean(path, 120)} is a number beyond 2^53"
    return None


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

    def verify(self, body: bytes, signature: str | None, *, now_s: float | None = None) -> Event:
        """The event a delivery carries, if Stripe signed it.

        Args:
            body: The raw request body.
            signature: The ``Stripe-Signature`` header.
            now_s: The server's clock (Unix seconds); default: now.

        Raises:
            WebhookNotConfigured: no signing secret is configured.
            InvalidSignature: the signature is missing, wrong, older or newer than the tolerance.
            UnusableEvent: the body is signed but is not a Stripe event revenue can read.
        """
        if self._secret is None:
            raise WebhookNotConfigured(
                "Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET (or OTEL_MARGIN_STRIPE_WEBHOOK_SECRET) "
                "to the endpoint's signing secret (whsec_...); until then no event is booked",
                retry_after_s=60,
            )
        if signature and not signature.isascii():  # hmac.compare_digest raises TypeError on non-ASCII text
            raise InvalidSignature("invalid Stripe-Signature: the header is not ASCII")
        try:
            payload = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidSignature("the body is not UTF-8, so it is not a Stripe delivery") from None
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, self._secret.get_secret_value(), SIGNATURE_TOLERANCE_S
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature(f"invalid Stripe-Signature: {exc.user_message or exc}") from None
        signed_at = _timestamp(signature or "")
        if signed_at > (time.time() if now_s is None else now_s) + SIGNATURE_TOLERANCE_S:
            raise InvalidSignature(
                f"invalid Stripe-Signature: its timestamp is more than {SIGNATURE_TOLERANCE_S} s ahead of the "
                "server's clock; check the server's clock"
            )
        return read_event(payload)

    async def process(self, conn: AsyncConn, event: Event) -> WebhookResult:
        """Book a verified event once.

        Raises:
            UnusableEvent: its object lacks a field revenue needs, or holds a value revenue or the database cannot
                take (nothing was booked).
            RetryableError: the database or the Stripe API is unavailable (nothing was booked).
        """
        try:
            return await self._process(conn, event)
        except UnusableEvent:
            raise
        except BadEvent as exc:
            raise UnusableEvent(str(exc), event.id, event.type) from None
        except Exception as exc:
            if failure_kind(exc) is not FailureKind.REFUSED:
                raise
            # A value out of what a datetime, an int8 or a text column holds: the same event would fail forever.
            raise UnusableEvent(f"a value cannot be booked: {_first_line(exc)}", event.id, event.type) from None

    async def _process(self, conn: AsyncConn, event: Event) -> WebhookResult:
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _timestamp(signature: str) -> int:
    """The ``t=`` of a header the library has verified (so it has one, and it is an integer)."""
    for item in signature.split(","):
        key, _, value = item.partition("=")
        if key == "t":
            return int(value)
    raise InvalidSignature("invalid Stripe-Signature: no timestamp")  # pragma: no cover - verified before


def read_event(payload: str) -> Event:
    """The Stripe event a signed body holds.

    Raises:
        UnusableEvent: the body is not a JSON object, is nested too deep, holds a NUL character or a number out of
            range, or is not a Stripe snapshot event (the reason names the field).
    """
    try:
        data = orjson.loads(payload)  # depth-limited in C: never a RecursionError
    except orjson.JSONDecodeError as exc:
        raise UnusableEvent(f"the signed body is not JSON: {_first_line(exc)}") from None
    if not isinstance(data, dict):
        raise UnusableEvent(f"the signed body is a JSON {type(data).__name__}, not an event object")
    event_id, event_type = data.get("id"), data.get("type")
    event_id = event_id if isinstance(event_id, str) else None
    event_type = event_type if isinstance(event_type, str) else None
    if data.get("object") != "event":
        raise UnusableEvent("the signed body is not a Stripe snapshot event (object is not \"event\")",
                            event_id, event_type)  # fmt: skip
    problem = _problem(data)
    if problem is not None:
        raise UnusableEvent(problem, event_id, event_type)
    try:
        return parse(Event, data, "the signed body")
    except PermanentError as exc:
        raise UnusableEvent(str(exc), event_id, event_type) from None
