"""``otel-margin doctor --acceptance``: each checklist item's state and evidence from stored state, and each item
turning from failing to passing when its condition is met."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from otel_margin_backend.pipeline.metrics import SECONDS_BUCKETS
from tests.backend.budgets.test_webhook import deliver, endpoint, fast
from tests.backend.cli.test_main import otel_margin
from tests.backend.revenue import stripe_fixtures as sf
from tests.backend.revenue.conftest import RevenueServer, revenue, run_cli, stripe_stub  # noqa: F401 (fixtures)
from tests.backend.revenue.stripe_stub import StripeStub
from tests.dashboards.seed import Seeder, hour_start
from tests.support.events import event, run, write
from tests.support.narrow import assert_lossless
from tests.support.stores import Server


@pytest.fixture
def tsdb_url(timescale_server: Server) -> Iterator[str]:
    url, janitor = timescale_server.new_database()
    yield url
    janitor.drop()


ITEMS = ["instrumentation", "stripe_invoices", "critical_alert", "price_sync", "ingest_latency", "alert_delivery"]


def doctor(url: str, *, fmt: str = "json", env: dict[str, str] | None = None) -> tuple[int, Any]:
    """The exit status and the checklist (JSON: by item key; table: the printed text)."""
    result = otel_margin("doctor", "--acceptance", "--format", fmt,
                         env={"OTEL_MARGIN_DATABASE_URL": url, "COLUMNS": "80", **(env or {})})  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    if fmt != "json":
        return result.returncode, result.stdout
    data = json.loads(result.stdout)
    assert [i["item"] for i in data["checklist"]] == ITEMS
    return result.returncode, {i["item"]: i for i in data["checklist"]}


def _execute(url: str, sql: str, params: tuple[object, ...] = ()) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql, params)


# -- 1. instrumentation --------------------------------------------------------------------------------------------


def test_an_entry_point_quiet_for_a_day_fails_until_it_sends_again(db_url: str) -> None:
    now = Seeder(db_url).now()
    run(write(db_url, [
        replace(event(1, time=now - timedelta(hours=2), feature="chat"), service="chat-api"),
        replace(event(2, time=now - timedelta(hours=3), feature="chat"), service="chat-api"),
        replace(event(3, time=now - timedelta(days=3), feature="nightly-digest"), service="digest-worker"),
        replace(event(4, time=now - timedelta(days=40), feature="retired"), service="old-api"),  # beyond 30 days
    ]))  # fmt: skip
    code, items = doctor(db_url)
    item = items["instrumentation"]
    assert code == 1 and item["state"] == "fail"
    assert item["services_24h"] == ["chat-api"] and item["calls_24h"] == 2 and item["entry_points_30d"] == 2
    assert [(s["service"], s["feature"]) for s in item["silent"]] == [("digest-worker", "nightly-digest")]
    assert item["evidence"].startswith(
        "1 service(s) sent 2 model call(s) in the last 24 h (chat-api). 1 of 2 entry "
        "points of the last 30 days have none: digest-worker/nightly-digest (last "
    )

    run(write(db_url, [replace(event(5, time=now - timedelta(minutes=5), feature="nightly-digest"),
                               service="digest-worker")]))  # fmt: skip
    _, items = doctor(db_url)
    assert items["instrumentation"]["state"] == "pass"
    assert items["instrumentation"]["evidence"] == (
        "2 service(s) sent 3 model call(s) in the last 24 h (chat-api, digest-worker). All 2 entry points "
        "(service/feature) of the last 30 days are live."
    )


# -- 2. Stripe invoices ----------------------------------------------------------------------------------------------


def _paid_invoice(n: int, customer: str) -> dict[str, Any]:
    lines = [sf.line(f"il_{n}", 4900 + n, invoice=f"in_{n}", start="2026-11-01", end="2026-12-01")]
    return sf.invoice(f"in_{n}", customer=customer, paid_at="2026-11-04", created="2026-11-01", lines=lines)


def test_the_stripe_sync_passes_once_five_booked_invoices_map_to_customers(
    revenue: RevenueServer,  # noqa: F811
    stripe_stub: StripeStub,  # noqa: F811
    db_url: str,
) -> None:
    _, items = doctor(db_url)
    assert items["stripe_invoices"]["state"] == "fail" and items["stripe_invoices"]["booked"] == 0

    stripe_stub.customers["cus_A"] = sf.customer("cus_A", name="Acme", email="a@a.test",
                                                 metadata={"customer_id": "acme-corp"})  # fmt: skip
    stripe_stub.customers["cus_B"] = sf.customer("cus_B", name="Beta", email="b@b.test")
    for n, customer in [(1, "cus_A"), (2, "cus_A"), (3, "cus_A"), (4, "cus_A"), (5, "cus_B")]:
        revenue.deliver_ok(sf.event("invoice.paid", _paid_invoice(n, customer), created="2026-11-04"))
    code, items = doctor(db_url)
    item = items["stripe_invoices"]
    assert code == 1 and item["state"] == "fail"
    assert (item["booked"], item["mapped"], item["unmapped"]) == (5, 4, 1)
    assert item["evidence"].startswith("4 of 5 booked Stripe invoice(s) map to a customer (need 5): ")
    assert item["evidence"].endswith("; 1 unmapped: otel-margin customers unmapped lists them.")
    assert sorted(s["invoice"] for s in item["samples"]) == ["in_1", "in_2", "in_3", "in_4"]
    assert {s["net"] for s in item["samples"]} == {"49.01", "49.02", "49.03", "49.04"}

    assert run_cli("customers", "map", "cus_B", "beta-labs", db_url=db_url).exit_code == 0
    _, items = doctor(db_url)
    item = items["stripe_invoices"]
    assert item["state"] == "pass" and (item["booked"], item["mapped"], item["unmapped"]) == (5, 5, 0)
    assert {(s["invoice"], s["customer"]) for s in item["samples"]} == {
        ("in_1", "acme-corp"), ("in_2", "acme-corp"), ("in_3", "acme-corp"), ("in_4", "acme-corp"),
        ("in_5", "beta-labs"),
    }  # fmt: skip


# -- 3 and 6. the critical alert and its delivery --------------------------------------------------------------------


def test_the_critical_alert_passes_once_the_webhook_delivered_it(db_url: str) -> None:
    seeder = Seeder(db_url)
    _, items = doctor(db_url)
    assert items["critical_alert"]["state"] == "unknown" and items["alert_delivery"]["state"] == "unknown"

    seeder.costs([("plexo-health", "clinical-summary", "91.50", hour_start(seeder.now()))])
    seeder.budget("plexo-daily", limit="100.00", customer="plexo-health", warning=None, critical=90)
    seeder.evaluate_budgets()
    code, items = doctor(db_url)
    alert = items["critical_alert"]
    assert code == 1 and alert["state"] == "fail"
    assert alert["alert"]["budget"] == "plexo-daily" and alert["alert"]["threshold_percent"] == "90"
    assert alert["alert"]["delivery"] == "pending" and alert["alert"]["attempts"] == 0
    assert alert["evidence"].startswith("Last critical alert: plexo-daily (customer=plexo-health) crossed 90 % at ")
    assert alert["evidence"].endswith("; not sent: no budget webhook is configured (OTEL_MARGIN_BUDGET_WEBHOOK_URL).")
    assert items["alert_delivery"]["state"] == "unknown"
    assert items["alert_delivery"]["evidence"].startswith(
        "No budget webhook is configured (OTEL_MARGIN_BUDGET_WEBHOOK_URL); 0 delivered, 0 refused, 1 pending."
    )

    with endpoint([400]) as hook:  # the endpoint refuses it: failed
        asyncio.run(deliver(db_url, fast(hook.url)))
    code, items = doctor(db_url, env={"OTEL_MARGIN_BUDGET_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    assert code == 1 and items["critical_alert"]["state"] == "fail" and items["alert_delivery"]["state"] == "fail"
    assert "; the webhook refused it: HTTP 400" in items["critical_alert"]["evidence"]
    assert items["alert_delivery"]["evidence"].startswith(
        "No budget webhook delivery succeeded (0 delivered, 1 refused"
    )

    seeder.budget("plexo-daily-2", limit="100.00", customer="plexo-health", warning=None, critical=90)
    seeder.evaluate_budgets()
    with endpoint() as hook:
        result = asyncio.run(deliver(db_url, fast(hook.url)))
        assert result.delivered == 1
        assert [b["budget"] for b in hook.delivered] == ["plexo-daily-2"]
    _, items = doctor(db_url, env={"OTEL_MARGIN_BUDGET_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    assert items["critical_alert"]["state"] == "pass" and items["critical_alert"]["alert"]["delivery"] == "delivered"
    assert "; the webhook delivered it at " in items["critical_alert"]["evidence"]
    delivery = items["alert_delivery"]
    assert delivery["state"] == "pass" and (delivery["delivered"], delivery["failed"]) == (1, 1)
    assert delivery["evidence"].startswith("The budget webhook delivered plexo-daily-2's critical crossed notification")


# -- 4. price sync ---------------------------------------------------------------------------------------------------


def _attempts(url: str, ok: int, *, failed: int = 0) -> None:
    _execute(url, "INSERT INTO price_sync_attempts (attempted_at, source, trigger, outcome, price_version,"
                  " duration_ms, error) SELECT now() - interval '1 minute' * g, 'https://prices.example/d.json',"
                  " 'schedule', 'ok', 'genai-prices data sha256:0123456789ab', 100, NULL"
                  " FROM generate_series(1, %s) g", (ok,))  # fmt: skip
    if failed:
        _execute(url, "INSERT INTO price_sync_attempts (attempted_at, source, trigger, outcome, duration_ms, error)"
                      " SELECT now() - interval '2 days', 'https://prices.example/d.json', 'schedule', 'failed', 80,"
                      " 'https://prices.example/d.json: HTTP 503 Service Unavailable' FROM generate_series(1, %s)",
                 (failed,))  # fmt: skip


def test_the_price_sync_passes_from_a_success_rate_of_99_9_percent(db_url: str) -> None:
    _, items = doctor(db_url)
    assert items["price_sync"]["state"] == "unknown" and items["price_sync"]["attempts"] == 0

    _attempts(db_url, 998, failed=1)
    _execute(db_url, "INSERT INTO price_sync_attempts (attempted_at, source, trigger, outcome, duration_ms, error)"
                     " VALUES (now() - interval '8 days', 'x', 'cli', 'failed', 1, 'older than 7 days')")  # fmt: skip
    code, items = doctor(db_url)
    item = items["price_sync"]
    assert code == 1 and item["state"] == "fail"
    assert (item["attempts"], item["succeeded"], item["failed"], item["success_pct"]) == (999, 998, 1, "99.899")
    assert "998 of 999 attempt(s) since " in item["evidence"]
    assert item["evidence"].endswith(
        " succeeded (99.899 %, need 99.9 %); last failure "
        f"{item['last_failure_at'][:10]} {item['last_failure_at'][11:16]} UTC: "
        "https://prices.example/d.json: HTTP 503 Service Unavailable."
    )

    _attempts(db_url, 1)
    _, items = doctor(db_url)
    item = items["price_sync"]
    assert item["state"] == "pass"
    assert (item["attempts"], item["succeeded"], item["failed"], item["success_pct"]) == (1000, 999, 1, "99.900")


# -- 5. ingest latency -----------------------------------------------------------------------------------------------


def _latency(url: str, counts: list[int], *, requests: int, max_s: float) -> None:
    _execute(url, "INSERT INTO ingest_latency (window_start, events, requests, counts, max_s)"
                  " VALUES (now() - interval '1 minute', %s, %s, %s, %s)",
             (sum(counts), requests, counts, max_s))  # fmt: skip


def test_the_bounds_in_sql_are_the_metric_buckets(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT ingest_latency_bounds_s()").fetchone()
    assert row is not None and [float(b) for b in row[0]] == list(SECONDS_BUCKETS)


def test_the_median_latency_passes_below_a_second_and_fails_above(db_url: str) -> None:
    _, items = doctor(db_url)
    assert items["ingest_latency"]["state"] == "unknown"

    # 100 events: 40 within 0.25 s, 40 in (0.5, 1] s, 20 in (1, 2.5] s. The 50th event is the 10th of the 40 in
    # (0.5, 1]: 0.5 + 0.5 * 10 / 40 = 0.625 s.
    _latency(db_url, [0, 0, 0, 0, 0, 0, 40, 0, 40, 20, 0, 0, 0], requests=12, max_s=1.8)
    code, items = doctor(db_url)
    item = items["ingest_latency"]
    assert item["state"] == "pass" and code == 1  # other items fail
    assert (item["events"], item["requests"], item["median_s"], item["within_1s_pct"]) == (100, 12, "0.625000",
                                                                                           "80.000")  # fmt: skip
    assert item["evidence"] == ("Median receive -> stored 625.0 ms over 100 event(s) in 12 request(s) of the last "
                                "24 h; 80 % within 1 s; slowest 1.80 s.")  # fmt: skip

    # 60 more in (1, 2.5] s: the 80th event of 160 is the last of the 40 in (0.5, 1]: 0.5 + 0.5 * 40 / 40 = 1 s.
    _latency(db_url, [0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0], requests=3, max_s=2.2)
    _, items = doctor(db_url)
    item = items["ingest_latency"]
    assert item["state"] == "fail" and item["median_s"] == "1.000000" and item["events"] == 160
    assert item["within_1s_pct"] == "50.000"


# -- the demo, at 80 columns and as JSON -----------------------------------------------------------------------------


def test_the_demo_data_lists_every_item_with_its_evidence(tsdb_url: str, tmp_path: Path) -> None:
    env = {"OTEL_MARGIN_DATABASE_URL": tsdb_url, "OTEL_MARGIN_DATA_DIR": str(tmp_path), "OTEL_MARGIN_HTTP_PORT": "0",
           "OTEL_MARGIN_GRPC_PORT": "0", "COLUMNS": "80"}  # fmt: skip
    demo = otel_margin("demo", "--days", "3", "--no-serve", env=env, timeout_s=300)
    assert demo.returncode == 0, demo.stderr

    code, items = doctor(tsdb_url)
    with psycopg.connect(tsdb_url) as conn:
        services = [r[0] for r in conn.execute(
            "SELECT DISTINCT coalesce(service, '(no service)') FROM usage_events"
            " WHERE time > now() - interval '24 hours' ORDER BY 1").fetchall()]  # fmt: skip
        calls = conn.execute("SELECT count(*) FROM usage_events WHERE time > now() - interval '24 hours'").fetchone()
        stored = conn.execute("SELECT count(*) FROM usage_events").fetchone()
        pairs = conn.execute("SELECT count(DISTINCT (service, feature)) FROM usage_events").fetchone()
    assert calls is not None and stored is not None and pairs is not None
    assert items["instrumentation"]["services_24h"] == services and items["instrumentation"]["calls_24h"] == calls[0]
    assert items["instrumentation"]["entry_points_30d"] == pairs[0]
    # The demo books its subscriptions as manual revenue, not Stripe invoices; its budgets warn, nothing is critical
    # and no webhook is configured.
    assert items["stripe_invoices"]["state"] == "fail" and items["stripe_invoices"]["booked"] == 0
    assert items["critical_alert"]["state"] == "unknown" and items["alert_delivery"]["state"] == "unknown"
    # Every call the demo sent went through the batcher, which timed it: the backend wrote what it measured.
    latency = items["ingest_latency"]
    assert latency["events"] >= stored[0]  # a span the exporter sent again is timed again, stored once
    median = Decimal(latency["median_s"])
    assert median <= Decimal(latency["max_s"])  # interpolated in its bucket, never above the slowest
    assert latency["state"] == ("pass" if median < 1 else "fail")  # how fast depends on the machine: not asserted
    assert items["price_sync"]["state"] in ("unknown", "pass", "fail")  # the demo's serve may not have synced yet
    assert code == 1  # the Stripe item fails

    code_table, table = doctor(tsdb_url, fmt="table")
    assert code_table == code
    assert all(len(line) <= 80 for line in table.splitlines())
    assert_lossless(table, {"Item": [items[k]["title"] for k in ITEMS], "State": [items[k]["state"] for k in ITEMS],
                            "Evidence": [items[k]["evidence"] for k in ITEMS]})  # fmt: skip


def test_json_needs_acceptance(db_url: str) -> None:
    result = otel_margin("doctor", "--format", "json", env={"OTEL_MARGIN_DATABASE_URL": db_url})
    assert result.returncode == 2 and "use table, or json with --acceptance" in result.stderr
