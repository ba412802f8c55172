"""Hostile input at each receiver: every bad input is a 4xx (or INVALID_ARGUMENT), a poison item fails alone, and
valid traffic sent at the same moment is stored (issue 12)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from otel_margin_backend.receivers.otlp_grpc import SERVICE
from tests.support.backend import AUTH, BackendThread
from tests.support.rows import count, usage_rows
from tests.support.spans import chat_attrs, request, span

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def usage(request_id: str, /, **overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "customer_id": "acct_1", "model_name": "gpt-4o", "prompt_tokens": 1000, "completion_tokens": 200,
        "request_id": request_id, "timestamp": NOW.isoformat(),
    }  # fmt: skip
    item.update(overrides)
    return item


def post_usage(backend: BackendThread, payload: object) -> httpx.Response:
    return httpx.post(f"{backend.http_url}/v1/usage", content=orjson.dumps(payload),
                      headers={**AUTH, "content-type": "application/json"}, timeout=30)  # fmt: skip


def raw_export(backend: BackendThread, body: bytes, metadata: list[tuple[str, str]]) -> grpc.RpcError:
    with grpc.insecure_channel(f"127.0.0.1:{backend.grpc_port}") as channel:
        export = channel.unary_unary(f"/{SERVICE}/Export")  # bytes in, bytes out
        with pytest.raises(grpc.RpcError) as err:
            export(body, metadata=metadata, timeout=30)
    return err.value


def test_an_undecodable_grpc_message_is_invalid_argument_without_a_traceback(
    backend: BackendThread, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        error = raw_export(backend, b"\x0a\xff\xff\xff", list(AUTH.items()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid OTLP ExportTraceServiceRequest" in str(error.details())
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert count(db_url) == 0


def test_the_token_is_checked_before_the_message_is_decoded(backend: BackendThread) -> None:
    error = raw_export(backend, b"\x0a\xff\xff\xff", [("authorization", "Bearer wrong")])
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_nul_customer_is_a_400_and_a_valid_request_sent_with_it_is_stored(
    backend: BackendThread, db_url: str
) -> None:
    with ThreadPoolExecutor(2) as pool:
        bad = pool.submit(post_usage, backend, usage("poison", customer_id="a\u0000b"))
        good = pool.submit(post_usage, backend, usage("valid"))
    assert bad.result().status_code == 400
    rejected = [{"index": 0, "request_id": "poison", "error": "customer_id: contains a NUL character"}]
    message = "the entry is invalid (see details): fix and send again"
    assert bad.result().json() == {"error": {"code": "INVALID_ARGUMENT", "details": rejected, "message": message}}
    assert (good.result().status_code, good.result().json()) == (
        200,
        {"accepted": 1, "duplicates": 0, "differing": [], "rejected": []},
    )
    assert [r[0] for r in usage_rows(db_url)] == ["acct_1"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"timestamp": "9999-12-31T23:00:00-14:00"}, "timestamp: timestamp is out of range"),
        ({"timestamp": "2554-07-21T00:00:00Z"}, "timestamp: timestamp is more than 1 hour after the server's clock"),
        ({"timestamp": 0}, "timestamp: timestamp is more than 5 years before the server's clock"),
        ({"customer_id": "c" * 3000}, "customer_id: is over 256 bytes"),
        ({"model_name": "é" * 129}, "model_name: is over 256 bytes"),
        ({"provider": "İ" * 100}, "provider: is over 256 bytes"),  # 200 bytes, but 300 once lower-cased
        ({"cost": "1e200000"}, "cost: cost is above 1,000,000"),
        ({"cost": "1e-40"}, "cost: cost has more than 30 decimal places"),
        ({"prompt_tokens": 10**12}, "prompt_tokens: Input should be less than or equal to 1000000000"),
        ({"request_id": "r" * 300}, "request_id: is over 256 bytes"),
    ],
)
def test_rest_items_over_a_limit_are_400_items(
    backend: BackendThread, db_url: str, overrides: dict[str, object], error: str
) -> None:
    response = post_usage(backend, [usage("bad", **overrides), usage("ok")])
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["error"]) for r in body["rejected"]] == [(0, error)]
    assert count(db_url) == 1


def test_spans_dated_2554_or_1970_are_rejected_by_partial_success(backend: BackendThread, db_url: str) -> None:
    req = request([
        span(1, chat_attrs(customer="late"), start=datetime(2554, 1, 1, tzinfo=UTC)),
        span(2, chat_attrs(customer="early"), start=datetime(1970, 1, 2, tzinfo=UTC)),
        span(3, chat_attrs(customer="now"), start=NOW),
    ])  # fmt: skip
    with grpc.insecure_channel(f"127.0.0.1:{backend.grpc_port}") as channel:
        response: ExportTraceServiceResponse = TraceServiceStub(channel).Export(req, metadata=list(AUTH.items()))
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == (
        "1 span rejected: start time is more than 1 hour after the server's clock; "
        "1 span rejected: start time is more than 5 years before the server's clock"
    )
    assert [r[0] for r in usage_rows(db_url)] == ["now"]


def _nested_kvlist(depth: int) -> str:
    # Written out by hand: JSON encoders refuse to nest this deep themselves.
    return '{"kvlistValue": {"values": [{"key": "k", "value": ' * depth + '{"intValue": "1"}' + "}]}}" * depth


@pytest.mark.parametrize(("depth", "message"), [(200, "not a valid OTLP/JSON"), (300, "not valid JSON")])
def test_deeply_nested_otlp_json_is_a_400(backend: BackendThread, depth: int, message: str) -> None:
    deep = _nested_kvlist(depth)
    body = f'{{"resourceSpans": [{{"resource": {{"attributes": [{{"key": "deep", "value": {deep}}}]}}}}]}}'
    response = httpx.post(f"{backend.http_url}/v1/traces", content=body.encode(),
                          headers={**AUTH, "content-type": "application/json"}, timeout=30)  # fmt: skip
    assert response.status_code == 400
    assert message in response.json()["message"]
