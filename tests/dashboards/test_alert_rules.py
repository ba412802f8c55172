"""Each provisioned alert rule, evaluated as Grafana does on seeded data, fires exactly where it should.

Times are relative to the database's clock (the signal views and budget_status read now()), at whole hours or
days that are never in the future: "today" is today's midnight, "yesterday" noon of the previous UTC day.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from otel_margin_backend.bills import store as bill_store
from otel_margin_backend.bills.lines import BillLine, by_day
from tests.dashboards.alerting import Evaluation, evaluate
from tests.dashboards.files import rule
from tests.dashboards.seed import Seeder, day_start, hour_start, month_of
from tests.support.stores import READER_ROLE, Server


def check(db_url: str, server: Server, uid: str) -> Evaluation:
    with psycopg.connect(db_url) as conn:
        conn.execute(f"SET ROLE {READER_ROLE}")
        return evaluate(conn, rule(uid), timescaledb=server.kind == "timescaledb")


def instance(evaluation: Evaluation, **labels: str) -> Any:
    (found,) = [i for i in evaluation.instances if all(i.labels.get(k) == v for k, v in labels.items())]
    return found


# ---------------------------------------------------------------------------------------------------- budgets


def seed_budgets(seeder: Seeder) -> None:
    today = hour_start(seeder.now())
    for customer, spend in (("acme", "10"), ("beta", "60"), ("gamma", "85"), ("delta", "120")):
        seeder.budget(f"{customer}-daily", limit="100", customer=customer)
        seeder.costs([(customer, "chat", spend, today)])
    seeder.budget("search-monthly", limit="1000", period="month", feature="search")
    seeder.costs([("acme", "search", "5", today)])


@pytest.mark.parametrize(
    ("uid", "budget", "customer", "severity"),
    [
        ("otel-margin-budget-warning", "beta-daily", "beta", "warning"),
        ("otel-margin-budget-critical", "gamma-daily", "gamma", "critical"),
        ("otel-margin-budget-exceeded", "delta-daily", "delta", "critical"),
    ],
)
def test_budget_rules_fire_for_budgets_in_their_state_only(uid: str, budget: str, customer: str, severity: str,
                                                           db_url: str, any_server: Server) -> None:  # fmt: skip
    seed_budgets(Seeder(db_url))
    evaluation = check(db_url, any_server, uid)
    assert evaluation.state == "Alerting"
    assert evaluation.firing("budget") == {budget}
    assert evaluation.normal("budget") == {"acme-daily", "beta-daily", "gamma-daily", "delta-daily",
                                           "search-monthly"} - {budget}  # fmt: skip
    fired = instance(evaluation, budget=budget)
    assert {k: fired.labels[k] for k in ("severity", "customer", "feature")} == {
        "severity": severity, "customer": customer, "feature": "all"}  # fmt: skip
    assert budget in fired.annotations["summary"]
    org = instance(evaluation, budget="search-monthly")
    assert (org.labels["customer"], org.labels["feature"]) == ("all", "search")


def test_budget_rules_without_budgets_are_normal(db_url: str, any_server: Server) -> None:
    evaluation = check(db_url, any_server, "otel-margin-budget-exceeded")
    assert evaluation.state == "Normal" and not evaluation.instances  # no data -> noDataState OK


# ----------------------------------------------------------------------------------------------------- margin


def test_negative_margin_fires_for_customers_whose_cost_exceeds_revenue(db_url: str, any_server: Server) -> None:
    seeder = Seeder(db_url)
    now = hour_start(seeder.now())
    seeder.revenue("acme", month_of(now), "1000000.00")
    seeder.revenue("plexo", month_of(now), "1.00")
    seeder.costs([("acme", "chat", "0.01", now), ("plexo", "chat", "50.00", now), ("freebie", "chat", "9.00", now)])
    evaluation = check(db_url, any_server, "otel-margin-negative-margin")
    assert evaluation.firing("customer") == {"plexo"}
    assert evaluation.normal("customer") == {"acme"}  # freebie has no revenue, so no margin
    plexo = instance(evaluation, customer="plexo")
    assert plexo.values["B"] < -48 and plexo.labels["severity"] == "warning" and plexo.labels["feature"] == "all"
    assert plexo.annotations["summary"].startswith("Customer plexo is unprofitable this month: margin -4")


def test_negative_two_months_fires_for_customers_negative_last_month_and_this_month(
    db_url: str, any_server: Server
) -> None:
    seeder = Seeder(db_url)
    now = hour_start(seeder.now())
    last_month = now.replace(day=1, hour=0) - timedelta(days=15)
    for customer, (before, after) in {"plexo": ("1.00", "1.00"), "acme": ("1000000.00", "1.00"),
                                      "beta": ("1.00", "1000000.00")}.items():  # fmt: skip
        seeder.revenue(customer, month_of(last_month), before)
        seeder.revenue(customer, month_of(now), after)
    seeder.costs([(c, "chat", "50.00", at) for c in ("plexo", "acme", "beta") for at in (last_month, now)])
    evaluation = check(db_url, any_server, "otel-margin-negative-two-months")
    assert evaluation.state == "Alerting"
    assert evaluation.firing("customer") == {"plexo"}  # acme only this month, beta only last month
    assert evaluation.normal("customer") == {"acme", "beta"}
    plexo = instance(evaluation, customer="plexo")
    assert plexo.values["B"] == 1 and plexo.labels["severity"] == "warning" and plexo.labels["feature"] == "all"
    assert plexo.annotations["summary"] == "Customer plexo has lost money two months running: reprice or throttle."


def test_negative_two_months_without_revenue_is_normal(db_url: str, any_server: Server) -> None:
    seeder = Seeder(db_url)
    seeder.costs([("freebie", "chat", "9.00", hour_start(seeder.now()))])
    evaluation = check(db_url, any_server, "otel-margin-negative-two-months")
    assert evaluation.state == "Normal" and not evaluation.instances


def test_cost_variance_fires_beyond_ten_percent_either_way(db_url: str, any_server: Server) -> None:
    seeder = Seeder(db_url)
    today = day_start(seeder.now())
    yesterday, week_before = today - timedelta(hours=12), today - timedelta(days=7, hours=12)
    rows = []
    for customer, before, after in (("up", "100", "120"), ("flat", "100", "105"), ("down", "100", "80")):
        rows += [(customer, "chat", before, week_before), (customer, "chat", after, yesterday)]
    rows += [("new", "chat", "50", yesterday), ("flat", "chat", "1000", today)]  # today is not judged yet
    seeder.costs(rows)
    evaluation = check(db_url, any_server, "otel-margin-cost-variance")
    assert evaluation.firing("customer") == {"up", "down"}
    assert evaluation.normal("customer") == {"flat", "new"}
    assert instance(evaluation, customer="down").values["B"] == pytest.approx(-20)


def test_feature_growth_fires_above_five_percent_day_over_day(db_url: str, any_server: Server) -> None:
    seeder = Seeder(db_url)
    today = day_start(seeder.now())
    yesterday, day_before = today - timedelta(hours=12), today - timedelta(hours=36)
    seeder.costs([
        ("acme", "search", "100", day_before), ("acme", "search", "110", yesterday),
        ("acme", "chat", "100", day_before), ("beta", "chat", "104", yesterday),
        ("acme", "images", "7", yesterday),
    ])  # fmt: skip
    evaluation = check(db_url, any_server, "otel-margin-feature-growth")
    assert evaluation.firing("feature") == {"search"}
    assert evaluation.normal("feature") == {"chat", "images"}
    search = instance(evaluation, feature="search")
    assert search.labels["customer"] == "all" and search.values["B"] == pytest.approx(10)


# --------------------------------------------------------------------------------------------------- pipeline


def test_price_sync_failure_fires_for_a_failure_in_the_last_day(db_url: str, any_server: Server) -> None:
    seeder = Seeder(db_url)
    seeder.price_sync(seeder.now() - timedelta(hours=2), ok=False)
    evaluation = check(db_url, any_server, "otel-margin-price-sync-failure")
    assert evaluation.state == "Alerting"
    (fired,) = evaluation.instances
    assert fired.values["B"] == 1 and fired.labels == {"severity": "warning", "customer": "all", "feature": "all"}


def test_price_sync_failure_ignores_older_failures(db_url: str, any_server: Server) -> None:
    seeder = Seeder(db_url)
    now = seeder.now()
    seeder.price_sync(now - timedelta(hours=30), ok=False)
    seeder.price_sync(now - timedelta(hours=1), ok=True)
    evaluation = check(db_url, any_server, "otel-margin-price-sync-failure")
    assert evaluation.state == "Normal" and evaluation.instances[0].values["B"] == 0


def _sync_attempts(db_url: str, ok: int, failed: int) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO price_sync_attempts (attempted_at, source, trigger, outcome, price_version, duration_ms,"
            " error) SELECT now() - interval '1 minute' * g, 'https://prices.example/d.json', 'schedule',"
            " CASE WHEN g <= %s THEN 'failed' ELSE 'ok' END, CASE WHEN g > %s THEN 'genai-prices data sha256:0a' END,"
            " 100, CASE WHEN g <= %s THEN 'HTTP 503' END FROM generate_series(1, %s) g",
            (failed, failed, failed, ok + failed),
        )


@pytest.mark.parametrize(("ok", "failed", "fires", "value"), [(998, 1, True, 99.899), (999, 1, False, 99.9),
                                                                (7, 0, False, 100)])  # fmt: skip
def test_price_sync_success_fires_below_99_9_percent_over_7_days(ok: int, failed: int, fires: bool, value: float,
                                                                  db_url: str, any_server: Server) -> None:  # fmt: skip
    _sync_attempts(db_url, ok, failed)
    evaluation = check(db_url, any_server, "otel-margin-price-sync-success")
    assert evaluation.state == ("Alerting" if fires else "Normal"), evaluation
    (only,) = evaluation.instances
    assert only.values["B"] == value and only.labels == {"severity": "warning", "customer": "all", "feature": "all"}


def test_price_sync_success_without_attempts_is_normal(db_url: str, any_server: Server) -> None:
    assert check(db_url, any_server, "otel-margin-price-sync-success").state == "Normal"


@pytest.mark.parametrize(("attributed", "fires"), [("85", True), ("95", False)])
def test_attribution_coverage_fires_below_ninety_percent_today(attributed: str, fires: bool, db_url: str,
                                                               any_server: Server) -> None:  # fmt: skip
    seeder = Seeder(db_url)
    today = day_start(seeder.now())
    unattributed = str(100 - int(attributed))
    seeder.costs([
        ("acme", "chat", attributed, today), ("(unattributed)", "chat", unattributed, today),
        ("(unattributed)", "chat", "500", today - timedelta(hours=12)),  # yesterday's poor coverage is not today's
    ])  # fmt: skip
    evaluation = check(db_url, any_server, "otel-margin-attribution-coverage")
    assert evaluation.state == ("Alerting" if fires else "Normal")
    (only,) = evaluation.instances
    assert only.values["B"] == pytest.approx(int(attributed))


@pytest.mark.parametrize(("unpriced", "fires"), [(6, True), (5, False)])
def test_unpriced_share_fires_above_five_percent_of_todays_calls(unpriced: int, fires: bool, db_url: str,
                                                                 any_server: Server) -> None:  # fmt: skip
    seeder = Seeder(db_url)
    today = day_start(seeder.now())
    seeder.costs([("acme", "chat", "1", today)] * (100 - unpriced))
    for _ in range(unpriced):
        seeder.call(customer="acme", feature="chat", at=today, cost=None, model="mystery-model")
    for _ in range(10):  # yesterday's unpriced calls are not today's
        seeder.call(customer="acme", feature="chat", at=today - timedelta(hours=12), cost=None, model="mystery-model")
    evaluation = check(db_url, any_server, "otel-margin-unpriced-share")
    assert evaluation.state == ("Alerting" if fires else "Normal")
    (only,) = evaluation.instances
    assert only.values["B"] == unpriced
    assert only.labels == {"severity": "warning", "customer": "all", "feature": "all"}


@pytest.mark.parametrize(("minutes_ago", "fires"), [(30, True), (1, False), (None, False)])
def test_ingestion_stalled_fires_after_fifteen_quiet_minutes(minutes_ago: int | None, fires: bool, db_url: str,
                                                             any_server: Server) -> None:  # fmt: skip
    seeder = Seeder(db_url)
    if minutes_ago is not None:
        seeder.costs([("acme", "chat", "1", seeder.now() - timedelta(minutes=minutes_ago))])
    evaluation = check(db_url, any_server, "otel-margin-ingestion-stalled")
    assert evaluation.state == ("Alerting" if fires else "Normal")
    (only,) = evaluation.instances
    assert (only.values["B"] >= 30) if fires else only.values["B"] == 0
    assert only.labels["severity"] == "critical"


def test_a_failing_query_takes_the_error_state(db_url: str, any_server: Server) -> None:
    broken = copy.deepcopy(rule("otel-margin-ingestion-stalled"))
    broken["data"][0]["model"]["rawSql"] = "SELECT now() AS time, stalled FROM no_such_view"
    with psycopg.connect(db_url) as conn:
        evaluation = evaluate(conn, broken, timescaledb=any_server.kind == "timescaledb")
    assert evaluation.state == "Error" and evaluation.error and "no_such_view" in evaluation.error


# ---------------------------------------------------------------------------------------------------- bills


def seed_bill(url: str, day: date, billed: str, *, provider: str = "openai") -> None:
    """A bill of ``billed`` dollars for gpt-4o on ``day``: 1,200 tokens, as one seeded call has."""
    lines = [BillLine("openai.costs", day, model="gpt-4o", amount=Decimal(billed)),
             BillLine("openai.usage", day, model="gpt-4o", input_tokens=1000, output_tokens=200)]  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        import_id = bill_store.begin(conn, provider, "test", day, day, "cli")
        bill_store.store(conn, import_id, provider, by_day(lines, ["openai.costs", "openai.usage"], day, day))


@pytest.mark.parametrize(("billed", "fires"), [("1.03", True), ("1.01", False)])
def test_bill_gap_fires_above_two_percent_of_yesterdays_bill(billed: str, fires: bool, db_url: str,
                                                             any_server: Server) -> None:  # fmt: skip
    seeder = Seeder(db_url)
    yesterday = day_start(seeder.now()) - timedelta(hours=12)
    seeder.costs([("acme", "chat", "1.00", yesterday)])
    seed_bill(db_url, yesterday.date(), billed)
    evaluation = check(db_url, any_server, "otel-margin-bill-gap")
    assert evaluation.state == ("Alerting" if fires else "Normal")
    (only,) = evaluation.instances
    assert only.labels["provider"] == "openai"
    assert only.values["B"] == (pytest.approx(2.91) if fires else 0)


def test_bill_coverage_fires_below_the_floor(db_url: str, any_server: Server) -> None:
    seeder = Seeder(db_url)
    yesterday = day_start(seeder.now()) - timedelta(hours=12)
    seeder.costs([("(unattributed)", "chat", "1.00", yesterday)])
    seed_bill(db_url, yesterday.date(), "1.00")
    evaluation = check(db_url, any_server, "otel-margin-bill-coverage")
    assert evaluation.state == "Alerting"
    (only,) = evaluation.instances
    assert only.values["B"] == pytest.approx(0.01)  # nothing attributed (shown as the smallest positive value)


def test_bill_import_failing_fires_for_a_failed_latest_import(db_url: str, any_server: Server) -> None:
    seeder = Seeder(db_url)
    day = (seeder.now() - timedelta(days=1)).date()
    seed_bill(db_url, day, "1.00")
    seed_bill(db_url, day, "1.00", provider="anthropic")
    with psycopg.connect(db_url, autocommit=True) as conn:
        failed = bill_store.begin(conn, "anthropic", "test", day, day, "schedule")
        bill_store.fail(conn, failed, "HTTP 401: invalid x-api-key")
    evaluation = check(db_url, any_server, "otel-margin-bill-import-failing")
    assert evaluation.firing("provider") == {"anthropic"}
    assert evaluation.normal("provider") == {"openai"}
