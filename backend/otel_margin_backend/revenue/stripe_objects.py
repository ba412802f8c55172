"""The parts of Stripe's objects that revenue reads, validated (unknown fields are ignored).

Shapes follow Stripe's API reference for the current API version (2025-03-31 "basil" onwards: invoice line
``taxes`` with ``tax_behavior``, invoice ``payments``, ``total_taxes``, credit note ``refunds``) and also accept the
fields older API versions send to webhook endpoints pinned to them (line ``tax_amounts`` with ``inclusive``,
``invoice.charge``, ``invoice.payment_intent``, ``charge.invoice``, credit note ``tax_amounts`` and ``refund``).
Expandable fields are accepted as an id or as the expanded object. The tests build these objects from Stripe's
published example objects of each version (``tests/backend/revenue/testdata``).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.revenue.currency import normalize_code


def _expanded_id(value: object) -> object:
    if isinstance(value, dict):
        return value.get("id")
    return value


MAX_ID_CHARS = 255
"""Longest Stripe object id accepted (Stripe's are under 64 characters); a longer one makes the event unusable
instead of a Stripe API lookup that fails forever."""
StripeId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
"""A Stripe object's id."""
ObjectId = Annotated[str, BeforeValidator(_expanded_id), Field(min_length=1, max_length=MAX_ID_CHARS)]
"""An expandable field: the id, whether Stripe sent the id or the expanded object."""
Currency = Annotated[str, BeforeValidator(lambda v: normalize_code(v) if isinstance(v, str) else v)]
FIRST_TIMESTAMP = 946_684_800
"""2000-01-01 (UTC): the earliest time a Stripe object may carry (Stripe started in 2010)."""
LAST_TIMESTAMP = 4_102_444_799
"""2099-12-31 23:59:59 (UTC): the latest (a service period ends within years, never a century, of its invoice)."""
Timestamp = Annotated[int, Field(ge=FIRST_TIMESTAMP, le=LAST_TIMESTAMP)]
"""Unix seconds within the years a booking can belong to; outside them the event is unusable, never booked to 1970
or 2554."""


M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Customer(_Model):
    """A customer object (from a payload, the API, or a ``customer.*`` event)."""

    id: StripeId
    name: str | None = None
    email: str | None = None
    metadata: dict[str, str] | None = None
    """None on a deleted customer's stub (``{"id", "object", "deleted": true}``)."""
    deleted: bool = False


def _customer_of(data: Any) -> Any:
    """Keep an expanded ``customer`` object beside its id."""
    if isinstance(data, dict) and isinstance(data.get("customer"), dict) and "customer_object" not in data:
        return {**data, "customer_object": data["customer"]}
    return data


class LinePeriod(_Model):
    """An invoice line's service period (Unix seconds)."""

    start: Timestamp
    end: Timestamp


class Amount(_Model):
    """An amount in the currency's minor units."""

    amount: int


class PretaxCredit(_Model):
    """A discount or credit balance applied to a line before tax."""

    amount: int
    type: str = "discount"


class Tax(_Model):
    """A tax amount, from ``taxes[]`` (``tax_behavior``) or legacy ``tax_amounts[]`` (``inclusive``)."""

    amount: int
    inclusive: bool = False

    @model_validator(mode="before")
    @classmethod
    def _behavior(cls, data: Any) -> Any:
        if isinstance(data, dict) and "tax_behavior" in data and "inclusive" not in data:
            return {**data, "inclusive": data["tax_behavior"] == "inclusive"}
        return data


class Line(_Model):
    """An invoice line (``line_item``)."""

    id: StripeId
    amount: int
    """The line's amount before discounts; includes inclusive taxes, excludes exclusive ones."""
    period: LinePeriod | None = None
    discount_amounts: list[Amount] | None = None
    pretax_credit_amounts: list[PretaxCredit] | None = None
    taxes: list[Tax] | None = None
    tax_amounts: list[Tax] | None = None

    @property
    def tax_list(self) -> list[Tax]:
        """The line's taxes, whichever field this API version sends them in."""
        return list(self.taxes if self.taxes is not None else self.tax_amounts or [])

    @property
    def discount(self) -> int:
        """Discounts and applied billing credits on this line (positive)."""
        credits = sum(c.amount for c in self.pretax_credit_amounts or [] if c.type == "credit_balance_transaction")
        return sum(d.amount for d in self.discount_amounts or []) + credits


class LineList(_Model):
    """A page of invoice lines."""

    data: list[Line] = Field(default_factory=list)
    has_more: bool = False


class PaymentRef(_Model):
    """The charge or payment intent behind an invoice payment."""

    charge: ObjectId | None = None
    payment_intent: ObjectId | None = None


class InvoicePayment(_Model):
    """One payment of an invoice (basil and later)."""

    payment: PaymentRef
    status: str | None = None


class InvoicePaymentList(_Model):
    """A page of invoice payments."""

    data: list[InvoicePayment] = Field(default_factory=list)
    has_more: bool = False


class StatusTransitions(_Model):
    """When an invoice was finalized, paid or voided."""

    paid_at: Timestamp | None = None
    voided_at: Timestamp | None = None
    marked_uncollectible_at: Timestamp | None = None


class ShippingCost(_Model):
    """Shipping on an invoice (kept out of revenue)."""

    amount_subtotal: int = 0
    amount_tax: int = 0


class Invoice(_Model):
    """The fields of a Stripe invoice that booking reads."""

    id: StripeId
    customer: ObjectId | None = None
    customer_object: Customer | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    currency: Currency
    status: str | None = None
    created: Timestamp
    total: int
    lines: LineList = Field(default_factory=LineList)
    status_transitions: StatusTransitions = Field(default_factory=StatusTransitions)
    payments: InvoicePaymentList | None = None
    charge: ObjectId | None = None
    """Legacy (API versions before 2025-03-31)."""
    payment_intent: ObjectId | None = None
    """Legacy (API versions before 2025-03-31)."""
    shipping_cost: ShippingCost | None = None
    total_taxes: list[Tax] | None = None
    total_tax_amounts: list[Tax] | None = None
    tax: int | None = None
    """Legacy total of taxes."""

    @model_validator(mode="before")
    @classmethod
    def _customer(cls, data: Any) -> Any:
        return _customer_of(data)

    @property
    def tax_total(self) -> int:
        """All taxes on the invoice (inclusive and exclusive)."""
        if self.total_taxes is not None:
            return sum(t.amount for t in self.total_taxes)
        if self.total_tax_amounts is not None:
            return sum(t.amount for t in self.total_tax_amounts)
        if self.tax is not None:
            return self.tax
        return sum(t.amount for line in self.lines.data for t in line.tax_list)

    @property
    def payment_refs(self) -> list[str]:
        """Charges and payment intents that paid this invoice, as far as the object says."""
        refs = [r for r in (self.charge, self.payment_intent) if r]
        for item in self.payments.data if self.payments else []:
            if item.status in (None, "paid"):
                refs.extend(r for r in (item.payment.charge, item.payment.payment_intent) if r)
        return refs


class Refund(_Model):
    """A refund of a charge."""

    id: StripeId
    amount: int
    charge: ObjectId | None = None
    charge_object: Charge | None = None
    payment_intent: ObjectId | None = None
    customer: ObjectId | None = None
    """Sent by recent API versions (2026 onwards) only."""
    created: Timestamp
    status: str | None = None
    currency: Currency

    @model_validator(mode="before")
    @classmethod
    def _charge(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("charge"), dict) and "charge_object" not in data:
            return {**data, "charge_object": data["charge"]}
        return data

    @property
    def counts(self) -> bool:
        """Whether it is part of the charge's ``amount_refunded`` (failed and canceled refunds are not)."""
        return self.status not in ("failed", "canceled")


class RefundList(_Model):
    """A page of refunds."""

    data: list[Refund] = Field(default_factory=list)
    has_more: bool = False


class Charge(_Model):
    """The fields of a Stripe charge that booking reads."""

    id: StripeId
    customer: ObjectId | None = None
    currency: Currency
    amount: int = 0
    amount_refunded: int = 0
    payment_intent: ObjectId | None = None
    invoice: ObjectId | None = None
    """Legacy (API versions before 2025-03-31)."""
    refunds: RefundList | None = None
    created: Timestamp = 0


class CreditNoteRefund(_Model):
    """The part of a credit note refunded to the card."""

    amount_refunded: int
    refund: ObjectId | None = None


class CreditNote(_Model):
    """The fields of a Stripe credit note that booking reads."""

    id: StripeId
    customer: ObjectId | None = None
    customer_object: Customer | None = None
    currency: Currency
    invoice: ObjectId | None = None
    total: int
    total_taxes: list[Tax] | None = None
    tax_amounts: list[Tax] | None = None
    refunds: list[CreditNoteRefund] | None = None
    """How much of the credit note each refund paid back (2025-03-31 "basil" onwards)."""
    refund: ObjectId | None = None
    """The refund the credit note made (API versions before 2025-03-31), without its amount unless expanded."""
    refund_object: Refund | None = None
    customer_balance_transaction: ObjectId | None = None
    """Set when part of the credit note went to the customer's balance."""
    out_of_band_amount: int | None = None
    created: Timestamp
    effective_at: Timestamp | None = None
    voided_at: Timestamp | None = None
    status: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _customer(cls, data: Any) -> Any:
        data = _customer_of(data)
        if isinstance(data, dict) and isinstance(data.get("refund"), dict) and "refund_object" not in data:
            return {**data, "refund_object": data["refund"]}
        return data

    @property
    def tax_total(self) -> int:
        """The credit note's total tax in minor units."""
        taxes = self.total_taxes if self.total_taxes is not None else self.tax_amounts or []
        return sum(t.amount for t in taxes)

    @property
    def refundable(self) -> int:
        """The most of it a refund can have paid back: all but what was credited outside Stripe."""
        return max(self.total - (self.out_of_band_amount or 0), 0)

    def refunded_part(self, refund_amount: int | None = None) -> int | None:
        """The part of the credit note paid back as a refund (booked from the charge's refunds instead).

        Args:
            refund_amount: The amount of ``refund`` (API versions before 2025-03-31) when known from elsewhere
                (the ledger or the API); ignored when the payload says the split itself.

        Returns:
            The refunded part, or None when the payload does not say it and ``refund_amount`` is not given:
            a credit note before 2025-03-31 that names a refund and also credited the customer's balance.
        """
        if self.refunds is not None:
            return sum(r.amount_refunded for r in self.refunds)
        if not self.refund:
            return 0
        if self.refund_object is not None:
            return min(self.refund_object.amount, self.refundable)
        if "customer_balance_transaction" in self.model_fields_set and self.customer_balance_transaction is None:
            return self.refundable  # nothing went to the balance: all but the out-of-band part was refunded
        if refund_amount is not None:
            return min(refund_amount, self.refundable)
        return None


class BalanceTransactionRef(_Model):
    """A balance transaction as a dispute lists it."""

    created: Timestamp


class Dispute(_Model):
    """The fields of a Stripe dispute that booking reads."""

    id: StripeId
    charge: ObjectId
    charge_object: Charge | None = None
    payment_intent: ObjectId | None = None
    amount: int
    currency: Currency
    status: str
    created: Timestamp
    balance_transactions: list[BalanceTransactionRef] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _charge(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("charge"), dict) and "charge_object" not in data:
            return {**data, "charge_object": data["charge"]}
        return data

    @property
    def lost_at(self) -> int:
        """When the money went: the latest balance transaction, else when the dispute opened."""
        return max((b.created for b in self.balance_transactions), default=self.created)


Refund.model_rebuild()


class EventData(_Model):
    """An event's ``data``: the object it is about."""

    object: dict[str, Any]


class Event(_Model):
    """A Stripe event envelope: id, type, API version, creation time and object."""

    id: StripeId
    type: str
    created: Timestamp
    livemode: bool = False
    api_version: str | None = None
    data: EventData


def parse(model: type[M], data: Any, what: str) -> M:
    """Validate a Stripe object.

    Raises:
        PermanentError: the object lacks a field revenue needs (the message names it).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(object)'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise PermanentError(
            f"{what} is not a Stripe {model.__name__.lower()} object as expected: {problems}"
        ) from None
