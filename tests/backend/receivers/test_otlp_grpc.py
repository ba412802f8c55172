"""OTLP/gRPC: the real grpcio client against the receiver, rows checked in the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from tests.support.backend import AUTH, BackendThread, running_backend
from tests.support.rows import count, usage_rows
from tests.support.spans import chat_attrs, request, span


@pytest.fixture
def stub(backend: BackendThread) -> Iterator[TraceServiceStub]:
    with grpc.insecure_channel(
        f"127.0.0.1:{backend.grpc_port}", options=[("grpc.max_send_message_length", 64 * 1_048_576)]
    ) as channel:
        yield TraceServiceStub(channel)


def metadata() -> list[tuple[str, str]]:
    return list(AUTH.items())


def test_spans_become_rows_with_exact_tokens(stub: TraceServiceStub, backend: BackendThread, db_url: str) -> None:
    req = request(
        [
            span(1, chat_attrs(customer="acct_1", input_tokens=1200, output_tokens=300, cached=1000, reasoning=64)),
            span(
                2,
                chat_attrs(customer="acct_2", feature="search", model="gpt-4o-mini", input_tokens=80, output_tokens=5),
            ),
        ]
    )
    response = stub.Export(req, metadata=metadata(), compression=grpc.Compression.Gzip)
    assert not response.HasField("partial_success")
    rows = usage_rows(db_url)
    assert sorted(rows) == [
        ("acct_1", "summarize", "openai", "gpt-4o", 1200, 1000, 300, 64, "priced"),
        ("acct_2", "search", "openai", "gpt-4o-mini", 80, 0, 5, 0, "priced"),
    ]
    # Redelivery (a client retry) changes nothing.
    stub.Export(req, metadata=metadata())
    assert count(db_url) == 2


def test_no_or_wrong_token_is_unauthenticated(stub: TraceServiceStub, db_url: str) -> None:
    for md in ([], [("authorization", "Bearer nope")]):
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(request([span(1, chat_attrs())]), metadata=md)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert count(db_url) == 0


def test_an_empty_request_is_a_success(stub: TraceServiceStub) -> None:
    response = stub.Export(ExportTraceServiceRequest(), metadata=metadata())
    assert not response.HasField("partial_success")


def test_bad_spans_are_rejected_through_partial_success_and_the_rest_kept(stub: TraceServiceStub, db_url: str) -> None:
    req = request(
        [
            span(1, chat_attrs(customer="good")),
            span(2, chat_attrs(input_tokens=-5)),
            span(3, chat_attrs(model=None)),
            span(4, {"http.method": "GET"}, name="GET /health"),  # not GenAI: accepted, ignored
        ]
    )
    response = stub.Export(req, metadata=metadata())
    assert response.partial_success.rejected_spans == 2
    message = response.partial_success.error_message
    assert "1 span rejected" in message and "model" in message and "input" in message
    assert [r[0] for r in usage_rows(db_url)] == ["good"]


def test_over_4_mib_is_taken_under_the_64_mib_default(stub: TraceServiceStub, db_url: str) -> None:
    big = span(1, {**chat_attrs(), "padding": "x" * (5 * 1_048_576)})
    response = stub.Export(request([big]), metadata=metadata())
    assert not response.HasField("partial_success")
    assert count(db_url) == 1


def test_over_the_limit_is_resource_exhausted_naming_size_and_limit(db_url: str, tmp_path: Path) -> None:
    big = request([span(1, {**chat_attrs(), "padding": "x" * (5 * 1_048_576)})])
    with (
        running_backend(db_url, tmp_path, grpc_max_message_bytes=4 * 1_048_576) as backend,
        grpc.insecure_channel(
            f"127.0.0.1:{backend.grpc_port}", options=[("grpc.max_send_message_length", 64 * 1_048_576)]
        ) as channel,
        pytest.raises(grpc.RpcError) as err,
    ):
        TraceServiceStub(channel).Export(big, metadata=metadata(), compression=grpc.Compression.Gzip)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.value.details() == (
        f"message of {big.ByteSize():,} bytes is over the backend's 4,194,304-byte limit: send smaller batches "
        "(the Collector's send_batch_max_size) or raise OTEL_MARGIN_GRPC_MAX_MESSAGE_BYTES"
    )  # the size after decompression: the limit protects memory, not the network
    assert count(db_url) == 0
