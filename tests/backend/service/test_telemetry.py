"""The backend's own metrics: ``GET /metrics`` during a load run (the counters move with every request and match
``usage_events`` exactly), and the same metrics exported over OTLP/HTTP when an endpoint is set."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pricedata.sync import sync_prices
from otel_margin_backend.pricing import PriceBook
from otel_margin_backend.service.telemetry import Telemetry
from tests.backend.pricing.stored import SMALL
from tests.deploy.test_collector_batches import metric
from tests.support.backend import AUTH, running_backend
from tests.support.spans import chat_attrs, request, span

REQUESTS = 12
MODEL_CALLS = 25
"""GenAI model-call spans per request."""
OTHER_SPANS = 5
"""Non-GenAI spans per request (an HTTP handler, a database query)."""


def stored(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM usage_events").fetchone()
    assert row is not None
    return int(row[0])


def test_metrics_follow_a_load_run_and_match_the_stored_events(db_url: str, tmp_path: Path) -> None:
    with running_backend(db_url, tmp_path) as backend, httpx.Client(base_url=backend.http_url, timeout=30) as client:
        assert client.get("/metrics").status_code == 401  # the token check every non-health route has
        seen: list[tuple[float, float, float]] = []
        for r in range(REQUESTS):
            n0 = 1000 + r * (MODEL_CALLS + OTHER_SPANS)  # ids 0 and 1 are not usable (1 is every span's parent)
            spans = [span(n0 + i, chat_attrs(customer=f"acct_{i % 3}")) for i in range(MODEL_CALLS)]
            spans += [span(n0 + MODEL_CALLS + i, {"http.route": "/chat"}, name="GET /chat") for i in range(OTHER_SPANS)]
            body = request(spans).SerializeToString()
            answer = client.post("/v1/traces", content=body, headers={**AUTH, "content-type": "application/x-protobuf"})
            assert answer.status_code == 200, answer.text
            scrape = client.get("/metrics", headers=AUTH)
            assert scrape.status_code == 200
            text = scrape.text
            labels = 'receiver="otlp_http"'
            seen.append((
                metric(text, "otel_margin_spans_received_total", labels),
                metric(text, "otel_margin_spans_accepted_total", labels),
                metric(text, "otel_margin_spans_ignored_total", 'reason="non_genai"'),
            ))  # fmt: skip
            assert seen[-1][1] == stored(db_url)
        assert seen == [
            ((r + 1) * (MODEL_CALLS + OTHER_SPANS), (r + 1) * MODEL_CALLS, (r + 1) * OTHER_SPANS)
            for r in range(REQUESTS)
        ]
        assert metric(text, "otel_margin_spans_rejected_total", labels) == 0
        assert "otel_margin_ingest_batch_size_bucket" in text
        assert (
            "otel_margin_ingest_flush_duration_seconds_bucket" in text
            or "otel_margin_ingest_flush_duration_bucket" in text
        )
        assert (
            metric(text, "otel_margin_ingest_pending_events", "") == 0 or "otel_margin_ingest_pending_events " in text
        )


def test_the_metrics_are_exported_over_otlp_when_an_endpoint_is_set() -> None:
    received: list[ExportMetricsServiceRequest] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            received.append(ExportMetricsServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(ExportMetricsServiceResponse().SerializeToString())

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        telemetry = Telemetry(otlp_endpoint=f"http://127.0.0.1:{server.server_port}/v1/metrics")
        telemetry.metrics.spans_accepted.add(7, {"receiver": "otlp_grpc"})
        assert telemetry.provider.force_flush(timeout_millis=30_000)
        telemetry.shutdown()
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    points = {
        (metric.name, tuple((a.key, a.value.string_value) for a in point.attributes)): point.as_int
        for request in received
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.HasField("sum")
        for point in metric.sum.data_points
    }
    assert points[("otel_margin.spans.accepted", (("receiver", "otlp_grpc"),))] == 7
    assert points[("otel_margin.spans.accepted", (("receiver", "rest"),))] == 0
    resource = received[0].resource_metrics[0].resource
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "otel-margin"


def test_price_sync_metrics_follow_the_stored_syncs_and_count_failures(db_url: str, tmp_path: Path) -> None:
    with running_backend(db_url, tmp_path, price_sync_source=str(tmp_path / "missing.json")) as backend:
        sync = backend.running.price_sync
        assert sync is not None
        text = httpx.get(f"{backend.http_url}/metrics", headers=AUTH, timeout=30).text
        assert "otel_margin_price_sync_last_success_seconds" not in text
        assert metric(text, "otel_margin_price_sync_failures_total", "") == 0
        assert backend.call(sync.run_once()) is None  # the source does not exist
        with psycopg.connect(db_url, autocommit=True) as conn:  # another process syncs (`otel-margin prices sync`)
            sync_prices(conn, str(SMALL), base=PriceBook.bundled(), quality=QualityTable.load(), trigger="cli")
            row = conn.execute("SELECT extract(epoch FROM last_success_at)::float8 FROM price_sync_status").fetchone()
        assert row is not None
        text = httpx.get(f"{backend.http_url}/metrics", headers=AUTH, timeout=30).text
    assert metric(text, "otel_margin_price_sync_failures_total", "") == 1
    assert metric(text, "otel_margin_price_sync_last_success_seconds", "") == row[0]
