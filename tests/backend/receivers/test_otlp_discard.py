"""OTLP metrics and logs: the SDK's own exporters (HTTP and gRPC) get a success, the items are counted, nothing
is stored; and ``grpc.health.v1`` answers beside the OTLP services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult, MetricsData
from opentelemetry.sdk.resources import Resource

from tests.support.backend import AUTH, TOKEN, BackendThread, running_backend
from tests.support.rows import count
from tests.support.stores import Server

RESOURCE = Resource.create({"service.name": "all-signals-app"})
ZERO = {"metrics_requests": 0, "metric_points_discarded": 0, "logs_requests": 0, "log_records_discarded": 0}


@pytest.fixture
def backend(timescale_server: Server, tmp_path: Path) -> Iterator[tuple[BackendThread, str]]:
    url, janitor = timescale_server.new_database()
    try:
        with running_backend(url, tmp_path) as running:
            yield running, url
    finally:
        janitor.drop()


def metrics_data() -> MetricsData:
    """Five data points: a counter with two attribute sets, a histogram with one, an up-down counter with two."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(resource=RESOURCE, metric_readers=[reader]).get_meter("app")
    calls = meter.create_counter("calls")
    calls.add(1, {"route": "/a"})
    calls.add(2, {"route": "/b"})
    meter.create_histogram("latency_ms").record(12.5)
    queue = meter.create_up_down_counter("queue")
    queue.add(3, {"q": "x"})
    queue.add(-1, {"q": "y"})
    data = reader.get_metrics_data()
    assert data is not None
    return data


def log_records(n: int) -> list[ReadableLogRecord]:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("app")
    for i in range(n):
        logger.emit(body=f"something happened {i}", severity_number=SeverityNumber.WARN, severity_text="WARN")
    return list(memory.get_finished_logs())


def stats(backend: BackendThread) -> dict[str, int]:
    answer = httpx.get(f"{backend.http_url}/v1/stats", headers=AUTH, timeout=10).json()
    return {key: answer[key] for key in ZERO}


def test_the_sdk_exporters_get_a_success_and_the_items_are_counted(backend: tuple[BackendThread, str]) -> None:
    running, url = backend
    assert stats(running) == ZERO
    headers = {"authorization": f"bearer {TOKEN}"}  # the scheme in lower case, as some clients send it
    http_metrics = HttpMetricExporter(endpoint=f"{running.http_url}/v1/metrics", headers=headers)
    grpc_metrics = GrpcMetricExporter(endpoint=f"127.0.0.1:{running.grpc_port}", insecure=True, headers=headers)
    http_logs = HttpLogExporter(endpoint=f"{running.http_url}/v1/logs", headers=headers)
    grpc_logs = GrpcLogExporter(endpoint=f"127.0.0.1:{running.grpc_port}", insecure=True, headers=headers)
    try:
        assert http_metrics.export(metrics_data()) is MetricExportResult.SUCCESS
        assert grpc_metrics.export(metrics_data()) is MetricExportResult.SUCCESS
        assert http_logs.export(log_records(3)) is LogRecordExportResult.SUCCESS
        assert grpc_logs.export(log_records(4)) is LogRecordExportResult.SUCCESS
    finally:
        for exporter in (http_metrics, grpc_metrics, http_logs, grpc_logs):
            exporter.shutdown()
    assert stats(running) == {"metrics_requests": 2, "metric_points_discarded": 10, "logs_requests": 2,
                              "log_records_discarded": 7}  # fmt: skip
    assert count(url) == 0


def test_otlp_json_metrics_and_logs_are_counted_too(backend: tuple[BackendThread, str]) -> None:
    running, _ = backend
    metrics = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "a", "sum": {"dataPoints": [{"asInt": "1"}, {"asInt": "2"}]}},
        {"name": "b", "exponentialHistogram": {"dataPoints": [{"count": "1"}]}},
    ]}]}]}  # fmt: skip
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "5b8efff798038103d269b633813fc60c",
                                                             "body": {"stringValue": "x"}}]}]}]}  # fmt: skip
    with httpx.Client(base_url=running.http_url, headers=AUTH, timeout=10) as client:
        answers = [client.post("/v1/metrics", json=metrics), client.post("/v1/logs", json=logs)]
        assert [(a.status_code, a.headers["content-type"], a.json()) for a in answers] == [
            (200, "application/json", {}), (200, "application/json", {})]  # fmt: skip
        bad = client.post("/v1/logs", content=b"\x0a\xff\xff", headers={"content-type": "application/x-protobuf"})
    assert bad.status_code == 400
    assert stats(running) == {"metrics_requests": 1, "metric_points_discarded": 3, "logs_requests": 1,
                              "log_records_discarded": 1}  # fmt: skip


def test_grpc_health_answers_serving_for_the_server_and_each_otlp_service(backend: tuple[BackendThread, str]) -> None:
    running, _ = backend
    with grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "opentelemetry.proto.collector.trace.v1.TraceService",
                        "opentelemetry.proto.collector.metrics.v1.MetricsService",
                        "opentelemetry.proto.collector.logs.v1.LogsService"):  # fmt: skip
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
        with pytest.raises(grpc.RpcError) as info:
            health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        running.call(running.running.grpc_health.stopping())
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()


def test_an_empty_logs_request_is_a_success_over_grpc(backend: tuple[BackendThread, str]) -> None:
    running, _ = backend
    with grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        assert export(ExportLogsServiceRequest().SerializeToString(), metadata=list(AUTH.items()), timeout=10) == b""
