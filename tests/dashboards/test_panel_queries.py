"""Every dashboard query, expanded as Grafana expands it, runs against real TimescaleDB and plain PostgreSQL as
Grafana's read-only role, and returns the columns its panel expects.

The data covers every panel: customers with and without margin (one named ``o'brien``, for quoting), unattributed
and unpriced calls, estimated tokens, budgets with crossings, a simulator run, price syncs, a Stripe webhook failure
and unmapped revenue. The range is the last 7 days; on TimescaleDB the datasource's TimescaleDB toggle is on
(``$__timeGroup`` is ``time_bucket``), on plain PostgreSQL it is off (epoch arithmetic).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from otel_margin_backend.bills import store as bill_store
from otel_margin_backend.bills.lines import BillLine, by_day
from tests.dashboards.alerting import TEXT_TYPES, to_series
from tests.dashboards.files import dashboards, panels
from tests.dashboards.macros import QueryContext, Variable, expand
from tests.dashboards.seed import Seeder, hour_start, month_of
from tests.support.stores import READER_ROLE, Server

EXPECTED: dict[str, dict[int, list[str]]] = {
    "otel-margin-overview": {
        1: ["Revenue"], 2: ["AI cost"], 3: ["Margin"], 4: ["Margin %"],
        5: ["time", "feature", "cost"], 6: ["time", "model", "cost"],
        7: ["customer", "revenue", "cost", "unpriced_calls", "margin", "margin_pct"],
        8: ["budget", "scope", "period", "spend", "limit_amount", "currency", "percent_used", "forecast_percent",
            "state"],
        9: ["customer", "revenue", "cost", "margin_pct", "action", "negative_two_months"],
    },
    "otel-margin-customer-pnl": {
        1: ["Customers"], 2: ["Unprofitable customers"],
        3: ["customer", "revenue", "cost", "margin", "margin_pct", "cost_share_pct", "calls", "unpriced_calls",
            "estimated_calls", "currency", "unconverted"],
        4: ["customer", "month", "revenue", "cost", "margin_pct", "target_margin_pct", "required_revenue",
            "price_change_pct", "note", "currency"],
    },
    "otel-margin-customer": {
        1: ["Revenue"], 2: ["AI cost"], 3: ["Margin"], 4: ["Margin %"],
        5: ["time", "feature", "cost"], 6: ["time", "model", "cost"],
        7: ["feature", "provider", "model", "calls", "input_tokens", "output_tokens", "cost", "unpriced_calls"],
        8: ["month", "currency", "revenue", "refunds", "net", "reporting_currency", "net_reporting", "converted"],
    },
    "otel-margin-simulator": {
        1: ["Savings"], 2: ["Suggested swaps"], 3: ["Computed at"], 4: ["Since"],
        5: ["feature", "provider", "model", "candidate", "events", "skipped_events", "current_cost", "simulated_cost",
            "savings", "savings_percent", "benchmark", "quality_current", "quality_candidate", "quality_per_dollar",
            "rank", "suggested", "excluded_reason", "monthly_savings", "migration_cost", "payback_months"],
        6: ["provider", "model", "kind", "condition", "amount", "list_amount", "discount_percent", "currency",
            "valid_from", "source", "price_version", "override_version"],
        7: ["feature", "provider", "model", "candidate", "savings", "monthly_savings", "engineering_hours",
            "hourly_rate", "migration_cost", "payback_months"],
    },
    "otel-margin-budgets": {
        1: ["exceeded"], 2: ["critical"], 3: ["warning"], 4: ["Open alerts"],
        5: ["budget", "description", "scope", "period", "period_start", "period_end", "currency", "limit_kind",
            "percent_of_revenue", "limit_amount", "spend", "percent_used", "forecast", "forecast_percent", "state",
            "unpriced_calls", "managed_by"],
        6: ["crossed_at", "budget", "scope", "severity", "threshold_percent", "currency", "spend_at_crossing",
            "limit_at_crossing", "period_start", "resolved_at", "resolution"],
    },
    "otel-margin-data-quality": {
        1: ["Unattributed"], 2: ["Unpriced"], 3: ["Estimated"], 4: ["Missing usage"],
        5: ["time", "attributed_cost_pct", "unpriced_calls_pct", "estimated_calls_pct"],
        6: ["time", "calls", "unpriced_calls"],
        7: ["Minutes"], 8: ["Calls"], 9: ["Stalled"], 10: ["Version"], 11: ["Last success"], 12: ["Failures"],
        13: ["attempted_at", "source", "trigger", "outcome", "price_version", "new_version", "model_count",
             "duration_ms", "error"],
        14: ["received_at", "reason", "http_status", "message", "event_id", "event_type"],
        15: ["stripe_customer_id", "name", "email", "metadata_known", "currency", "net", "documents", "first_month",
             "last_month"],
        16: ["Success"], 17: ["Median"],
    },
    "otel-margin-bills": {
        1: ["Billed"], 2: ["Computed"], 3: ["Gap"], 4: ["Coverage"],
        5: ["time", "provider", "billed", "computed"], 6: ["time", "provider", "gap_pct", "coverage_pct"],
        7: ["provider", "model", "billed", "computed", "gap", "gap_pct", "unseen", "price_diff", "unpriced",
            "attributed", "coverage_pct", "unpriced_calls", "missing_from"],
        8: ["provider", "project", "services", "billed", "billed_tokens", "seen_tokens", "unseen"],
        9: ["provider", "status", "started_at", "last_success_at", "error"],
    },
}  # fmt: skip
"""The columns each panel shows, by dashboard uid and panel id (a new panel must be added here)."""

DETAIL_CUSTOMER = "acme"


def seed_everything(url: str) -> Seeder:
    seeder = Seeder(url)
    now = seeder.now()
    hour = hour_start(now)
    month = month_of(hour)
    seeder.revenue("acme", month, "100000.00")
    seeder.revenue("plexo", month, "10.00")
    seeder.revenue("o'brien", month, "50.00")
    seeder.costs([
        ("acme", "chat", "2.50", hour),
        ("acme", "search", "1.25", hour - timedelta(hours=2)),
        ("acme", "chat", "3.00", hour - timedelta(hours=26)),
        ("plexo", "chat", "80.00", hour),
        ("o'brien", "chat", "1.00", hour),
        ("(unattributed)", "chat", "5.00", hour),
    ])  # fmt: skip
    # The last full month (the target-margin table's), on its first day: outside the 7-day range whatever today is.
    last_month = (hour.replace(day=1) - timedelta(days=1)).replace(day=1, hour=1)
    seeder.costs([("acme", "chat", "20.00", last_month)])
    seeder.call(customer="acme", feature="chat", at=hour, cost="0.75", provider="anthropic", model="claude-haiku")
    seeder.call(customer="acme", feature="chat", at=hour, cost=None, model="mystery-model")
    seeder.call(customer="acme", feature="summarize", at=hour, cost="0.10", estimated=True)
    seeder.budget("plexo-daily", limit="10", customer="plexo")
    seeder.budget("acme-chat-monthly", limit="1000", period="month", customer="acme", feature="chat")
    seeder.evaluate_budgets()
    seeder.simulator_run(now - timedelta(hours=1))
    seeder.active_price_version()
    seeder.model_price("openai", "gpt-4o", "input_mtok", "2.5")
    seeder.model_price("openai", "gpt-4.1-mini", "input_mtok", "0.4")
    seeder.model_price("openai", "gpt-3.5-turbo", "input_mtok", "0.5")  # in no simulation: not shown
    seeder.price_sync(now - timedelta(hours=3), ok=True)
    seeder.price_sync(now - timedelta(hours=2), ok=False)
    seeder.webhook_failure(now - timedelta(hours=1))
    seeder.unmapped_revenue("cus_unknown", month, 12345)
    seed_bill(url, hour.date())
    return seeder


def seed_bill(url: str, day: date) -> None:
    """OpenAI's bill for the seeded calls' day: gpt-4o, $99 for 1,000,000 tokens of project proj_x (-> checkout)."""
    lines = [BillLine("openai.costs", day, model="gpt-4o", project="proj_x", line_item="gpt-4o, input",
                      amount=Decimal("99")),
             BillLine("openai.usage", day, model="gpt-4o", project="proj_x", input_tokens=800_000,
                      output_tokens=200_000)]  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        import_id = bill_store.begin(conn, "openai", "test", day, day, "cli")
        bill_store.store(conn, import_id, "openai", by_day(lines, ["openai.costs", "openai.usage"], day, day))
        conn.execute("INSERT INTO bill_mappings VALUES ('openai', 'project', 'proj_x', 'checkout', NULL)")


def run(conn: psycopg.Connection[Any], sql: str) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        description = cur.description or []
        return ([c.name for c in description], [c.name for c in description if c.type_code in TEXT_TYPES],
                cur.fetchall())  # fmt: skip


def variables(conn: psycopg.Connection[Any], board: dict[str, Any], ctx: QueryContext) -> dict[str, Variable]:
    """Each variable's options from its own query: multi-value ones select All, single ones the detail customer."""
    out: dict[str, Variable] = {}
    for variable in board["templating"]["list"]:
        if variable["type"] == "textbox":
            out[variable["name"]] = Variable(variable["query"])
            continue
        _, _, rows = run(conn, expand(variable["query"], ctx))
        options = [row[0] for row in rows]
        assert options, f"variable {variable['name']} has no options"
        if variable["multi"]:
            out[variable["name"]] = Variable(options, multi=True)
        else:
            assert DETAIL_CUSTOMER in options
            out[variable["name"]] = Variable(DETAIL_CUSTOMER)
    return out


