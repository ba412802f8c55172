"""``POST /v1/stripe/webhook``: signed Stripe events book exact cents per customer and month, once, in any order."""

from __future__ import annotations

import time

import psycopg

from tests.backend.revenue import scenario
from tests.backend.revenue import stripe_fixtures as sf
from tests.backend.revenue.conftest import (
    RevenueServer,
    config_for,
    entries,
    events,
    failures,
    monthly,
    serving,
    tax_by_month,
    unusable,
)
from tests.backend.revenue.stripe_stub import API_KEY, StripeStub


def test_a_quarter_of_events_books_exact_cents_per_customer_and_month(
    revenue: RevenueServer, stripe_stub: StripeStub, db_url: str
) -> None:
    scenario.load(stripe_stub)
    statuses = [revenue.deliver_ok(evt)["status"] for evt in scenario.EVENTS]

    assert statuses == ["booked", "ignored", "booked", "booked", "booked", "booked", "booked", "booked", "booked",
                        "booked", "ignored"]  # fmt: skip
    assert monthly(db_url) == scenario.EXPECTED_MONTHLY
    assert tax_by_month(db_url) == scenario.EXPECTED_TAX
    # The November subscription is November revenue; the setup fee counts when paid; tax and discount apart.
    in_1 = [e for e in entries(db_url) if e[0] == "in_1"]
    assert in_1 == [
        ("in_1", "il_1setup", "revenue", "2026-11", 5000, "USD"),
        ("in_1", "il_1setup", "tax", "2026-11", 1000, "USD"),
        ("in_1", "il_1sub", "discount", "2026-11", -1000, "USD"),
        ("in_1", "il_1sub", "revenue", "2026-11", 10000, "USD"),
        ("in_1", "il_1sub", "tax", "2026-11", 1800, "USD"),
    ]
    # ¥31,000 for 2026-11-15..2026-12-15: 16 of 30 days in November, truncated; the rest in December.
    assert [e for e in entries(db_url) if e[0] == "in_2"] == [
        ("in_2", "il_2jp", "revenue", "2026-11", 16533, "JPY"),
        ("in_2", "il_2jp", "revenue", "2026-12", 14467, "JPY"),
    ]
    # Refunds in the month they happened, split into revenue and VAT like in_1 (2800 of 16800 is VAT).
    assert [e for e in entries(db_url) if e[0] == "ch_1"] == [
        ("ch_1", "refund:16800", "refund", "2027-01", -10500, "USD"),
        ("ch_1", "refund:16800", "tax", "2027-01", -2100, "USD"),
        ("ch_1", "refund:4200", "refund", "2026-12", -3500, "USD"),
        ("ch_1", "refund:4200", "tax", "2026-12", -700, "USD"),
    ]
    # The credit note books what it did not refund (36.00, 6.00 of it VAT); its 24.00 refund comes from ch_3.
    assert [e for e in entries(db_url) if e[0] in ("cn_1", "ch_3", "du_4")] == [
        ("ch_3", "refund:2400", "refund", "2026-12", -2000, "USD"),
        ("ch_3", "refund:2400", "tax", "2026-12", -400, "USD"),
        ("cn_1", "", "credit_note", "2026-12", -3000, "USD"),
        ("cn_1", "", "tax", "2026-12", -600, "USD"),
        ("du_4", "", "dispute", "2027-01", -5000, "EUR"),
    ]
    assert ("evt_in1_payment_succeeded", "invoice.payment_succeeded", "ignored") in events(db_url)
    assert ("evt_pi9_succeeded", "payment_intent.succeeded", "ignored") in events(db_url)
    # Customers were looked up once each through the API; in_1's payments were asked for (it has tax).
    assert sorted(stripe_stub.paths("/v1/customers/")) == ["/v1/customers/cus_A", "/v1/customers/cus_B",
                                                           "/v1/customers/cus_C"]  # fmt: skip
    assert all(auth == f"Bearer {API_KEY}" for _, auth in stripe_stub.requests)
    assert any(p.startswith("/v1/invoice_payments?invoice=in_1") for p in stripe_stub.paths())


def test_a_replayed_event_books_nothing_more(revenue: RevenueServer, stripe_stub: StripeStub, db_url: str) -> None:
    scenario.load(stripe_stub)
    for evt in scenario.EVENTS:
        revenue.deliver_ok(evt)
    before = entries(db_url)
    for evt in scenario.EVENTS:  # Stripe redelivers (with a fresh signature)
        assert revenue.deliver_ok(evt)["status"] == "duplicate"
    assert entries(db_url) == before
    assert monthly(db_url) == scenario.EXPECTED_MONTHLY


