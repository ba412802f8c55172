"""At 80 columns (a pipe, a small terminal) the tables wrap cells instead of cutting them: every id, model name
and amount of the JSON output can be read whole in its column (tests/support/narrow.py), no line is wider than
the terminal, and no ``…`` appears."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from otel_margin_backend.pipeline.money import money
from tests.backend.analytics.test_pnl import seed_reference
from tests.backend.cli.test_main import otel_margin
from tests.backend.cli.test_simulate import RANGE
from tests.backend.cli.test_simulate import seed as seed_simulation
from tests.dashboards.seed import Seeder, hour_start, month_of
from tests.support.narrow import assert_lossless

NARROW = {"COLUMNS": "80"}


def _run(url: str, *args: str) -> str:
    result = otel_margin(*args, env={"OTEL_MARGIN_DATABASE_URL": url, **NARROW})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_pnl(db_url: str) -> None:
    seed_reference(db_url)
    rows = json.loads(_run(db_url, "pnl", "--month", "2026-11", "--format", "json"))["rows"]
    table = _run(db_url, "pnl", "--month", "2026-11")
    assert_lossless(table, {
        "Customer": [r["key"] for r in rows],
        "Revenue": [money(Decimal(r["revenue"])) for r in rows],
        "AI cost": [money(Decimal(r["cost"])) for r in rows],
        "Margin": [money(Decimal(r["margin"])) for r in rows],
    })  # fmt: skip


def test_pnl_target_margin(db_url: str) -> None:
    seed_reference(db_url)
    args = ("pnl", "--target-margin", "60", "--month", "2026-11")
    rows = json.loads(_run(db_url, *args, "--format", "json"))["rows"]
    table = _run(db_url, *args)
    assert_lossless(table, {
        "Customer": [r["customer"] for r in rows],
        "Revenue needed": [money(Decimal(r["required_revenue"])) for r in rows],
        "AI cost": [money(Decimal(r["cost"])) for r in rows],
    })  # fmt: skip


def test_simulate(db_url: str) -> None:
    seed_simulation(db_url)
    groups = json.loads(_run(db_url, "simulate", "--format", "json", *RANGE))["groups"]
    table = _run(db_url, "simulate", *RANGE)
    assert_lossless(table, {
        "Feature": [g["feature"] for g in groups],
        "Current model": [f"{g['provider']}/{g['model']}" for g in groups],
        "Suggested model": [g["suggested"] or "keep current" for g in groups],
        "Cost": [money(Decimal(g["cost"]), small_places=4) for g in groups],
    })  # fmt: skip


def test_budgets_status(db_url: str) -> None:
    seeder = Seeder(db_url)
    hour = hour_start(seeder.now())
    seeder.costs([("plexo-health", "clinical-summary", "812.25", hour)])
    seeder.budget("plexo-health-clinical-summary-daily", limit="1000.00", customer="plexo-health",
                  feature="clinical-summary")  # fmt: skip
    seeder.evaluate_budgets()
    rows = json.loads(_run(db_url, "budgets", "status", "--format", "json"))["budgets"]
    table = _run(db_url, "budgets", "status")
    assert_lossless(table, {
        "budget": [r["budget"] for r in rows],
        "scope": [r.get("scope_label") or ",".join(f"{k}={v}" for k, v in r["scope"].items()) for r in rows],
        "spend": [money(Decimal(r["spend"]), "USD", code=True, exact=True) for r in rows],
        "limit": [money(Decimal(r["limit_amount"]), "USD", code=True, exact=True) for r in rows],
    })  # fmt: skip


def test_customers_unmapped(db_url: str) -> None:
    seeder = Seeder(db_url)
    month = month_of(seeder.now() - timedelta(days=1))
    ids = ["cus_QFj0rdOXkHs9mZ2a", "cus_R7tKc2LpWq81nVbY"]
    for n, stripe_id in enumerate(ids):
        seeder.unmapped_revenue(stripe_id, month, 5_424_317 + n)
    rows = json.loads(_run(db_url, "customers", "unmapped", "--format", "json"))
    table = _run(db_url, "customers", "unmapped")
    listed = rows["unmapped"]
    assert sorted(r["stripe_customer_id"] for r in listed) == sorted(ids)
    assert_lossless(table, {"Stripe customer": [r["stripe_customer_id"] for r in listed],
                            "net revenue": ["54,243.17 USD" if r["stripe_customer_id"] == ids[0] else "54,243.18 USD"
                                            for r in listed]})  # fmt: skip
    assert "metadata[customer_id]" in table.replace("\n", "")


def test_customers_actions(db_url: str) -> None:
    seed_reference(db_url)
    rows = json.loads(_run(db_url, "customers", "actions", "--month", "2026-11", "--format", "json"))["rows"]
    table = _run(db_url, "customers", "actions", "--month", "2026-11")
    assert_lossless(table, {
        "Customer": [r["customer"] for r in rows],
        "Revenue": [money(Decimal(r["revenue"])) for r in rows],
        "AI cost": [money(Decimal(r["cost"])) for r in rows],
        "Action": [r["action"] for r in rows],
    })  # fmt: skip
