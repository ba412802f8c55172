"""Collector-sized batches of GenAI spans with prompt text: stored whole, or refused visibly.

The shipped gateway config batches up to ``send_batch_max_size`` spans (8,192). With 4 KB of prompt text per
span (content a Collector forwards unless told to drop it) one such batch is about 37 MB, far over the 4 MiB
gRPC default the backend used to keep. These tests send exactly that, through the OTel Python SDK's OTLP/gRPC
exporter in one request and through rotel (a real collector) batching at the gateway's size, and check that
every call is stored once; then, with the limit set low, that the refusal is logged with its size and counted
in ``otel_margin_requests_oversize_total``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.deploy.ports import HOST
from tests.deploy.test_collector import ROTEL_RETRY_FLAGS, rotel_agent, stored, wait_for_port
from tests.support.backend import AUTH, TOKEN, running_backend
from tests.support.spans import chat_attrs

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Summarize the attached contract clause by clause. " * 82  # 4,182 characters
assert len(PROMPT) >= 4096


def gateway_batch_max() -> int:
    """The shipped gateway's largest batch: ``processors.batch.send_batch_max_size``."""
    config = yaml.safe_load((ROOT / "collector-config" / "gateway.yaml").read_text())
    return int(config["processors"]["batch"]["send_batch_max_size"])


def prompt_spans(count: int) -> list[ReadableSpan]:
    """``count`` finished chat spans, each with 4 KB of prompt text (OpenLLMetry's and the spec's attributes)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chat-api"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.deploy.batches")
    for n in range(count):
        attrs = chat_attrs(customer=f"acct_{n % 7}", input_tokens=1000 + n % 100, output_tokens=100)
        attrs["gen_ai.prompt.0.role"] = "user"
        attrs["gen_ai.prompt.0.content"] = PROMPT
        with tracer.start_as_current_span("chat gpt-4o", attributes=attrs):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def metric(scrape: str, name: str, labels: str) -> float:
    """The value of one sample of a Prometheus text scrape; 0 when the series is absent."""
    for line in scrape.splitlines():
        if (line.startswith(f"{name}{{") or line.startswith(f"{name} ")) and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def scrape(http_url: str) -> str:
    response = httpx.get(f"{http_url}/metrics", headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def count_events(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM usage_events").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_a_gateway_batch_of_prompt_spans_is_stored_once_from_the_sdk_exporter(db_url: str, tmp_path: Path) -> None:
    batch = gateway_batch_max()
    assert batch == 8192
    spans = prompt_spans(batch)
    size = encode_spans(spans).ByteSize()
    assert size > 8 * 4096 * 1024 // 1000  # over 32 MB: eight times the old 4 MiB limit
    with running_backend(db_url, tmp_path) as backend:
        exporter = OTLPSpanExporter(
            endpoint=f"{HOST}:{backend.grpc_port}", insecure=True, headers={"authorization": f"Bearer {TOKEN}"},
            timeout=300,
        )  # fmt: skip
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
        assert count_events(db_url) == (batch, batch)
        text = scrape(backend.http_url)
    assert metric(text, "otel_margin_spans_received_total", 'receiver="otlp_grpc"') == batch
    assert metric(text, "otel_margin_spans_accepted_total", 'receiver="otlp_grpc"') == batch
    assert metric(text, "otel_margin_requests_oversize_total", 'receiver="otlp_grpc"') == 0


def test_an_oversize_batch_is_refused_logged_and_counted(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spans = prompt_spans(512)  # about 2.3 MB
    size = encode_spans(spans).ByteSize()
    limit = 2_097_152  # below the message, and grpcio's own limit (twice ours) above it
    with (
        caplog.at_level(logging.WARNING, logger="otel_margin_backend.receivers"),
        running_backend(db_url, tmp_path, grpc_max_message_bytes=limit) as backend,
    ):
        exporter = OTLPSpanExporter(
            endpoint=f"{HOST}:{backend.grpc_port}", insecure=True, headers={"authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )  # fmt: skip
        assert exporter.export(spans) is SpanExportResult.FAILURE
        exporter.shutdown()
        text = scrape(backend.http_url)
        assert count_events(db_url) == (0, 0)
    refusals = [r for r in caplog.records if r.getMessage() == "request refused: over the size limit"]
    # The Python exporter retries RESOURCE_EXHAUSTED a few times (a Collector does not): each attempt is one refusal.
    assert refusals
    assert {(r.__dict__["receiver"], r.__dict__["size_bytes"], r.__dict__["limit_bytes"]) for r in refusals} == {
        ("otlp_grpc", size, limit)
    }
    assert f"message of {size:,} bytes is over the backend's 2,097,152-byte limit" in refusals[0].__dict__["reason"]
    assert metric(text, "otel_margin_requests_oversize_total", 'receiver="otlp_grpc"') == len(refusals)


def test_rotel_batching_at_the_gateway_size_delivers_every_prompt_span_once(db_url: str, tmp_path: Path) -> None:
    import subprocess

    from tests.deploy.ports import free_ports

    batch = gateway_batch_max()
    with running_backend(db_url, tmp_path) as backend:
        grpc_port, http_port = free_ports(2)
        log = tmp_path / "rotel.log"
        argv = [
            str(rotel_agent()), "start",
            "--otlp-grpc-endpoint", f"{HOST}:{grpc_port}",
            "--otlp-http-endpoint", f"{HOST}:{http_port}",
            "--otlp-grpc-max-recv-msg-size-mib", "64",
            "--exporter", "otlp",
            "--otlp-exporter-endpoint", f"http://{HOST}:{backend.grpc_port}",
            "--otlp-exporter-protocol", "grpc",
            "--otlp-exporter-custom-headers", f"authorization=Bearer {TOKEN}",
            *ROTEL_RETRY_FLAGS,
            "--traces-batch-max-size", str(batch),
            "--batch-timeout", "200ms",
            "--pid-file", str(tmp_path / "rotel.pid"),
            "--log-file", str(tmp_path / "rotel-daemon.log"),
        ]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port(grpc_port, timeout_s=15, alive=process, log=log)
            provider = TracerProvider(resource=Resource.create({"service.name": "chat-api"}))
            exporter = OTLPSpanExporter(endpoint=f"{HOST}:{grpc_port}", insecure=True, timeout=60)
            provider.add_span_processor(
                BatchSpanProcessor(exporter, max_queue_size=batch, max_export_batch_size=2048, schedule_delay_millis=50)
            )
            tracer = provider.get_tracer("tests.deploy.batches")
            sent: set[bytes] = set()
            for n in range(batch):
                attrs = chat_attrs(customer=f"acct_{n % 7}", input_tokens=1000, output_tokens=100)
                attrs["gen_ai.prompt.0.content"] = PROMPT
                with tracer.start_as_current_span("chat gpt-4o", attributes=attrs) as span:
                    ctx = span.get_span_context()
                    sent.add(ctx.trace_id.to_bytes(16, "big") + ctx.span_id.to_bytes(8, "big"))
            assert provider.force_flush(timeout_millis=120_000)
            provider.shutdown()
            import time

            deadline = time.monotonic() + 180
            while len(stored(db_url)) < batch and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.2)
            rows = stored(db_url)
            assert set(rows) == sent, log.read_text(errors="replace")[-3000:]
            assert {copies for *_, copies in rows.values()} == {1}
            text = scrape(backend.http_url)
            assert metric(text, "otel_margin_requests_oversize_total", 'receiver="otlp_grpc"') == 0
            assert metric(text, "otel_margin_spans_accepted_total", 'receiver="otlp_grpc"') == batch
        finally:
            process.terminate()
            process.wait(timeout=15)