def test_a_refund_before_its_payment_is_booked_once_and_split_when_the_invoice_arrives(
    revenue: RevenueServer, stripe_stub: StripeStub, db_url: str
) -> None:
    scenario.load(stripe_stub)
    refund = sf.event("charge.refunded", scenario.charged(scenario.CH_1, 4200), created="2026-12-05T08:00:01")
    assert revenue.deliver_ok(refund)["status"] == "booked"
    # Until the invoice is known the refund cannot be split: all of it reduces revenue, in December.
    assert monthly(db_url) == {("acct_a", "2026-12", "USD"): ("0.00", "-42.00", "-42.00")}

    paid = sf.event("invoice.paid", scenario.IN_1, created="2026-11-03T00:00:05")
    assert revenue.deliver_ok(paid)["status"] == "booked"
    assert monthly(db_url) == {
        ("acct_a", "2026-11", "USD"): ("140.00", "0.00", "140.00"),
        ("acct_a", "2026-12", "USD"): ("0.00", "-35.00", "-35.00"),
    }
    assert tax_by_month(db_url) == {("acct_a", "2026-11", "USD"): "28.00", ("acct_a", "2026-12", "USD"): "-7.00"}
    assert [e for e in entries(db_url) if e[0] == "ch_1"] == [
        ("ch_1", "refund:4200", "refund", "2026-12", -3500, "USD"),
        ("ch_1", "refund:4200", "tax", "2026-12", -700, "USD"),
    ]


def test_an_older_refund_event_arriving_late_is_stale(
    revenue: RevenueServer, stripe_stub: StripeStub, db_url: str
) -> None:
    scenario.load(stripe_stub)
    revenue.deliver_ok(sf.event("invoice.paid", scenario.IN_1, created="2026-11-03T00:00:05"))
    full = sf.event("charge.refunded", scenario.charged(scenario.CH_1, 16800), created="2027-01-10T08:00:01")
    partial = sf.event("charge.refunded", scenario.charged(scenario.CH_1, 4200), created="2026-12-05T08:00:01")
    assert revenue.deliver_ok(full)["status"] == "booked"
    assert revenue.deliver_ok(partial)["status"] == "stale"
    # The whole refund counts when it was first known (January); nothing is refunded twice.
    assert monthly(db_url) == {
        ("acct_a", "2026-11", "USD"): ("140.00", "0.00", "140.00"),
        ("acct_a", "2027-01", "USD"): ("0.00", "-140.00", "-140.00"),
    }


def test_a_voided_or_uncollectible_invoice_reverses_what_was_booked_unless_it_is_older(
    revenue: RevenueServer, stripe_stub: StripeStub, db_url: str
) -> None:
    scenario.load(stripe_stub)
    # Marked uncollectible on 2026-11-10, then paid on 2026-11-12; the events arrive the other way round.
    lines = [sf.line("il_5", 3000, invoice="in_5", start="2026-11-01T00:00:00")]
    paid = sf.invoice("in_5", customer="cus_A", paid_at="2026-11-12", created="2026-11-01",
                      uncollectible_at="2026-11-10", lines=lines)  # fmt: skip
    late = {**paid, "status": "uncollectible", "amount_paid": 0,
            "status_transitions": {**paid["status_transitions"], "paid_at": None}}  # fmt: skip
    assert revenue.deliver_ok(sf.event("invoice.paid", paid, created="2026-11-12"))["status"] == "booked"
    assert revenue.deliver_ok(sf.event("invoice.marked_uncollectible", late, created="2026-11-10"))["status"] == "stale"
    assert monthly(db_url) == {("acct_a", "2026-11", "USD"): ("30.00", "0.00", "30.00")}

    # A state newer than the booking reverses it (an invoice booked, then voided).
    booked = sf.invoice("in_6", customer="cus_A", paid_at="2026-11-13", created="2026-11-01",
                        lines=[sf.line("il_6", 7000, invoice="in_6", start="2026-11-01T00:00:00")])  # fmt: skip
    voided = {**booked, "status": "void", "status_transitions": {**booked["status_transitions"], "paid_at": None,
                                                                  "voided_at": sf.ts("2026-11-14")}}  # fmt: skip
    revenue.deliver_ok(sf.event("invoice.paid", booked, created="2026-11-13"))
    assert monthly(db_url)[("acct_a", "2026-11", "USD")][2] == "100.00"
    result = revenue.deliver_ok(sf.event("invoice.voided", voided, created="2026-11-14"))
    assert result["status"] == "reversed"
    assert monthly(db_url) == {("acct_a", "2026-11", "USD"): ("30.00", "0.00", "30.00")}
    # Voiding an invoice that never booked anything changes nothing.
    open_invoice = {**voided, "id": "in_7"}
    assert revenue.deliver_ok(sf.event("invoice.voided", open_invoice, created="2026-11-14"))["status"] == "unchanged"


