"""One quarter of a small AI company's Stripe account, as objects (for backfill) and as events (for webhooks).

- acct_a (cus_A, USD): invoice in_1 paid 2026-11-03 with a November subscription line (100.00, 10.00 coupon,
  20 % VAT on 90.00) and a one-off setup fee (50.00 + 10.00 VAT); refunded 42.00 on 2026-12-05 and the rest on
  2027-01-10. Invoice in_3 paid 2026-12-01 (200.00 + 40.00 VAT); credit note cn_1 on 2026-12-20 for 60.00
  (10.00 VAT), 24.00 of it refunded to the card, the rest credited to the customer balance.
- acct_b (cus_B, JPY, zero-decimal): invoice in_2 paid 2026-11-15, ¥31,000 for 2026-11-15 to 2026-12-15.
- acct_c (cus_C, EUR): invoice in_4 paid 2026-11-20, 50.00 one-off; the payment was disputed and lost
  (2027-01-05).
"""

from __future__ import annotations

from typing import Any

from tests.backend.revenue import stripe_fixtures as sf
from tests.backend.revenue.stripe_stub import StripeStub

CUSTOMERS = {
    id_: sf.customer(id_, name=name, email=email, metadata={"customer_id": customer_id})
    for id_, name, email, customer_id in [
        ("cus_A", "Acme Robotics", "billing@acme.test", "acct_a"),
        ("cus_B", "Kabushiki Tanaka", "keiri@tanaka.test", "acct_b"),
        ("cus_C", "Côte Analytics", "factures@cote.test", "acct_c"),
    ]
}

IN_1 = sf.invoice(
    "in_1",
    customer="cus_A",
    subscription="sub_A",
    paid_at="2026-11-03T00:00:04",
    created="2026-11-01T00:00:00",
    lines=[
        sf.line("il_1sub", 10000, invoice="in_1", start="2026-11-01", end="2026-12-01", discount=1000,
                taxes=[sf.tax(1800, taxable=9000)], subscription="sub_A", description="Pro plan (Nov 2026)"),
        sf.line("il_1setup", 5000, invoice="in_1", start="2026-11-02T09:30:00", taxes=[sf.tax(1000, taxable=5000)],
                description="Onboarding"),
    ],
)  # fmt: skip
IN_2 = sf.invoice(
    "in_2",
    customer="cus_B",
    currency="jpy",
    subscription="sub_B",
    paid_at="2026-11-15T03:00:00",
    created="2026-11-15T02:00:00",
    lines=[sf.line("il_2jp", 31000, invoice="in_2", currency="jpy", start="2026-11-15", end="2026-12-15",
                   subscription="sub_B")],
)  # fmt: skip
IN_3 = sf.invoice(
    "in_3",
    customer="cus_A",
    paid_at="2026-12-01T10:00:00",
    created="2026-12-01T09:00:00",
    lines=[sf.line("il_3", 20000, invoice="in_3", start="2026-12-01T09:00:00", taxes=[sf.tax(4000, taxable=20000)],
                   description="GPU hours (prepaid)")],
)  # fmt: skip
IN_4 = sf.invoice(
    "in_4",
    customer="cus_C",
    currency="eur",
    paid_at="2026-11-20T12:00:00",
    created="2026-11-20T11:00:00",
    lines=[sf.line("il_4", 5000, invoice="in_4", currency="eur", start="2026-11-20T11:00:00")],
)  # fmt: skip

CH_1 = sf.charge("ch_1", amount=16800, customer="cus_A", payment_intent="pi_1", created="2026-11-03T00:00:03")
CH_3 = sf.charge("ch_3", amount=24000, customer="cus_A", payment_intent="pi_3", created="2026-12-01T10:00:00")
CH_4 = sf.charge("ch_4", amount=5000, customer="cus_C", payment_intent="pi_4", created="2026-11-20T12:00:00",
                 currency="eur", disputed=True)  # fmt: skip

PAYMENTS = [
    sf.invoice_payment("in_1", payment_intent="pi_1", amount=16800, paid_at="2026-11-03T00:00:04"),
    sf.invoice_payment("in_3", payment_intent="pi_3", amount=24000, paid_at="2026-12-01T10:00:00"),
    sf.invoice_payment("in_4", payment_intent="pi_4", amount=5000, paid_at="2026-11-20T12:00:00", currency="eur"),
]

