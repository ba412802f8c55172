"""A poison request through the real OTel SDK exporter (OTLP/gRPC, with its retries) while valid traffic flows.

One request carries a span whose customer is 3 KB and one whose customer has a NUL byte, beside a valid span.
The valid spans of every request are stored; the two poison spans are rejected permanently with their reason
(OTLP partial success, so the exporter reports success and never retries); the server sees each export once.

It runs twice: as shipped, the edge (``pipeline/limits.py``) rejects the poison before the database sees it;
with the edge check switched off, the store refuses the rows (the NUL already in psycopg's text COPY, the 3 KB name
by the database: SQLSTATE 54000) and the batcher isolates them, with the same outcome for everyone else.
"""

from __future__ import annotations

import random
import string
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_margin_backend.normalize import normalizer
from tests.backend.storage.test_writer import mismatched
from tests.support.backend import TOKEN, running_backend
from tests.support.spans import chat_attrs
from tests.support.stores import Server

_RANDOM = random.Random(3)
LONG_CUSTOMER = "".join(_RANDOM.choice(string.ascii_letters) for _ in range(3000))  # 3 KB that does not compress
NUL_CUSTOMER = "acct\x00evil"


@pytest.fixture
def tsdb_url(timescale_server: Server) -> Iterator[str]:
    url, janitor = timescale_server.new_database()
    yield url
    janitor.drop()


class Recording:
    """Keeps every response the exporter's gRPC stub received (the exporter itself discards partial success)."""

    def __init__(self, exporter: OTLPSpanExporter) -> None:
        self.responses: list[ExportTraceServiceResponse] = []
        self._stub = exporter._client
        exporter._client = self  # type: ignore[assignment]

    def Export(self, *args: Any, **kwargs: Any) -> ExportTraceServiceResponse:  # the stub's method name
        response: ExportTraceServiceResponse = self._stub.Export(*args, **kwargs)
        self.responses.append(response)
        return response


def finished_spans(customers: Sequence[str]) -> list[ReadableSpan]:
    """Spans made by the real SDK (one per customer), as a BatchSpanProcessor would hand them to the exporter."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "poison-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for customer in customers:
        with tracer.start_as_current_span("chat gpt-4o", attributes=chat_attrs(customer=customer)):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def exporter_to(grpc_port: int) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"127.0.0.1:{grpc_port}", insecure=True, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30
    )


@pytest.mark.parametrize("edge", ["edge checks", "database refuses"])
def test_poison_spans_fail_alone_and_are_never_retried(
    tsdb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edge: str
) -> None:
    if edge == "database refuses":
        monkeypatch.setattr(normalizer, "event_problem", lambda event, now, window=None: None)
    valid_batches = [finished_spans([f"acct_{b}_{i}" for i in range(5)]) for b in range(20)]
    poison_batch = finished_spans([LONG_CUSTOMER, "acct_beside_poison", NUL_CUSTOMER])
    valid_results: list[SpanExportResult] = []

    with running_backend(tsdb_url, tmp_path) as backend:
        poison_exporter = exporter_to(backend.grpc_port)
        recording = Recording(poison_exporter)
        valid_exporter = exporter_to(backend.grpc_port)

        def valid_traffic() -> None:
            for spans in valid_batches:
                valid_results.append(valid_exporter.export(spans))
                time.sleep(0.01)

        traffic = threading.Thread(target=valid_traffic)
        traffic.start()
        time.sleep(0.05)
        poison_result = poison_exporter.export(poison_batch)
        traffic.join(timeout=120)
        stats = backend.running.pipeline.stats
        requests, rejected = stats.requests, stats.spans_rejected
        poison_exporter.shutdown()
        valid_exporter.shutdown()

    assert poison_result is SpanExportResult.SUCCESS  # partial success: the exporter has nothing to retry
    assert valid_results == [SpanExportResult.SUCCESS] * 20
    assert requests == 21  # each export reached the server exactly once: no retry of anything
    assert rejected == 2
    [response] = recording.responses
    assert response.partial_success.rejected_spans == 2
    reasons = response.partial_success.error_message
    if edge == "edge checks":
        assert reasons == "1 span rejected: customer id contains a NUL character; " \
                          "1 span rejected: customer id is over 256 bytes"  # fmt: skip
    else:
        assert "cannot contain NUL" in reasons and "SQLSTATE 54000" in reasons and "index row size" in reasons
    with psycopg.connect(tsdb_url) as conn:
        stored = [r[0] for r in conn.execute("SELECT customer_id FROM usage_events ORDER BY 1").fetchall()]
    assert stored == sorted([f"acct_{b}_{i}" for b in range(20) for i in range(5)] + ["acct_beside_poison"])
    assert mismatched(tsdb_url) == []
