"""Stripe objects and events built from Stripe's published example objects of each API version, and signing.

Every builder starts from a deep copy of the example object of its API version: ``testdata/stripe-<version>.json``
holds the entries of Stripe's ``openapi/fixtures3.json`` at one commit of github.com/stripe/openapi (see
``testdata/README.md``). A builder then sets the fields a test states and every field revenue reads, computed as
Stripe computes them (an invoice's totals from its lines, a credit note's split, ...); the example's other fields
keep their published values. Stripe's placeholder values (``obj_123``, amounts like ``1413853096``, ``created``
1234567890) never reach a field revenue reads: ``_put`` sets a field only if the version's example has it, so an
object never gets a field its API version does not send, and fields a builder adds that the example lacks are
named in its docstring.

Versions: ``ACACIA`` (2025-02-24, the last before 2025-03-31 "basil": credit note ``refund``, line and credit
note ``tax_amounts``, invoice ``charge``/``payment_intent``/``tax``, charge ``invoice``), ``BASIL`` (2025-03-31:
credit note ``refunds``, ``taxes``/``total_taxes``, invoice payments) and ``DAHLIA`` (2026-07-29, current: also
credit note ``post_payment_amount``, refund ``customer``). Events are signed with the stripe library's own
``WebhookSignature.generate_signature_header`` (HMAC-SHA256 of ``"{t}.{body}"``).
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import stripe

ACACIA = "2025-02-24.acacia"
BASIL = "2025-03-31.basil"
DAHLIA = "2026-07-29.dahlia"
VERSIONS = (ACACIA, BASIL, DAHLIA)
API_VERSION = DAHLIA
"""The version the builders use unless told otherwise."""
WEBHOOK_SECRET = "whsec_test_5MuYZqVhJ1m0cRvL8dQ2aPz7TnWk3XsG"
TESTDATA = Path(__file__).parent / "testdata"
DISCOUNT = "di_1SdZkq2eZvKYlo2C"

_ids = itertools.count(1)


@functools.cache
def _examples(version: str) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads((TESTDATA / f"stripe-{version}.json").read_text())
    return data


def example(name: str, version: str = API_VERSION) -> dict[str, Any]:
    """A fresh copy of Stripe's published example object ``name`` (``charge``, ``credit_note``, ...)."""
    return copy.deepcopy(_examples(version)[name])


def before_basil(version: str) -> bool:
    """API versions before 2025-03-31 (their objects carry the legacy fields)."""
    return version < BASIL


