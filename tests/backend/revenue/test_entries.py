"""What documents book (pure): invoice lines with taxes and discounts, credit notes, refund steps, splits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.revenue.entries import (
    Adjustment,
    ChargeContext,
    charge_bookings,
    credit_note_booking,
    invoice_booking,
    refund_steps,
)
from otel_margin_backend.revenue.stripe_objects import Charge, CreditNote, Invoice, Refund, parse
from tests.backend.revenue import stripe_fixtures as sf


def rows(booking: Any) -> list[tuple[str, str, str, int]]:
    return [(e.source_line, e.kind, f"{e.month:%Y-%m}", e.amount_minor) for e in booking.entries]


def test_an_inclusive_tax_is_taken_out_of_the_line_amount() -> None:
    # 120.00 VAT included, 10 % off: 108.00 paid, of which 18.00 VAT (on 90.00).
    line = sf.line("il_i", 12000, invoice="in_i", start="2026-11-01", end="2026-12-01", discount=1200,
                   taxes=[sf.tax(1800, taxable=9000, behavior="inclusive")])  # fmt: skip
    data = sf.invoice("in_i", customer="cus_A", paid_at="2026-11-02", lines=[line])
    invoice = parse(Invoice, data, "test")
    assert invoice.total == 10800
    booking = invoice_booking(invoice, invoice.lines.data, sf.ts("2026-11-02"))
    assert rows(booking) == [("il_i", "revenue", "2026-11", 10200), ("il_i", "discount", "2026-11", -1200),
                             ("il_i", "tax", "2026-11", 1800)]  # fmt: skip
    assert sum(e.amount_minor for e in booking.entries if e.kind != "tax") == 9000


def test_legacy_fields_of_older_api_versions_are_read() -> None:
    # API versions before 2025-03-31: line tax_amounts with `inclusive`, invoice.charge, invoice.tax, charge.invoice.
    line = {"id": "il_old", "object": "line_item", "amount": 5000, "period": {"start": sf.ts("2026-11-01"),
            "end": sf.ts("2026-11-01")}, "discount_amounts": [], "tax_amounts": [{"amount": 1000, "inclusive": False,
            "tax_rate": "txr_1", "taxability_reason": None, "taxable_amount": 5000}]}  # fmt: skip
    data = {"id": "in_old", "object": "invoice", "customer": "cus_A", "currency": "gbp", "created": sf.ts("2026-11-01"),
            "total": 6000, "tax": 1000, "charge": "ch_old", "payment_intent": "pi_old", "status": "paid",
            "lines": {"object": "list", "data": [line], "has_more": False},
            "status_transitions": {"paid_at": sf.ts("2026-11-03")}}  # fmt: skip
    invoice = parse(Invoice, data, "test")
    assert invoice.payment_refs == ["ch_old", "pi_old"] and invoice.tax_total == 1000
    assert rows(invoice_booking(invoice, invoice.lines.data, sf.ts("2026-11-03"))) == [
        ("il_old", "revenue", "2026-11", 5000), ("il_old", "tax", "2026-11", 1000)]  # fmt: skip
    charge = parse(Charge, {"id": "ch_old", "currency": "gbp", "invoice": "in_old", "amount_refunded": 10}, "test")
    assert charge.invoice == "in_old"


def test_billing_credits_count_as_discounts_and_shipping_is_one_off() -> None:
    line = sf.line("il_c", 10000, invoice="in_c", start="2026-11-01", end="2026-12-01")
    line["pretax_credit_amounts"] = [{"amount": 2500, "credit_balance_transaction": "cbtxn_1", "discount": None,
                                      "type": "credit_balance_transaction"}]  # fmt: skip
    data = sf.invoice("in_c", customer="cus_A", paid_at="2026-12-02", lines=[line])
    data["shipping_cost"] = {"amount_subtotal": 900, "amount_tax": 180, "amount_total": 1080, "shipping_rate": "shr_1"}
    data["total"] = 10000 - 2500 + 1080
    invoice = parse(Invoice, data, "test")
    assert rows(invoice_booking(invoice, invoice.lines.data, sf.ts("2026-12-02"))) == [
        ("il_c", "revenue", "2026-11", 10000), ("il_c", "discount", "2026-11", -2500),
        ("shipping", "revenue", "2026-12", 900), ("shipping", "tax", "2026-12", 180),
    ]  # fmt: skip


def test_a_credit_note_books_what_it_did_not_refund_net_of_its_tax() -> None:
    data = sf.credit_note("cn_t", invoice="in_3", customer="cus_A", total=6000, tax_amount=1000, created="2026-12-20",
                          refunded=2400, refund_id="re_1")  # fmt: skip
    note = parse(CreditNote, data, "test")
    assert rows(credit_note_booking(note)) == [("", "credit_note", "2026-12", -3000), ("", "tax", "2026-12", -600)]
    fully_refunded = {**data, "refunds": [{"amount_refunded": 6000, "refund": "re_2", "type": "refund"}]}
    assert rows(credit_note_booking(parse(CreditNote, fully_refunded, "test"))) == []


def refund(id_: str, amount: int, created: str, status: str = "succeeded") -> Refund:
    return parse(Refund, sf.refund(id_, charge="ch_1", amount=amount, created=created, status=status), "test")


def test_refund_steps_book_only_what_is_new() -> None:
    at = sf.ts("2027-01-10")
    assert refund_steps(4200, 0, None, at) == [_step(4200, 4200, at)]
    assert refund_steps(16800, 4200, None, at) == [_step(16800, 12600, at)]
    assert refund_steps(4200, 16800, None, at) == []  # older than what is booked: stale
    assert refund_steps(4200, 4200, None, at) == []  # a replay


def test_listed_refunds_are_dated_each_and_failed_ones_do_not_count() -> None:
    listed = [refund("re_b", 12600, "2027-01-10"), refund("re_x", 999, "2026-12-24", "failed"),
              refund("re_a", 4200, "2026-12-05")]  # fmt: skip
    steps = refund_steps(16800, 0, listed, sf.ts("2027-01-11"))
    assert steps == [_step(4200, 4200, sf.ts("2026-12-05"), "re_a"), _step(16800, 12600, sf.ts("2027-01-10"), "re_b")]
    # Half of re_b was booked before (from a webhook): only the rest of it is new.
    assert refund_steps(16800, 10000, listed, 0) == [_step(16800, 6800, sf.ts("2027-01-10"), "re_b")]
    # A refund made before a backfill's window is one step, dated with the first refund listed.
    assert refund_steps(20000, 0, listed, 0)[0] == _step(3200, 3200, sf.ts("2026-12-05"))


def _step(to: int, amount: int, at: int, refund_id: str | None = None) -> Any:
    from otel_margin_backend.revenue.entries import RefundStep

    return RefundStep(to, amount, at, refund_id)


def test_charge_adjustments_split_like_the_invoice_or_stay_whole() -> None:
    at = datetime(2026, 12, 5, tzinfo=UTC)
    adjustments = [Adjustment("refund", "ch_1", 4200, at, 4200), Adjustment("dispute", "du_1", 1000, at)]
    known = ChargeContext("cus_A", "USD", "in_1", 16800, 2800)
    refunds, dispute = charge_bookings("ch_1", known, adjustments)
    assert rows(refunds) == [("refund:4200", "refund", "2026-12", -3500), ("refund:4200", "tax", "2026-12", -700)]
    assert rows(dispute) == [("", "dispute", "2026-12", -833), ("", "tax", "2026-12", -167)]
    assert (dispute.source_id, dispute.charge_id, dispute.invoice_id) == ("du_1", "ch_1", "in_1")
    unknown = ChargeContext("cus_A", "USD", None, None, None)
    refunds, dispute = charge_bookings("ch_1", unknown, adjustments)
    assert rows(refunds) == [("refund:4200", "refund", "2026-12", -4200)]


def test_an_object_missing_what_revenue_needs_is_named() -> None:
    with pytest.raises(PermanentError, match=r"event evt_1 is not a Stripe invoice object as expected: currency"):
        parse(Invoice, {"id": "in_1", "created": 1, "total": 0}, "event evt_1")
