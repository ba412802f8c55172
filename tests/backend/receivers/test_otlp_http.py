"""OTLP/HTTP: protobuf and JSON bodies, gzip, limits and bad input, answered per the OTLP spec."""

from __future__ import annotations

import gzip

import httpx
import orjson
import psycopg
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.support.backend import AUTH, BackendThread
from tests.support.rows import count, usage_rows
from tests.support.spans import chat_attrs, request, span

PROTO = {"content-type": "application/x-protobuf", **AUTH}
JSON = {"content-type": "application/json", **AUTH}


def post(backend: BackendThread, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{backend.http_url}/v1/traces", content=body, headers=headers, timeout=30)


def status_of(response: httpx.Response) -> status_pb2.Status:
    if response.headers["content-type"].startswith("application/json"):
        return json_format.ParseDict(response.json(), status_pb2.Status())
    return status_pb2.Status.FromString(response.content)


def test_protobuf_with_gzip(backend: BackendThread, db_url: str) -> None:
    req = request([span(1, chat_attrs(input_tokens=500, output_tokens=20, cached=200))])
    response = post(backend, gzip.compress(req.SerializeToString()), {**PROTO, "content-encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    assert usage_rows(db_url) == [("acct_1", "summarize", "openai", "gpt-4o", 500, 200, 20, 0, "priced")]


def test_otlp_json_with_hex_ids_and_integer_enums(backend: BackendThread, db_url: str) -> None:
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "parentSpanId": "EEE19B7EC3C1B173",
                                "name": "chat gpt-4o",
                                "kind": 3,
                                "startTimeUnixNano": "1762164900000000000",
                                "endTimeUnixNano": "1762164901000000000",
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1500"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 42}},
                                    {"key": "customer.id", "value": {"stringValue": "acct_json"}},
                                ],
                                "someFutureField": {"ignored": True},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    response = post(backend, orjson.dumps(body), JSON)
    assert response.status_code == 200, response.text
    assert response.json() == {}
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT trace_id, span_id, customer_id, input_tokens, output_tokens FROM usage_events")
        assert row.fetchall() == [
            (
                bytes.fromhex("5b8efff798038103d269b633813fc60c"),
                bytes.fromhex("eee19b7ec3c1b174"),
                "acct_json",
                1500,
                42,
            )
        ]


def test_partial_success_over_http(backend: BackendThread, db_url: str) -> None:
    req = request([span(1, chat_attrs()), span(2, chat_attrs(output_tokens=-1))])
    response = post(backend, req.SerializeToString(), PROTO)
    assert response.status_code == 200
    body = ExportTraceServiceResponse.FromString(response.content)
    assert body.partial_success.rejected_spans == 1
    assert "output" in body.partial_success.error_message
    assert count(db_url) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"\x0a\xff\xff\xff", PROTO, 400, "not a valid OTLP protobuf"),
        (b"{not json", JSON, 400, "not valid JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON, 400, "is not hex"),
        (b'{"resourceSpans": "many"}', JSON, 400, "not a valid OTLP/JSON"),
        (b"<xml/>", {"content-type": "text/xml", **AUTH}, 415, "unsupported Content-Type 'text/xml'"),
        (b"\x1f\x8b garbage", {**PROTO, "content-encoding": "gzip"}, 400, "not valid gzip"),
        (b"", {"content-type": "application/x-protobuf"}, 401, "missing Authorization header"),
    ],
)
def test_bad_requests_get_a_status_and_a_reason(
    backend: BackendThread, db_url: str, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    response = post(backend, body, headers)
    assert response.status_code == status
    assert message in status_of(response).message
    assert count(db_url) == 0


def test_a_gzip_bomb_is_refused_after_decompression(backend: BackendThread, db_url: str) -> None:
    bomb = gzip.compress(b"\x00" * (70 * 1_048_576))  # 70 MiB of zeros in ~70 KiB
    assert len(bomb) < 200_000
    response = post(backend, bomb, {**PROTO, "content-encoding": "gzip"})
    assert response.status_code == 413
    assert "64 MiB limit after decompression" in status_of(response).message


def test_a_span_with_10000_attributes_is_taken_like_any_other(backend: BackendThread, db_url: str) -> None:
    attrs = {**chat_attrs(input_tokens=7, output_tokens=3), **{f"app.attr.{i}": i for i in range(10_000)}}
    response = post(backend, request([span(1, attrs)]).SerializeToString(), PROTO)
    assert response.status_code == 200
    assert usage_rows(db_url) == [("acct_1", "summarize", "openai", "gpt-4o", 7, 0, 3, 0, "priced")]


def test_absurd_token_counts_are_rejected(backend: BackendThread, db_url: str) -> None:
    req = request([span(1, chat_attrs(input_tokens=10**15)), span(2, chat_attrs(customer="ok"))])
    body = ExportTraceServiceResponse.FromString(post(backend, req.SerializeToString(), PROTO).content)
    assert body.partial_success.rejected_spans == 1
    assert [r[0] for r in usage_rows(db_url)] == ["ok"]