def _put(obj: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Set fields the example object has (a field it lacks is a mistake about the version's shape)."""
    unknown = sorted(set(fields) - set(obj))
    assert not unknown, f"{obj.get('object')} of this API version has no field {unknown}"
    obj.update(fields)
    return obj


def ts(text: str) -> int:
    """``2026-11-03`` or ``2026-11-03T10:00:00`` (UTC) as Unix seconds."""
    moment = datetime.fromisoformat(text)
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def customer(
    id_: str, *, name: str, email: str, metadata: dict[str, str] | None = None, created: str = "2026-01-05",
    version: str = API_VERSION,
) -> dict[str, Any]:  # fmt: skip
    return _put(
        example("customer", version), id=id_, balance=0, created=ts(created), currency="usd", discount=None,
        email=email, invoice_prefix=id_[-6:].upper(), livemode=False, metadata=metadata or {}, name=name,
    )  # fmt: skip


def tax(
    amount: int, *, taxable: int, behavior: str = "exclusive", rate: str = "txr_vat20", version: str = API_VERSION
) -> dict[str, Any]:
    """A tax amount of a line or credit note.

    Before basil: an entry of ``tax_amounts`` (from the example credit note's). From basil on: an entry of
    ``taxes``, built from Stripe's API reference, since every published example has ``taxes: null``.
    """
    if before_basil(version):
        legacy = example("credit_note", version)["tax_amounts"][0]
        return _put(legacy, amount=amount, inclusive=behavior == "inclusive", tax_rate=rate,
                    taxability_reason="standard_rated", taxable_amount=taxable)  # fmt: skip
    return {
        "amount": amount,
        "tax_behavior": behavior,
        "tax_rate_details": {"tax_rate": rate},
        "taxability_reason": "standard_rated",
        "taxable_amount": taxable,
        "type": "tax_rate_details",
    }


def _inclusive(taxes: list[dict[str, Any]]) -> int:
    """The inclusive part of tax amounts of either shape (``tax_behavior`` from basil on, ``inclusive`` before)."""
    return sum(t["amount"] for t in taxes if t.get("tax_behavior") == "inclusive" or t.get("inclusive") is True)


def line(
    id_: str,
    amount: int,
    *,
    invoice: str,
    currency: str = "usd",
    start: str | int,
    end: str | int | None = None,
    discount: int = 0,
    taxes: list[dict[str, Any]] | None = None,
    subscription: str | None = None,
    description: str = "",
    version: str = API_VERSION,
) -> dict[str, Any]:
    """An invoice line (the example ``line_item``); ``end`` omitted means a one-off item (period.start == end).

    Before basil the taxes go to ``tax_amounts``, from basil on to ``taxes`` (with ``parent`` and ``pricing``).
    """
    start_s = ts(start) if isinstance(start, str) else start
    end_s = start_s if end is None else (ts(end) if isinstance(end, str) else end)
    taxes = taxes or []
    obj = _put(
        example("line_item", version), id=id_, amount=amount, currency=currency,
        description=description or f"line {id_}",
        discount_amounts=[{"amount": discount, "discount": DISCOUNT}] if discount else [],
        discountable=True, discounts=[DISCOUNT] if discount else [], invoice=invoice, livemode=False, metadata={},
        period={"end": end_s, "start": start_s}, quantity=1, subscription=subscription,
        pretax_credit_amounts=[{"amount": discount, "credit_balance_transaction": None, "discount": DISCOUNT,
                                "type": "discount"}] if discount else None,
    )  # fmt: skip
    if before_basil(version):
        price = {**obj["price"], "id": f"price_{id_[3:]}", "product": f"prod_{id_[3:]}", "currency": currency,
                 "unit_amount": amount, "unit_amount_decimal": str(amount)}  # fmt: skip
        excluding = amount - _inclusive(taxes)
        return _put(
            obj, amount_excluding_tax=excluding, invoice_item=None if subscription else f"ii_{id_[3:]}", price=price,
            proration=False, tax_amounts=taxes, type="subscription" if subscription else "invoiceitem",
            unit_amount_excluding_tax=str(excluding),
        )  # fmt: skip
    if subscription:
        parent: dict[str, Any] = {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None, "proration": False, "proration_details": {"credited_items": None},
                "subscription": subscription, "subscription_item": f"si_{id_[3:]}",
            },
        }  # fmt: skip
    else:
        parent = {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": f"ii_{id_[3:]}", "proration": False, "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
        }  # fmt: skip
    _put(obj, parent=parent, taxes=taxes,
         pricing={"price_details": {"price": f"price_{id_[3:]}", "product": f"prod_{id_[3:]}"},
                  "type": "price_details", "unit_amount_decimal": str(amount)})  # fmt: skip
    if "subtotal" in obj:
        obj["subtotal"] = amount
    return obj


def _line_taxes(li: dict[str, Any]) -> list[dict[str, Any]]:
    return list(li.get("taxes") or li.get("tax_amounts") or [])


def invoice(
    id_: str,
    *,
    customer: str | dict[str, Any],
    lines: list[dict[str, Any]],
    paid_at: str | None,
    currency: str = "usd",
    created: str | None = None,
    status: str = "paid",
    voided_at: str | None = None,
    uncollectible_at: str | None = None,
    subscription: str | None = None,
    customer_name: str | None = None,
    customer_email: str | None = None,
    charge: str | None = None,
    payment_intent: str | None = None,
    version: str = API_VERSION,
) -> dict[str, Any]:
    """An invoice (the example ``invoice``) whose totals are computed from its lines as Stripe computes them.

    ``charge`` and ``payment_intent`` (what paid it) exist before basil only; from basil on, invoice payments say.
    """
    created_s = ts(created) if created else (ts(paid_at) - 3600 if paid_at else ts("2026-01-01"))
    subtotal = sum(li["amount"] for li in lines)
    discount = sum(d["amount"] for li in lines for d in li["discount_amounts"])
    taxes = [t for li in lines for t in _line_taxes(li)]
    inclusive = _inclusive(taxes)
    exclusive = sum(t["amount"] for t in taxes) - inclusive
    total = subtotal - discount + exclusive
    paid = total if status == "paid" else 0
    obj = _put(
        example("invoice", version), id=id_, account_country="US", account_name="Example AI, Inc.", amount_due=total,
        amount_paid=paid, amount_remaining=total - paid, amount_shipping=0, attempt_count=1 if paid_at else 0,
        attempted=bool(paid_at), auto_advance=False,
        billing_reason="subscription_cycle" if subscription else "manual", collection_method="charge_automatically",
        created=created_s, currency=currency, customer=customer, customer_email=customer_email,
        customer_name=customer_name, default_payment_method=None, description=None,
        discounts=[DISCOUNT] if discount else [], due_date=None, effective_at=created_s, ending_balance=0,
        from_invoice=None, hosted_invoice_url=f"https://invoice.stripe.com/i/acct_test/{id_}",
        invoice_pdf=f"https://pay.stripe.com/invoice/acct_test/{id_}/pdf", issuer={"type": "self"},
        last_finalization_error=None,
        lines={"object": "list", "data": lines[:10], "has_more": len(lines) > 10,
               "url": f"/v1/invoices/{id_}/lines"},
        livemode=False, metadata={}, next_payment_attempt=None, number=f"EXAI-{id_[-4:].upper()}",
        period_end=created_s, period_start=created_s, post_payment_credit_notes_amount=0,
        pre_payment_credit_notes_amount=0, receipt_number=None, shipping_cost=None, shipping_details=None,
        starting_balance=0, status=status,
        status_transitions={
            "finalized_at": created_s,
            "marked_uncollectible_at": ts(uncollectible_at) if uncollectible_at else None,
            "paid_at": ts(paid_at) if paid_at else None,
            "voided_at": ts(voided_at) if voided_at else None,
        },
        subtotal=subtotal, subtotal_excluding_tax=subtotal - inclusive, test_clock=None, total=total,
        total_discount_amounts=[{"amount": discount, "discount": DISCOUNT}] if discount else [],
        total_excluding_tax=total - exclusive - inclusive,
        total_pretax_credit_amounts=[{"amount": discount, "credit_balance_transaction": None, "discount": DISCOUNT,
                                      "type": "discount"}] if discount else [],
        webhooks_delivered_at=created_s,
    )  # fmt: skip
    if before_basil(version):
        by_rate: dict[tuple[str, bool], dict[str, Any]] = {}
        for t in taxes:
            key = (t["tax_rate"], t["inclusive"])
            seen = by_rate.setdefault(key, {**t, "amount": 0, "taxable_amount": 0})
            seen["amount"] += t["amount"]
            seen["taxable_amount"] += t["taxable_amount"]
        return _put(
            obj, charge=charge, payment_intent=payment_intent, paid=status == "paid", paid_out_of_band=False,
            subscription=subscription, tax=sum(t["amount"] for t in taxes) or None,
            total_tax_amounts=list(by_rate.values()),
        )  # fmt: skip
    assert charge is None and payment_intent is None, "from basil on, invoice payments say what paid an invoice"
    return _put(
        obj, amount_overpaid=0, total_taxes=taxes,
        parent={"type": "subscription_details", "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": subscription}} if subscription else None,
    )  # fmt: skip


