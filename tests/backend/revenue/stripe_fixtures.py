"""Stripe objects and events in the shapes of Stripe's API reference (API version 2026-10-28), and signing.

Builders fill in the fields Stripe sends (ids, ``object``, ``livemode``, totals computed from the lines as Stripe
computes them) so tests state only what matters to them. Events are signed with the stripe library's own
``WebhookSignature.generate_signature_header`` (HMAC-SHA256 of ``"{t}.{body}"``).
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any

import stripe

API_VERSION = "2026-10-28.endive"
WEBHOOK_SECRET = "whsec_test_5MuYZqVhJ1m0cRvL8dQ2aPz7TnWk3XsG"

_ids = itertools.count(1)


def ts(text: str) -> int:
    """``2026-11-03`` or ``2026-11-03T10:00:00`` (UTC) as Unix seconds."""
    moment = datetime.fromisoformat(text)
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def customer(
    id_: str, *, name: str, email: str, metadata: dict[str, str] | None = None, created: str = "2026-01-05"
) -> dict[str, Any]:
    return {
        "id": id_,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": ts(created),
        "currency": "usd",
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": email,
        "invoice_prefix": id_[-6:].upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                             "rendering_options": None},
        "livemode": False,
        "metadata": metadata or {},
        "name": name,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }  # fmt: skip


def tax(amount: int, *, taxable: int, behavior: str = "exclusive", rate: str = "txr_vat20") -> dict[str, Any]:
    return {
        "amount": amount,
        "tax_behavior": behavior,
        "tax_rate_details": {"tax_rate": rate},
        "taxability_reason": "standard_rated",
        "taxable_amount": taxable,
        "type": "tax_rate_details",
    }


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
) -> dict[str, Any]:
    """An invoice line; ``end`` omitted means a one-off item (Stripe sets period.start == period.end)."""
    start_s = ts(start) if isinstance(start, str) else start
    end_s = start_s if end is None else (ts(end) if isinstance(end, str) else end)
    discount_ref = "di_1SdZkq2eZvKYlo2C"
    parent: dict[str, Any]
    if subscription:
        parent = {
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
    return {
        "id": id_,
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description or f"line {id_}",
        "discount_amounts": [{"amount": discount, "discount": discount_ref}] if discount else [],
        "discountable": True,
        "discounts": [discount_ref] if discount else [],
        "invoice": invoice,
        "livemode": False,
        "metadata": {},
        "parent": parent,
        "period": {"end": end_s, "start": start_s},
        "pretax_credit_amounts": [{"amount": discount, "credit_balance_transaction": None, "discount": discount_ref,
                                   "type": "discount"}] if discount else [],
        "pricing": {"price_details": {"price": f"price_{id_[3:]}", "product": f"prod_{id_[3:]}"},
                    "type": "price_details", "unit_amount_decimal": str(amount)},
        "quantity": 1,
        "subtotal": amount,
        "taxes": taxes or [],
    }  # fmt: skip


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
) -> dict[str, Any]:
    """An invoice whose totals are computed from its lines as Stripe computes them."""
    created_s = ts(created) if created else (ts(paid_at) - 3600 if paid_at else ts("2026-01-01"))
    subtotal = sum(li["amount"] for li in lines)
    discount = sum(d["amount"] for li in lines for d in li["discount_amounts"])
    taxes = [t for li in lines for t in li["taxes"]]
    exclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
    total = subtotal - discount + exclusive
    inclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "inclusive")
    paid = total if status == "paid" else 0
    return {
        "id": id_,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Example AI, Inc.",
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": paid,
        "amount_remaining": total - paid,
        "amount_shipping": 0,
        "attempt_count": 1 if paid_at else 0,
        "attempted": bool(paid_at),
        "auto_advance": False,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_reason": "subscription_cycle" if subscription else "manual",
        "collection_method": "charge_automatically",
        "created": created_s,
        "currency": currency,
        "customer": customer,
        "customer_email": customer_email,
        "customer_name": customer_name,
        "default_payment_method": None,
        "description": None,
        "discounts": ["di_1SdZkq2eZvKYlo2C"] if discount else [],
        "due_date": None,
        "effective_at": created_s,
        "ending_balance": 0,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{id_}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_test/{id_}/pdf",
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "lines": {"object": "list", "data": lines[:10], "has_more": len(lines) > 10, "total_count": len(lines),
                  "url": f"/v1/invoices/{id_}/lines"},
        "livemode": False,
        "metadata": {},
        "number": f"EXAI-{id_[-4:].upper()}",
        "parent": {"type": "subscription_details", "quote_details": None,
                   "subscription_details": {"metadata": {}, "subscription": subscription}} if subscription else None,
        "period_end": created_s,
        "period_start": created_s,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "starting_balance": 0,
        "status": status,
        "status_transitions": {
            "finalized_at": created_s,
            "marked_uncollectible_at": ts(uncollectible_at) if uncollectible_at else None,
            "paid_at": ts(paid_at) if paid_at else None,
            "voided_at": ts(voided_at) if voided_at else None,
        },
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal - inclusive,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [{"amount": discount, "discount": "di_1SdZkq2eZvKYlo2C"}] if discount else [],
        "total_excluding_tax": total - exclusive - inclusive,
        "total_pretax_credit_amounts": [{"amount": discount, "credit_balance_transaction": None,
                                         "discount": "di_1SdZkq2eZvKYlo2C", "type": "discount"}] if discount else [],
        "total_taxes": taxes,
        "webhooks_delivered_at": created_s,
    }  # fmt: skip


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
) -> dict[str, Any]:
    return {
        "id": id_,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": f"txn_{id_[3:]}",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None, "tax_id": None},
        "calculated_statement_descriptor": "EXAMPLE AI",
        "captured": True,
        "created": ts(created),
        "currency": currency,
        "customer": customer,
        "description": "Subscription update",
        "disputed": disputed,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "outcome": {"network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                    "seller_message": "Payment complete.", "type": "authorized"},
        "paid": True,
        "payment_intent": payment_intent,
        "payment_method": f"pm_{id_[3:]}",
        "receipt_url": f"https://pay.stripe.com/receipts/{id_}",
        "refunded": amount_refunded == amount,
        "status": "succeeded",
    }  # fmt: skip


def refund(id_: str, *, charge: str | dict[str, Any], amount: int, created: str, currency: str = "usd",
           payment_intent: str | None = None, status: str = "succeeded") -> dict[str, Any]:  # fmt: skip
    return {
        "id": id_,
        "object": "refund",
        "amount": amount,
        "balance_transaction": f"txn_{id_[3:]}",
        "charge": charge,
        "created": ts(created),
        "currency": currency,
        "destination_details": {"type": "card", "card": {"reference_status": "pending", "type": "refund"}},
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": "requested_by_customer",
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def credit_note(
    id_: str,
    *,
    invoice: str,
    customer: str,
    total: int,
    tax_amount: int,
    created: str,
    refunded: int = 0,
    refund_id: str | None = None,
    currency: str = "usd",
    status: str = "issued",
    voided_at: str | None = None,
) -> dict[str, Any]:
    taxes = [tax(tax_amount, taxable=total - tax_amount)] if tax_amount else []
    return {
        "id": id_,
        "object": "credit_note",
        "amount": total,
        "amount_shipping": 0,
        "created": ts(created),
        "currency": currency,
        "customer": customer,
        "customer_balance_transaction": f"cbtxn_{id_[3:]}" if total > refunded else None,
        "discount_amount": 0,
        "discount_amounts": [],
        "effective_at": ts(created),
        "invoice": invoice,
        "lines": {"object": "list", "data": [], "has_more": False, "url": f"/v1/credit_notes/{id_}/lines"},
        "livemode": False,
        "memo": "Service credit",
        "metadata": {},
        "number": f"EXAI-{id_[-4:].upper()}-CN-01",
        "out_of_band_amount": None,
        "pdf": f"https://pay.stripe.com/credit_notes/acct_test/{id_}/pdf",
        "post_payment_amount": total,
        "pre_payment_amount": 0,
        "pretax_credit_amounts": [],
        "reason": "order_change",
        "refunds": [{"amount_refunded": refunded, "refund": refund_id, "type": "refund",
                     "payment_record_refund": None}] if refunded else [],
        "shipping_cost": None,
        "status": status,
        "subtotal": total - tax_amount,
        "subtotal_excluding_tax": total - tax_amount,
        "total": total,
        "total_excluding_tax": total - tax_amount,
        "total_taxes": taxes,
        "type": "post_payment",
        "voided_at": ts(voided_at) if voided_at else None,
    }  # fmt: skip


def dispute(
    id_: str, *, charge: str, amount: int, created: str, status: str = "lost", payment_intent: str | None = None,
    currency: str = "usd",
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": id_,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [{"id": f"txn_{id_[3:]}", "object": "balance_transaction", "amount": -amount,
                                  "created": ts(created), "currency": currency, "fee": 1500,
                                  "type": "adjustment", "reporting_category": "dispute"}],
        "charge": charge,
        "created": ts(created),
        "currency": currency,
        "evidence": {"customer_name": None, "product_description": None, "uncategorized_text": None},
        "evidence_details": {"due_by": ts(created) + 7 * 86400, "has_evidence": True, "past_due": False,
                             "submission_count": 1},
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "network_reason_code": "10.4",
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": status,
    }  # fmt: skip


def invoice_payment(invoice_id: str, *, payment_intent: str, amount: int, paid_at: str,
                    currency: str = "usd") -> dict[str, Any]:  # fmt: skip
    return {
        "id": f"inpay_{invoice_id[3:]}",
        "object": "invoice_payment",
        "amount_paid": amount,
        "amount_requested": amount,
        "created": ts(paid_at),
        "currency": currency,
        "invoice": invoice_id,
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": payment_intent},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": ts(paid_at)},
    }


def event(type_: str, obj: dict[str, Any], *, created: str | int, id_: str | None = None) -> dict[str, Any]:
    """An event as Stripe delivers it to a webhook endpoint (a snapshot event)."""
    return {
        "id": id_ or f"evt_1Sd{next(_ids):08d}test",
        "object": "event",
        "api_version": API_VERSION,
        "created": ts(created) if isinstance(created, str) else created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for this body."""
    return str(
        stripe.WebhookSignature.generate_signature_header(
            body.decode(), secret, timestamp=int(time.time()) if timestamp is None else timestamp
        )
    )


def body_of(evt: dict[str, Any]) -> bytes:
    return json.dumps(evt, indent=2).encode()