RE_1A = sf.refund("re_1a", charge="ch_1", amount=4200, created="2026-12-05T08:00:00", payment_intent="pi_1")
RE_1B = sf.refund("re_1b", charge="ch_1", amount=12600, created="2027-01-10T08:00:00", payment_intent="pi_1")
RE_3A = sf.refund("re_3a", charge="ch_3", amount=2400, created="2026-12-20T15:00:00", payment_intent="pi_3")
CN_1 = sf.credit_note("cn_1", invoice="in_3", customer="cus_A", total=6000, tax_amount=1000,
                      created="2026-12-20T15:00:00", refunded=2400, refund_id="re_3a")  # fmt: skip
DP_4 = sf.dispute("du_4", charge="ch_4", amount=5000, created="2027-01-05T00:00:00", payment_intent="pi_4",
                  currency="eur")  # fmt: skip


def charged(charge: dict[str, Any], refunded: int) -> dict[str, Any]:
    return {**charge, "amount_refunded": refunded, "refunded": refunded == charge["amount"]}


EVENTS: list[dict[str, Any]] = [
    sf.event("invoice.paid", IN_1, created="2026-11-03T00:00:05", id_="evt_in1_paid"),
    sf.event("invoice.payment_succeeded", IN_1, created="2026-11-03T00:00:05", id_="evt_in1_payment_succeeded"),
    sf.event("invoice.paid", IN_2, created="2026-11-15T03:00:01", id_="evt_in2_paid"),
    sf.event("invoice.paid", IN_4, created="2026-11-20T12:00:01", id_="evt_in4_paid"),
    sf.event("invoice.paid", IN_3, created="2026-12-01T10:00:01", id_="evt_in3_paid"),
    sf.event("charge.refunded", charged(CH_1, 4200), created="2026-12-05T08:00:01", id_="evt_ch1_refund1"),
    sf.event("credit_note.created", CN_1, created="2026-12-20T15:00:01", id_="evt_cn1_created"),
    sf.event("charge.refunded", charged(CH_3, 2400), created="2026-12-20T15:00:02", id_="evt_ch3_refund"),
    sf.event("charge.dispute.closed", DP_4, created="2027-01-05T00:00:00", id_="evt_du4_closed"),
    sf.event("charge.refunded", charged(CH_1, 16800), created="2027-01-10T08:00:01", id_="evt_ch1_refund2"),
    sf.event("payment_intent.succeeded", {"id": "pi_9", "object": "payment_intent", "amount": 100},
             created="2027-01-11T00:00:00", id_="evt_pi9_succeeded"),
]  # fmt: skip

EXPECTED_MONTHLY = {
    # (customer, month, currency): (revenue, refunds, net), in major units
    ("acct_a", "2026-11", "USD"): ("140.00", "0.00", "140.00"),
    ("acct_a", "2026-12", "USD"): ("200.00", "-85.00", "115.00"),
    ("acct_a", "2027-01", "USD"): ("0.00", "-105.00", "-105.00"),
    ("acct_b", "2026-11", "JPY"): ("16533", "0", "16533"),
    ("acct_b", "2026-12", "JPY"): ("14467", "0", "14467"),
    ("acct_c", "2026-11", "EUR"): ("50.00", "0.00", "50.00"),
    ("acct_c", "2027-01", "EUR"): ("0.00", "-50.00", "-50.00"),
}
"""December for acct_a: in_3's 200.00; refunds 35.00 (ch_1's 42.00 less its 7.00 VAT), 30.00 (cn_1's 36.00 not
refunded, less VAT) and 20.00 (cn_1's 24.00 refunded to the card, less VAT)."""

EXPECTED_TAX = {
    ("acct_a", "2026-11", "USD"): "28.00",
    ("acct_a", "2026-12", "USD"): "23.00",
    ("acct_a", "2027-01", "USD"): "-21.00",
}


def load(stub: StripeStub) -> StripeStub:
    """Put the quarter into the local Stripe API (as it stands on 2027-01-11)."""
    stub.customers.update(CUSTOMERS)
    for invoice in (IN_1, IN_2, IN_3, IN_4):
        stub.add_invoice(invoice)
    stub.charges.update({"ch_1": charged(CH_1, 16800), "ch_3": charged(CH_3, 2400), "ch_4": CH_4})
    stub.invoice_payments.extend(PAYMENTS)
    stub.refunds.extend([RE_1A, RE_1B, RE_3A])
    stub.credit_notes.append(CN_1)
    stub.disputes.append(DP_4)
    return stub