def charge(
    id_: str,
    *,
    amount: int,
    customer: str | None,
    payment_intent: str,
    created: str,
    amount_refunded: int = 0,
    currency: str = "usd",
    disputed: bool = False,
    invoice: str | None = None,
    refunds: list[dict[str, Any]] | None = None,
    version: str = API_VERSION,
) -> dict[str, Any]:
    """A charge (the example ``charge``).

    ``refunds`` is dropped unless given: the examples list it, but webhook payloads of API versions since
    2022-11-15 do not (it is expandable). ``invoice`` exists before basil only.
    """
    obj = _put(
        example("charge", version), id=id_, amount=amount, amount_captured=amount, amount_refunded=amount_refunded,
        balance_transaction=f"txn_{id_[3:]}", calculated_statement_descriptor="EXAMPLE AI", captured=True,
        created=ts(created), currency=currency, customer=customer, description="Subscription update",
        disputed=disputed, failure_code=None, failure_message=None, livemode=False, metadata={},
        outcome={**(example("charge", version)["outcome"] or {}), "network_status": "approved_by_network",
                 "reason": None, "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"},
        paid=True, payment_intent=payment_intent, payment_method=f"pm_{id_[3:]}",
        receipt_url=f"https://pay.stripe.com/receipts/{id_}", refunded=amount_refunded == amount, status="succeeded",
    )  # fmt: skip
    if before_basil(version):
        _put(obj, invoice=invoice)
    else:
        assert invoice is None, "from basil on, a charge does not name its invoice"
    if refunds is None:
        del obj["refunds"]
    else:
        obj["refunds"] = {"object": "list", "data": refunds, "has_more": False, "url": f"/v1/charges/{id_}/refunds"}
    return obj