def test_a_voided_credit_note_gives_the_revenue_back(
    revenue: RevenueServer, stripe_stub: StripeStub, db_url: str
) -> None:
    scenario.load(stripe_stub)
    revenue.deliver_ok(sf.event("invoice.paid", scenario.IN_3, created="2026-12-01T10:00:01"))
    note = sf.credit_note("cn_2", invoice="in_3", customer="cus_A", total=1200, tax_amount=200,
                          created="2026-12-10")  # fmt: skip
    voided = {**note, "status": "void", "voided_at": sf.ts("2026-12-11")}
    # The void arrives first; the creation, older, is then stale.
    assert revenue.deliver_ok(sf.event("credit_note.voided", voided, created="2026-12-11"))["status"] == "unchanged"
    assert revenue.deliver_ok(sf.event("credit_note.created", note, created="2026-12-10"))["status"] == "stale"
    assert monthly(db_url) == {("acct_a", "2026-12", "USD"): ("200.00", "0.00", "200.00")}

    note3 = {**note, "id": "cn_3"}
    assert revenue.deliver_ok(sf.event("credit_note.created", note3, created="2026-12-10"))["status"] == "booked"
    assert monthly(db_url) == {("acct_a", "2026-12", "USD"): ("200.00", "-10.00", "190.00")}
    voided3 = {**voided, "id": "cn_3"}
    assert revenue.deliver_ok(sf.event("credit_note.voided", voided3, created="2026-12-11"))["status"] == "reversed"
    assert monthly(db_url) == {("acct_a", "2026-12", "USD"): ("200.00", "0.00", "200.00")}


def test_a_dispute_that_is_won_changes_nothing(revenue: RevenueServer, stripe_stub: StripeStub, db_url: str) -> None:
    scenario.load(stripe_stub)
    revenue.deliver_ok(sf.event("invoice.paid", scenario.IN_4, created="2026-11-20T12:00:01"))
    won = {**scenario.DP_4, "status": "won"}
    result = revenue.deliver_ok(sf.event("charge.dispute.closed", won, created="2027-01-05"))
    assert result["status"] == "ignored" and "won" in result["detail"]
    assert monthly(db_url) == {("acct_c", "2026-11", "EUR"): ("50.00", "0.00", "50.00")}


def test_a_forged_signature_is_refused_and_recorded(revenue: RevenueServer, db_url: str) -> None:
    evt = sf.event("invoice.paid", scenario.IN_1, created="2026-11-03T00:00:05")
    forged = revenue.deliver(evt, secret="whsec_someone_else")
    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert forged.json()["error"]["message"].startswith("invalid Stripe-Signature: No signatures found matching")
    tampered_body = revenue.deliver(evt, signature=sf.signed(sf.body_of({**evt, "id": "evt_other"})))
    assert tampered_body.status_code == 400
    missing = revenue.deliver(evt, signature="")
    assert missing.status_code == 400 and "No Stripe-Signature header" in missing.json()["error"]["message"]
    assert entries(db_url) == [] and events(db_url) == []
    assert [(reason, status) for reason, status, _ in failures(db_url)] == [("bad_signature", 400)] * 3


def test_a_stale_timestamp_is_refused(revenue: RevenueServer, db_url: str) -> None:
    evt = sf.event("invoice.paid", scenario.IN_1, created="2026-11-03T00:00:05")
    old = revenue.deliver(evt, timestamp=int(time.time()) - 301)  # the library's default tolerance is 300 s
    assert old.status_code == 400
    assert "Timestamp outside the tolerance zone" in old.json()["error"]["message"]
    assert entries(db_url) == []
    assert failures(db_url)[0][0] == "bad_signature"


def test_without_a_secret_nothing_is_booked_and_stripe_is_told_to_retry(db_url: str) -> None:
    with serving(db_url, config_for(None, stripe_webhook_secret=None)) as server:
        response = server.deliver(sf.event("invoice.paid", scenario.IN_1, created="2026-11-03T00:00:05"))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"
    assert "set STRIPE_WEBHOOK_SECRET" in response.json()["error"]["message"]
    assert (response.json()["error"]["code"], response.json()["error"]["retry_after_s"]) == ("UNAVAILABLE", 60)
    assert entries(db_url) == [] and events(db_url) == []
    assert [(r, s) for r, s, _ in failures(db_url)] == [("not_configured", 503)]


