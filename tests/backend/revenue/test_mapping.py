"""Stripe customer → otel-margin customer: metadata, explicit mappings, and unmapped revenue made visible."""

from __future__ import annotations

from typing import Any

from tests.backend.revenue import stripe_fixtures as sf
from tests.backend.revenue.conftest import RevenueServer, config_for, monthly, run_cli, serving
from tests.backend.revenue.stripe_stub import StripeStub
from tests.support.stores import Server


def delta_invoice(customer: str = "cus_D", *, name: str | None = None, email: str | None = None) -> dict[str, Any]:
    lines = [sf.line("il_d", 9900, invoice="in_d", start="2026-11-01", end="2026-12-01")]
    return sf.invoice("in_d", customer=customer, paid_at="2026-11-04", created="2026-11-01", lines=lines,
                      customer_name=name, customer_email=email)  # fmt: skip


def test_unmapped_revenue_is_listed_and_moves_to_the_customer_once_mapped(
    revenue: RevenueServer, stripe_stub: StripeStub, db_url: str
) -> None:
    stripe_stub.customers["cus_D"] = sf.customer("cus_D", name="Delta Labs", email="billing@delta.test")
    revenue.deliver_ok(sf.event("invoice.paid", delta_invoice(), created="2026-11-04"))
    assert monthly(db_url) == {("(unmapped)", "2026-11", "USD"): ("99.00", "0.00", "99.00")}

    listed = run_cli("customers", "unmapped", db_url=db_url)
    assert listed.exit_code == 0, listed.stderr
    assert "Stripe revenue without an otel-margin customer" in listed.stdout
    row = next(line for line in listed.stdout.splitlines() if "cus_D" in line)
    for cell in ("Delta Labs", "billing@delta.test", "99.00 USD", "2026-11"):
        assert cell in row
    assert "otel-margin customers map <cus_...> <customer id>" in listed.stdout

    mapped = run_cli("customers", "map", "cus_D", "acct_d", db_url=db_url)
    assert mapped.exit_code == 0, mapped.stderr
    assert "Mapped cus_D to acct_d." in mapped.stdout
    assert "1 revenue entries (99.00 USD net of tax) now belong to acct_d." in mapped.stdout
    assert monthly(db_url) == {("acct_d", "2026-11", "USD"): ("99.00", "0.00", "99.00")}

    after = run_cli("customers", "unmapped", db_url=db_url)
    assert after.stdout.strip() == "All booked Stripe revenue belongs to an otel-margin customer."


def test_an_explicit_mapping_wins_over_metadata_and_can_be_changed(
    revenue: RevenueServer, stripe_stub: StripeStub, db_url: str
) -> None:
    stripe_stub.customers["cus_D"] = sf.customer("cus_D", name="Delta Labs", email="b@d.test",
                                                 metadata={"customer_id": "acct_from_metadata"})  # fmt: skip
    revenue.deliver_ok(sf.event("invoice.paid", delta_invoice(), created="2026-11-04"))
    assert set(monthly(db_url)) == {("acct_from_metadata", "2026-11", "USD")}
    assert run_cli("customers", "map", "cus_D", "acct_first", db_url=db_url).exit_code == 0
    remap = run_cli("customers", "map", "cus_D", "acct_second", db_url=db_url)
    assert "Mapped cus_D to acct_second (was acct_first)." in remap.stdout
    assert set(monthly(db_url)) == {("acct_second", "2026-11", "USD")}


def test_a_mapping_made_before_the_revenue_arrives_applies_to_it(db_url: str) -> None:
    early = run_cli("customers", "map", "cus_E", "acct_e", db_url=db_url)
    assert early.exit_code == 0
    assert "No revenue is booked for it yet" in early.stdout
    with serving(db_url, config_for(None)) as server:
        server.deliver_ok(sf.event("invoice.paid", delta_invoice("cus_E"), created="2026-11-04"))
    assert monthly(db_url) == {("acct_e", "2026-11", "USD"): ("99.00", "0.00", "99.00")}


def test_without_an_api_key_a_customer_updated_event_brings_the_metadata(db_url: str) -> None:
    invoice = delta_invoice(name="Delta Labs", email="billing@delta.test")
    with serving(db_url, config_for(None)) as server:
        server.deliver_ok(sf.event("invoice.paid", invoice, created="2026-11-04"))
        listed = run_cli("customers", "unmapped", db_url=db_url)
        assert "Delta Labs" in listed.stdout and "billing@delta.test" in listed.stdout  # the invoice's snapshot
        assert set(monthly(db_url)) == {("(unmapped)", "2026-11", "USD")}

        updated = sf.customer("cus_D", name="Delta Labs", email="billing@delta.test",
                              metadata={"customer_id": "acct_d"})  # fmt: skip
        assert server.deliver_ok(sf.event("customer.updated", updated, created="2026-11-06"))["status"] == "customer"
        assert set(monthly(db_url)) == {("acct_d", "2026-11", "USD")}
        # An older customer.updated, arriving late, does not undo it.
        older = sf.customer("cus_D", name="Delta", email="old@delta.test", metadata={})
        server.deliver_ok(sf.event("customer.updated", older, created="2026-11-05"))
        assert set(monthly(db_url)) == {("acct_d", "2026-11", "USD")}


def test_map_refuses_what_is_not_a_stripe_customer_id(db_url: str) -> None:
    result = run_cli("customers", "map", "acct_123", "cus_X", db_url=db_url)
    assert result.exit_code == 2
    assert "'acct_123' is not a Stripe customer id (cus_...)" in result.stderr


def test_a_database_that_was_not_migrated_is_one_clear_line(any_server: Server) -> None:
    url, janitor = any_server.empty_database()
    try:
        result = run_cli("customers", "unmapped", db_url=url)
    finally:
        janitor.drop()
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the database at 127.0.0.1:")
    assert lines[0].endswith("): run otel-margin migrate")