def refund(
    id_: str, *, charge: str | dict[str, Any], amount: int, created: str, currency: str = "usd",
    payment_intent: str | None = None, status: str = "succeeded", customer: str | None = None,
    version: str = API_VERSION,
) -> dict[str, Any]:  # fmt: skip
    """A refund (the example ``refund``); ``customer`` exists in recent versions only (DAHLIA)."""
    obj = _put(
        example("refund", version), id=id_, amount=amount, balance_transaction=f"txn_{id_[3:]}", charge=charge,
        created=ts(created), currency=currency, metadata={}, payment_intent=payment_intent,
        reason="requested_by_customer", status=status,
    )  # fmt: skip
    if "customer" in obj:
        obj["customer"] = customer
    else:
        assert customer is None, f"a refund of API version {version} has no customer"
    return obj


def credit_note(
    id_: str,
    *,
    invoice: str,
    customer: str,
    total: int,
    tax_amount: int,
    created: str,
    refunded: int = 0,
    refund_id: str | dict[str, Any] | None = None,
    out_of_band: int = 0,
    currency: str = "usd",
    status: str = "issued",
    voided_at: str | None = None,
    version: str = API_VERSION,
) -> dict[str, Any]:
    """A post-payment credit note (the example ``credit_note``): ``refunded`` of ``total`` went back to the card
    as ``refund_id``, ``out_of_band`` was credited outside Stripe, the rest to the customer's balance.

    Before basil: ``refund`` (the id, or the expanded refund) and ``tax_amounts``; how much was refunded is not in
    the object. From basil on: ``refunds`` with each refund's ``amount_refunded``, and ``total_taxes``; DAHLIA also
    has ``post_payment_amount``.
    """
    to_balance = total - refunded - out_of_band
    assert to_balance >= 0
    taxes = [tax(tax_amount, taxable=total - tax_amount, version=version)] if tax_amount else []
    obj = _put(
        example("credit_note", version), id=id_, amount=total, amount_shipping=0, created=ts(created),
        currency=currency, customer=customer,
        customer_balance_transaction=f"cbtxn_{id_[3:]}" if to_balance else None, discount_amount=0,
        discount_amounts=[], effective_at=ts(created), invoice=invoice,
        lines={"object": "list", "data": [], "has_more": False, "url": f"/v1/credit_notes/{id_}/lines"},
        livemode=False, memo="Service credit", metadata={}, number=f"EXAI-{id_[-4:].upper()}-CN-01",
        out_of_band_amount=out_of_band or None, pdf=f"https://pay.stripe.com/credit_notes/acct_test/{id_}/pdf",
        pretax_credit_amounts=[], reason="order_change", shipping_cost=None, status=status,
        subtotal=total - tax_amount, subtotal_excluding_tax=total - tax_amount, total=total,
        total_excluding_tax=total - tax_amount, type="post_payment", voided_at=ts(voided_at) if voided_at else None,
    )  # fmt: skip
    if before_basil(version):
        assert refunded == 0 or refund_id is not None
        return _put(obj, refund=refund_id if refunded else None, tax_amounts=taxes)
    entry: dict[str, Any] = {"amount_refunded": refunded, "refund": refund_id}
    if version >= DAHLIA:
        entry |= {"payment_record_refund": None, "type": "refund"}
        _put(obj, customer_account=None, post_payment_amount=total, pre_payment_amount=0)
    return _put(obj, refunds=[entry] if refunded else [], total_taxes=taxes)