def test_a_signed_body_that_is_not_an_invoice_is_acknowledged_and_recorded_as_unusable(
    revenue: RevenueServer, db_url: str
) -> None:
    broken = sf.event("invoice.paid", {"id": "in_9", "object": "invoice"}, created="2026-11-03")
    response = revenue.deliver(broken)
    assert response.status_code == 200  # Stripe stops redelivering what would fail again
    assert response.json()["status"] == "unusable"
    assert "is not a Stripe invoice object as expected" in response.json()["detail"]
    assert "currency: Field required" in response.json()["detail"]
    not_json = revenue.post(b"{not json", sf.signed(b"{not json"))
    assert not_json.status_code == 200 and not_json.json()["status"] == "unusable"
    assert [(i, t) for i, t, _ in unusable(db_url)] == [(None, None), (broken["id"], "invoice.paid")]
    assert failures(db_url) == [] and events(db_url) == [] and entries(db_url) == []


def test_expanded_customer_metadata_maps_without_the_api(db_url: str) -> None:
    expanded = sf.customer("cus_X", name="Xylo", email="ap@xylo.test", metadata={"tenant": "acct_x"})
    invoice = sf.invoice("in_x", customer=expanded, paid_at="2026-11-03", created="2026-11-01",
                         lines=[sf.line("il_x", 1234, invoice="in_x", start="2026-11-01T00:00:00")])  # fmt: skip
    with serving(db_url, config_for(None, stripe_customer_metadata_key="tenant")) as server:
        assert server.deliver_ok(sf.event("invoice.paid", invoice, created="2026-11-03"))["status"] == "booked"
    assert monthly(db_url) == {("acct_x", "2026-11", "USD"): ("12.34", "0.00", "12.34")}


def test_an_invoice_with_more_lines_than_the_payload_fetches_them(
    revenue: RevenueServer, stripe_stub: StripeStub, db_url: str
) -> None:
    stripe_stub.customers.update(scenario.CUSTOMERS)
    lines = [sf.line(f"il_m{i:02d}", 100 + i, invoice="in_m", start="2026-11-05T00:00:00") for i in range(13)]
    invoice = sf.invoice("in_m", customer="cus_A", paid_at="2026-11-05", created="2026-11-05", lines=lines)
    assert invoice["lines"]["has_more"] and len(invoice["lines"]["data"]) == 10
    stripe_stub.add_invoice(invoice, all_lines=lines)
    revenue.deliver_ok(sf.event("invoice.paid", invoice, created="2026-11-05"))
    assert monthly(db_url) == {("acct_a", "2026-11", "USD"): ("13.78", "0.00", "13.78")}  # 13 x 100 + (0 + ... + 12)
    assert len(stripe_stub.paths("/v1/invoices/in_m/lines")) == 7  # pages of 2


def test_an_invoice_with_more_lines_and_no_api_key_is_retried(db_url: str) -> None:
    lines = [sf.line(f"il_n{i:02d}", 100, invoice="in_n", start="2026-11-05T00:00:00") for i in range(11)]
    invoice = sf.invoice("in_n", customer="cus_A", paid_at="2026-11-05", created="2026-11-05", lines=lines)
    with serving(db_url, config_for(None)) as server:
        response = server.deliver(sf.event("invoice.paid", invoice, created="2026-11-05"))
    assert response.status_code == 503
    assert "set STRIPE_API_KEY" in response.json()["error"]["message"]
    assert entries(db_url) == [] and events(db_url) == []
    assert failures(db_url)[0][0] == "unavailable"


def test_a_stripe_api_failure_is_retried_later(db_url: str) -> None:
    # The API base points at a closed port: the customer lookup fails, the event is not claimed, Stripe retries.
    from tests.support.pgcluster import free_port

    config = config_for(None, stripe_api_key=API_KEY, stripe_api_base=f"http://127.0.0.1:{free_port()}")
    with serving(db_url, config) as server:
        response = server.deliver(sf.event("invoice.paid", scenario.IN_2, created="2026-11-15T03:00:01"))
    assert response.status_code == 503 and "Stripe API (customer cus_B)" in response.json()["error"]["message"]
    assert events(db_url) == [] and entries(db_url) == []


def test_two_deliveries_of_one_event_at_once_book_it_once(
    revenue: RevenueServer, stripe_stub: StripeStub, db_url: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    scenario.load(stripe_stub)
    evt = sf.event("invoice.paid", scenario.IN_3, created="2026-12-01T10:00:01")
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(r.json()["status"] for r in pool.map(lambda _: revenue.deliver(evt), range(4)))
    assert statuses == ["booked", "duplicate", "duplicate", "duplicate"]
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM revenue_entries WHERE source_id = 'in_3'").fetchone()
    assert row == (2,)
