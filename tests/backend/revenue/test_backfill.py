"""``otel-margin stripe backfill``: the stripe client pages through a local Stripe API; webhooks for the same
objects, before or after, change no total."""

from __future__ import annotations

from urllib.parse import unquote

from tests.backend.revenue import scenario
from tests.backend.revenue import stripe_fixtures as sf
from tests.backend.revenue.conftest import config_for, entries, events, monthly, run_cli, serving, tax_by_month
from tests.backend.revenue.stripe_stub import API_KEY, StripeStub


def stripe_env(stub: StripeStub) -> dict[str, str]:
    return {"STRIPE_API_KEY": API_KEY, "OTEL_MARGIN_STRIPE_API_BASE": stub.url,
            "OTEL_MARGIN_STRIPE_MAX_NETWORK_RETRIES": "0"}  # fmt: skip


def test_backfill_books_the_quarter_and_the_same_events_afterwards_change_nothing(
    db_url: str, stripe_stub: StripeStub
) -> None:
    scenario.load(stripe_stub)
    result = run_cli("stripe", "backfill", "--since", "2026-01-01", db_url=db_url, env=stripe_env(stripe_stub))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert monthly(db_url) == scenario.EXPECTED_MONTHLY
    assert tax_by_month(db_url) == scenario.EXPECTED_TAX
    assert "Stripe backfill since 2026-01-01" in result.stdout
    assert "Bookings: 8 booked." in result.stdout  # 4 invoices, 1 credit note, 2 refunded charges, 1 dispute
    # Auto-pagination: pages of 2 followed with starting_after; the window went to Stripe as created[gte].
    invoice_pages = [unquote(p) for p in stripe_stub.paths("/v1/invoices?")]
    assert len(invoice_pages) == 2 and "starting_after=in_" in invoice_pages[1]
    assert all(f"created[gte]={sf.ts('2026-01-01')}" in p and "status=paid" in p for p in invoice_pages)
    assert all("expand[0]=data.charge" in unquote(p) for p in stripe_stub.paths("/v1/refunds"))
    booked = entries(db_url)

    again = run_cli("stripe", "backfill", "--since", "2026-01-01", db_url=db_url, env=stripe_env(stripe_stub))
    assert again.exit_code == 0 and "Revenue is unchanged." in again.stdout
    assert "8 unchanged" in again.stdout

    with serving(db_url, config_for(stripe_stub)) as server:
        statuses = [server.deliver_ok(evt)["status"] for evt in scenario.EVENTS]
    assert "booked" not in statuses and set(statuses) <= {"unchanged", "stale", "ignored"}
    assert entries(db_url) == booked
    assert monthly(db_url) == scenario.EXPECTED_MONTHLY


def test_webhooks_first_then_backfill_changes_nothing(db_url: str, stripe_stub: StripeStub) -> None:
    scenario.load(stripe_stub)
    with serving(db_url, config_for(stripe_stub)) as server:
        for evt in scenario.EVENTS:
            server.deliver_ok(evt)
    booked = entries(db_url)
    result = run_cli("stripe", "backfill", "--since", "2026-01-01", db_url=db_url, env=stripe_env(stripe_stub))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Revenue is unchanged." in result.stdout
    assert entries(db_url) == booked
    assert monthly(db_url) == scenario.EXPECTED_MONTHLY


def test_a_dry_run_reports_the_change_and_saves_nothing(db_url: str, stripe_stub: StripeStub) -> None:
    scenario.load(stripe_stub)
    result = run_cli("stripe", "backfill", "--since", "2026-01-01", "--dry-run", db_url=db_url,
                     env=stripe_env(stripe_stub))  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "(dry run: nothing was saved)" in result.stdout
    assert "Would change" in result.stdout
    assert "EUR" in result.stdout and "-50.00 EUR" in result.stdout  # the lost dispute
    assert entries(db_url) == [] and events(db_url) == []


def test_backfill_needs_an_api_key(db_url: str) -> None:
    result = run_cli("stripe", "backfill", "--since", "2026-01-01", db_url=db_url)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: stripe backfill needs an API key: set STRIPE_API_KEY (or OTEL_MARGIN_STRIPE_API_KEY)"
    )


def test_backfill_rejects_a_bad_date(db_url: str) -> None:
    result = run_cli("stripe", "backfill", "--since", "last year", db_url=db_url)
    assert result.exit_code == 2
    assert "'last year' is not a date; use YYYY-MM-DD" in result.stderr


def test_backfill_reports_a_stripe_failure_in_one_line(db_url: str, stripe_stub: StripeStub) -> None:
    scenario.load(stripe_stub)
    env = {**stripe_env(stripe_stub), "OTEL_MARGIN_STRIPE_API_BASE": stripe_stub.url + "/broken"}
    result = run_cli("stripe", "backfill", "--since", "2026-01-01", db_url=db_url, env=env)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Stripe API (invoices) at ")
    assert "HTTP 404" in lines[0] and "Traceback" not in result.stderr