def test_customer_detail_opens_on_the_customer_with_the_highest_cost(db_url: str) -> None:
    seeder = seed_everything(db_url)
    now = seeder.now()
    board = dashboards()["otel-margin-customer"]
    (variable,) = board["templating"]["list"]
    with psycopg.connect(db_url) as conn:
        _, _, rows = run(conn, expand(variable["query"], QueryContext(start=now - timedelta(days=7), end=now)))
    options = [row[0] for row in rows]
    # plexo spent 80.00; (unattributed), with 5.00, comes last whatever it spent. Grafana keeps the query's order
    # (sort 0) and a single-value variable without a saved value opens on the first option.
    assert variable["sort"] == 0 and not variable.get("current")
    assert options[0] == "plexo" and options[-1] == "(unattributed)"
    assert options == ["plexo", "acme", "o'brien", "(unmapped)", "(unattributed)"]  # acme 7.60, unmapped revenue 0


@pytest.mark.parametrize("uid", sorted(EXPECTED))
def test_panel_queries_return_the_columns_their_panels_expect(uid: str, db_url: str, any_server: Server) -> None:
    seeder = seed_everything(db_url)
    now = seeder.now()
    board = dashboards()[uid]
    assert {p["id"] for p in panels(board)} == set(EXPECTED[uid]), "every panel is listed in EXPECTED"
    base = QueryContext(start=now - timedelta(days=7), end=now, interval=timedelta(hours=1),
                        timescaledb=any_server.kind == "timescaledb")  # fmt: skip
    with psycopg.connect(db_url) as conn:
        conn.execute(f"SET ROLE {READER_ROLE}")  # Grafana reads as the read-only role
        ctx = QueryContext(start=base.start, end=base.end, interval=base.interval, timescaledb=base.timescaledb,
                           variables=variables(conn, board, base))  # fmt: skip
        for panel in panels(board):
            (target,) = panel["targets"]
            sql = expand(target["rawSql"], ctx)
            assert "$" not in sql.replace("$$", ""), f"{panel['title']}: unexpanded {sql}"
            columns, text, rows = run(conn, sql)
            where = f"{uid} / {panel['title']}"
            assert columns == EXPECTED[uid][panel["id"]], where
            assert rows, f"{where}: no rows for seeded data"
            if panel["type"] == "stat":
                assert len(rows) == 1, where
                # Grafana's default reduce (fields "") takes numeric fields only: a timestamp or text is "No data".
                number = isinstance(rows[0][0], int | float | Decimal) and not isinstance(rows[0][0], bool)
                fields = panel["options"]["reduceOptions"]["fields"]
                assert number or fields == "/.*/", (
                    f"{where}: shows a {type(rows[0][0]).__name__} with fields {fields!r}"
                )
            if target["format"] == "time_series":
                series = to_series(columns, rows, text)
                assert series and all(s.points for s in series), where
            named = {o["matcher"]["options"] for o in panel.get("fieldConfig", {}).get("overrides", [])
                     if o["matcher"]["id"] == "byName"}  # fmt: skip
            assert named <= set(columns), f"{where}: overrides for missing columns {named - set(columns)}"


def test_quotes_in_values_reach_the_database_escaped(db_url: str) -> None:
    seed_everything(db_url)
    board = dashboards()["otel-margin-customer-pnl"]
    (table,) = [p for p in panels(board) if p["id"] == 3]
    with psycopg.connect(db_url) as conn:
        now = Seeder(db_url).now()
        ctx = QueryContext(start=now - timedelta(days=7), end=now,
                           variables={"customer": Variable(["o'brien", "plexo"], multi=True)})  # fmt: skip
        _, _, rows = run(conn, expand(table["targets"][0]["rawSql"], ctx))
    assert [row[0] for row in rows] == ["plexo", "o'brien"]  # unprofitable first


def test_prices_in_force_are_those_of_the_simulated_models(db_url: str) -> None:
    seed_everything(db_url)
    (prices,) = [p for p in panels(dashboards()["otel-margin-simulator"]) if p["id"] == 6]
    with psycopg.connect(db_url) as conn:
        now = Seeder(db_url).now()
        _, _, rows = run(conn, expand(prices["targets"][0]["rawSql"], QueryContext(start=now, end=now)))
    assert [(row[1], row[4]) for row in rows] == [("gpt-4.1-mini", Decimal("0.4")), ("gpt-4o", Decimal("2.5"))]
