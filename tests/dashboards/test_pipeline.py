"""The "otel-margin pipeline" dashboard and the pipeline alert rules against a live ``/metrics`` scrape.

No Prometheus server can run here, so each PromQL expression is parsed (``promql-parser``, Prometheus' grammar)
and checked against what a real backend exports after a load that touches every receiver, a flush, an oversize
refusal and a price sync: every metric an expression selects is in the scrape, and every label it groups by is a
label of that metric's samples.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.backend.pricing.stored import SMALL
from tests.dashboards.files import PROVISIONING, dashboards, load_yaml, panels
from tests.support.backend import AUTH, running_backend
from tests.support.spans import chat_attrs, request, span

UID = "otel-margin-pipeline"
PIPELINE_RULES = PROVISIONING / "alerting" / "pipeline-rules.yaml"
RATE_INTERVAL = "$__rate_interval"


def expressions() -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every pipeline panel target and pipeline alert query."""
    for panel in panels(dashboards()[UID]):
        for target in panel["targets"]:
            yield f"panel {panel['id']} {target['refId']}", target["expr"]
    for group in load_yaml(PIPELINE_RULES)["groups"]:
        for rule in group["rules"]:
            for node in rule["data"]:
                if node["datasourceUid"] != "__expr__":
                    yield f"rule {rule['uid']}", node["model"]["expr"]


def selected(expr: str) -> tuple[set[str], list[tuple[list[str], set[str]]]]:
    """The metric names an expression selects, and (grouping labels, metrics below) of each aggregation."""
    tree = promql_parser.parse(expr.replace(RATE_INTERVAL, "1m"))
    names: set[str] = set()
    groups: list[tuple[list[str], set[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            inner: set[str] = set()
            promql_parser.walk(node.expr, lambda n: inner.add(n.name) if isinstance(n, promql_parser.VectorSelector)
                               else None)  # fmt: skip
            groups.append((list(node.modifier.labels), inner))

    promql_parser.walk(tree, visit)
    return names, groups


def scrape_after_a_load(db_url: str, tmp_path: Path) -> str:
    with running_backend(db_url, tmp_path, price_sync_source=str(SMALL)) as backend:
        sync = backend.running.price_sync
        assert sync is not None and backend.call(sync.run_once()) is not None, "the price sync must succeed"
        with httpx.Client(base_url=backend.http_url, headers=AUTH, timeout=30) as client:
            body = request([span(100 + i, chat_attrs()) for i in range(3)]).SerializeToString()
            answer = client.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
            assert answer.status_code == 200, answer.text
            too_big = gzip.compress(b"\0" * (70 * 1_048_576))  # 70 MiB once decompressed: over the 64 MiB limit
            answer = client.post(
                "/v1/traces",
                content=too_big,
                headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
            )
            assert answer.status_code == 413
            item = {
                "request_id": "req-1",
                "timestamp": datetime.now(UTC).isoformat(),
                "customer_id": "acct_1",
                "provider": "openai",
                "model_name": "gpt-4o",
                "prompt_tokens": 10,
                "completion_tokens": 5,
            }
            answer = client.post("/v1/usage", json=[item])
            assert answer.status_code == 200, answer.text
            text = client.get("/metrics").text
    return text


@pytest.fixture
def exported(db_url: str, tmp_path: Path) -> dict[str, set[str]]:
    """Sample name -> the label names its samples carry, from a live scrape."""
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(scrape_after_a_load(db_url, tmp_path)):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def test_every_pipeline_query_selects_exported_metrics_and_labels(exported: dict[str, set[str]]) -> None:
    exprs = list(expressions())
    assert len(exprs) >= 20
    for where, expr in exprs:
        names, groups = selected(expr)
        assert names, f"{where}: selects no metric"
        missing = sorted(name for name in names if name not in exported)
        assert missing == [], f"{where}: {missing} not in the backend's /metrics ({expr})"
        for labels, inner in groups:
            for label in labels:
                if label == "le":
                    assert all(name.endswith("_bucket") for name in inner), where
                    continue
                assert all(label in exported[name] for name in inner), f"{where}: no {label!r} label on {inner}"
    # The metrics the issue names are all exported (and shown).
    shown = set().union(*(selected(expr)[0] for _, expr in exprs))
    assert {
        "otel_margin_spans_received_total",
        "otel_margin_spans_accepted_total",
        "otel_margin_spans_rejected_total",
        "otel_margin_spans_ignored_total",
        "otel_margin_requests_oversize_total",
        "otel_margin_ingest_batch_size_bucket",
        "otel_margin_ingest_flush_duration_seconds_bucket",
        "otel_margin_ingest_pending_events",
        "otel_margin_db_errors_total",
        "otel_margin_db_retries_total",
        "otel_margin_price_sync_age_seconds",
        "otel_margin_price_sync_failures_total",
        "otel_margin_budget_webhook_outbox_depth",
        "otel_margin_budget_webhook_failures_total",
        "otel_margin_budget_evaluation_lag_seconds",
        "otel_margin_stripe_events_total",
    } <= shown
    assert "otel_margin_price_sync_last_success_seconds" in exported


def test_the_pipeline_dashboard_is_laid_out_on_the_prometheus_datasource() -> None:
    board = dashboards()[UID]
    assert board["title"] == "otel-margin pipeline"
    ids = Counter(p["id"] for p in panels(board))
    assert max(ids.values()) == 1
    occupied: set[tuple[int, int]] = set()
    for panel in panels(board):
        pos = panel["gridPos"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert pos["x"] + pos["w"] <= 24 and not cells & occupied, panel["title"]
        occupied |= cells
        assert panel["datasource"] == {"type": "prometheus", "uid": "otel-margin-prometheus"}
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    datasource = load_yaml(PROVISIONING / "datasources" / "prometheus.yaml")["datasources"][0]
    assert (datasource["uid"], datasource["type"]) == ("otel-margin-prometheus", "prometheus")


def test_the_pipeline_alert_rules_cover_what_the_issue_asks_and_link_to_panels() -> None:
    rules = {rule["uid"]: rule for group in load_yaml(PIPELINE_RULES)["groups"] for rule in group["rules"]}
    assert set(rules) == {
        "otel-margin-pipeline-price-sync-failing", "otel-margin-pipeline-price-data-stale",
        "otel-margin-pipeline-rejected-share", "otel-margin-pipeline-backpressure",
        "otel-margin-pipeline-webhook-failing",
    }  # fmt: skip
    panel_ids = {p["id"] for p in panels(dashboards()[UID])}
    for uid, rule in rules.items():
        assert rule["condition"] == "C" and [n["refId"] for n in rule["data"]] == ["A", "B", "C"], uid
        assert rule["data"][0]["datasourceUid"] == "otel-margin-prometheus", uid
        assert rule["dashboardUid"] == UID and rule["panelId"] in panel_ids, uid
        assert rule["labels"]["severity"] in {"warning", "critical"}, uid
    share = rules["otel-margin-pipeline-rejected-share"]
    assert share["data"][2]["model"]["conditions"] == [{"evaluator": {"type": "gt", "params": [0.01]}}]