def dispute(
    id_: str, *, charge: str, amount: int, created: str, status: str = "lost", payment_intent: str | None = None,
    currency: str = "usd", version: str = API_VERSION,
) -> dict[str, Any]:  # fmt: skip
    """A dispute (the example ``dispute``), lost with its withdrawal (the example ``balance_transaction``)."""
    withdrawal = _put(
        example("balance_transaction", version), id=f"txn_{id_[3:]}", amount=-amount, available_on=ts(created),
        created=ts(created), currency=currency, description=f"Chargeback withdrawal for {charge}", fee=1500,
        net=-amount - 1500, reporting_category="dispute", source=id_, status="available", type="adjustment",
    )  # fmt: skip
    details = _put(example("dispute", version)["evidence_details"], due_by=ts(created) + 7 * 86400,
                   has_evidence=True, submission_count=1)  # fmt: skip
    return _put(
        example("dispute", version), id=id_, amount=amount, balance_transactions=[withdrawal], charge=charge,
        created=ts(created), currency=currency, evidence_details=details, is_charge_refundable=False,
        livemode=False, metadata={}, payment_intent=payment_intent, reason="fraudulent", status=status,
    )  # fmt: skip


def invoice_payment(
    invoice_id: str, *, payment_intent: str, amount: int, paid_at: str, currency: str = "usd",
    version: str = API_VERSION,
) -> dict[str, Any]:  # fmt: skip
    """An invoice payment (the example ``invoice_payment``, from basil on); ``payment.payment_intent`` is added
    (the example's payment names only its type)."""
    return _put(
        example("invoice_payment", version), id=f"inpay_{invoice_id[3:]}", amount_paid=amount,
        amount_requested=amount, created=ts(paid_at), currency=currency, invoice=invoice_id, is_default=True,
        livemode=False, payment={"type": "payment_intent", "payment_intent": payment_intent}, status="paid",
        status_transitions={"canceled_at": None, "paid_at": ts(paid_at)},
    )  # fmt: skip


def event(
    type_: str, obj: dict[str, Any], *, created: str | int, id_: str | None = None, version: str = API_VERSION
) -> dict[str, Any]:
    """An event as Stripe delivers it to a webhook endpoint pinned to ``version`` (the example ``event``)."""
    return _put(
        example("event", version), id=id_ or f"evt_1Sd{next(_ids):08d}test", api_version=version,
        created=ts(created) if isinstance(created, str) else created, data={"object": obj}, livemode=False,
        pending_webhooks=1, request={"id": None, "idempotency_key": None}, type=type_,
    )  # fmt: skip


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for this body."""
    return str(
        stripe.WebhookSignature.generate_signature_header(
            body.decode(), secret, timestamp=int(time.time()) if timestamp is None else timestamp
        )
    )


def body_of(evt: dict[str, Any]) -> bytes:
    return json.dumps(evt, indent=2).encode()
