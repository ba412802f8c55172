"""What documents book (pure): invoice lines with taxes and discounts, credit notes, refund steps, splits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.revenue.entries import (
    Adjustment,
    ChargeContext,
    KnownRefund,
    charge_bookings,
    credit_note_booking,
    invoice_booking,
    refund_increments,
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
    v = sf.ACACIA
    lines = [sf.line("il_old", 5000, invoice="in_old", currency="gbp", start="2026-11-01",
                     taxes=[sf.tax(1000, taxable=5000, version=v)], version=v)]  # fmt: skip
    data = sf.invoice("in_old", customer="cus_A", currency="gbp", created="2026-11-01", paid_at="2026-11-03",
                      lines=lines, charge="ch_old", payment_intent="pi_old", version=v)  # fmt: skip
    assert "taxes" not in data["lines"]["data"][0] and "total_taxes" not in data and data["tax"] == 1000
    invoice = parse(Invoice, data, "test")
    assert invoice.payment_refs == ["ch_old", "pi_old"] and invoice.tax_total == 1000 and invoice.total == 6000
    assert rows(invoice_booking(invoice, invoice.lines.data, sf.ts("2026-11-03"))) == [
        ("il_old", "revenue", "2026-11", 5000), ("il_old", "tax", "2026-11", 1000)]  # fmt: skip
    old = sf.charge("ch_old", amount=6000, customer="cus_A", payment_intent="pi_old", created="2026-11-03",
                    currency="gbp", invoice="in_old", amount_refunded=10, version=v)  # fmt: skip
    assert parse(Charge, old, "test").invoice == "in_old"


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
    for version in (sf.BASIL, sf.DAHLIA):  # basil onwards: refunds[].amount_refunded says the refunded part
        data = sf.credit_note("cn_t", invoice="in_3", customer="cus_A", total=6000, tax_amount=1000,
                              created="2026-12-20", refunded=2400, refund_id="re_1", version=version)  # fmt: skip
        note = parse(CreditNote, data, "test")
        assert note.refunded_part() == 2400
        assert rows(credit_note_booking(note, 2400)) == [("", "credit_note", "2026-12", -3000),
                                                         ("", "tax", "2026-12", -600)]  # fmt: skip
        fully_refunded = {**data, "refunds": [{"amount_refunded": 6000, "refund": "re_2", "type": "refund"}]}
        assert rows(credit_note_booking(parse(CreditNote, fully_refunded, "test"), 6000)) == []
    assert sf.credit_note("cn_d", invoice="in_3", customer="cus_A", total=6000, tax_amount=1000,
                          created="2026-12-20", version=sf.DAHLIA)["post_payment_amount"] == 6000  # fmt: skip


def test_a_credit_note_before_basil_says_its_refunded_part_only_when_nothing_went_to_the_balance() -> None:
    def note(**kw: Any) -> CreditNote:
        data = sf.credit_note("cn_o", invoice="in_3", customer="cus_A", total=6000, tax_amount=1000,
                              created="2026-12-20", version=sf.ACACIA, **kw)  # fmt: skip
        assert "refunds" not in data and "post_payment_amount" not in data
        return parse(CreditNote, data, "test")

    # 24.00 to the card, 36.00 out of band: nothing to the balance, so the refund is all but the out-of-band part.
    assert note(refunded=2400, refund_id="re_1", out_of_band=3600).refunded_part() == 2400
    assert note(refunded=6000, refund_id="re_1").refunded_part() == 6000
    assert note().refunded_part() == 0  # no refund at all
    # 24.00 to the card, 36.00 to the balance: the split is not in the object; the refund's amount says it.
    split = note(refunded=2400, refund_id="re_1")
    assert split.refund == "re_1" and split.customer_balance_transaction == "cbtxn_o"
    assert split.refunded_part() is None and split.refunded_part(2400) == 2400
    assert split.refundable == 6000 and split.refunded_part(9999) == 6000
    # An expanded refund says it too.
    expanded = sf.refund("re_1", charge="ch_3", amount=2400, created="2026-12-20", version=sf.ACACIA)
    assert note(refunded=2400, refund_id=expanded).refunded_part() == 2400


def refund(id_: str, amount: int, created: str, status: str = "succeeded") -> Refund:
    return parse(Refund, sf.refund(id_, charge="ch_1", amount=amount, created=created, status=status), "test")


def test_refund_steps_record_only_what_is_new() -> None:
    at = sf.ts("2027-01-10")
    assert refund_steps(4200, 0, None, at) == [_step(4200, 4200, at)]
    assert refund_steps(16800, 4200, None, at) == [_step(16800, 12600, at)]
    assert refund_steps(4200, 16800, None, at) == []  # older than what is recorded: stale
    assert refund_steps(4200, 4200, None, at) == []  # a replay


def test_listed_refunds_leave_a_step_never_dated_before_them() -> None:
    listed = [refund("re_b", 12600, "2027-01-10"), refund("re_x", 999, "2026-12-24", "failed"),
              refund("re_a", 4200, "2026-12-05")]  # fmt: skip
    assert refund_steps(16800, 0, listed, sf.ts("2027-01-11")) == [_step(16800, 16800, sf.ts("2027-01-11"))]
    # A backfill dates the charge's total with its last listed refund (never before it).
    assert refund_steps(16800, 10000, listed, 0) == [_step(16800, 6800, sf.ts("2027-01-10"))]
    # Refunds made before a backfill's window: a step to their sum just before the first listed refund.
    assert refund_steps(20000, 0, listed, 0) == [_step(3200, 3200, sf.ts("2026-12-05") - 1),
                                                 _step(20000, 16800, sf.ts("2027-01-10"))]  # fmt: skip


def _step(to: int, amount: int, at: int, refund_id: str | None = None) -> Any:
    from otel_margin_backend.revenue.entries import RefundStep

    return RefundStep(to, amount, at, refund_id)


def test_a_refund_known_by_id_and_by_its_charge_counts_once_in_any_order() -> None:
    def at(text: str) -> datetime:
        return datetime.fromtimestamp(sf.ts(text), UTC)

    re_a = KnownRefund("re_a", 4200, "succeeded", at("2026-12-05T08:00:00"))
    re_b = KnownRefund("re_b", 12600, "succeeded", at("2027-01-10T08:00:00"))
    step_a = Adjustment("refund", "ch_1", 4200, at("2026-12-05T08:00:01"), 4200)
    step_b = Adjustment("refund", "ch_1", 12600, at("2027-01-10T08:00:01"), 16800)

    def rises(steps: list[Adjustment], refunds: list[KnownRefund]) -> list[tuple[int, int, str]]:
        return [(i.refunded_to, i.amount, f"{i.occurred_at:%Y-%m-%d}") for i in refund_increments(steps, refunds)]

    expected = [(4200, 4200, "2026-12-05"), (16800, 12600, "2027-01-10")]
    known: list[tuple[list[Adjustment], list[KnownRefund]]] = [
        ([], [re_a, re_b]), ([step_a, step_b], []), ([step_a, step_b], [re_a, re_b]), ([step_b, step_a], [re_b, re_a]),
        ([step_a, step_b], [re_b]), ([step_b], [re_a]),
    ]  # fmt: skip
    for steps, refunds in known:
        assert rises(steps, refunds) == expected, (steps, refunds)
    # A refund at the same second as the charge payload that includes it is not counted again.
    same = Adjustment("refund", "ch_1", 4200, at("2026-12-05T08:00:00"), 4200)
    assert rises([same], [re_a]) == [(4200, 4200, "2026-12-05")]
    # Failed and canceled refunds gave nothing back, also where a charge payload counted them while pending.
    failed = KnownRefund("re_f", 999, "failed", at("2026-12-06"))
    assert rises([], [re_a, failed]) == [(4200, 4200, "2026-12-05")]
    failed_a = KnownRefund("re_a", 4200, "failed", at("2026-12-05T08:00:00"), observed_at=at("2026-12-06"))
    assert rises([step_a], [failed_a]) == []
    # A charge payload from after the failure no longer counts it (amount_refunded went down): it stands as it is.
    later = Adjustment("refund", "ch_1", 12600, at("2027-01-10T08:00:01"), 12600)
    assert rises([step_a, later], [failed_a]) == [(12600, 12600, "2027-01-10")]


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
