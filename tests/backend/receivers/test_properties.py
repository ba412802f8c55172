"""Property-based hostile input, one test per ingest endpoint, against the real backend and TimescaleDB (issue 12).

Each example sends a mutated copy of a valid payload (structured mutations of spans, attributes and items with
hostile values, then byte-level mutations of the encoded body) *at the same moment* as a fresh valid payload, so
the two may share a write batch. Properties:

- no answer is a 5xx, or UNKNOWN / INTERNAL / UNAVAILABLE over gRPC: bad input is a 4xx or a partial success;
- every valid payload is stored exactly once, at its exact price;
- no stored row is outside the documented limits (``docs/limits.md``), and the rollups equal the raw rows.

CI runs the ``hostile-ci`` profile (50 examples per endpoint). For a long run::

    OTEL_MARGIN_HYPOTHESIS_PROFILE=hostile-long .venv/bin/pytest -p no:cacheprovider \\
        tests/backend/receivers/test_properties.py
"""

from __future__ import annotations

import base64
import copy
import gzip
import itertools
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_margin_backend.pipeline.events import request_event_id, span_event_id
from otel_margin_backend.receivers.otlp_grpc import SERVICE
from tests.backend.storage.test_writer import mismatched
from tests.support.backend import AUTH, BackendThread, running_backend
from tests.support.spans import kv, request, span
from tests.support.stores import Server

settings.register_profile(
    "hostile-ci",
    max_examples=50,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("hostile-long", settings.get_profile("hostile-ci"), max_examples=1_000)
PROFILE = settings.get_profile(os.environ.get("OTEL_MARGIN_HYPOTHESIS_PROFILE", "hostile-ci"))

NOW = datetime.now(UTC).replace(microsecond=0)
VALID_START = NOW - timedelta(hours=1)

# (provider, model, input incl. cache, cache read, output incl. reasoning, reasoning) -> exact price (bundled data)
VALID_CALLS = [
    ("openai", "gpt-4o", 1000, 0, 200, 0, Decimal("0.0045")),  # 1000 x $2.50/M + 200 x $10/M
    ("openai", "gpt-4o-mini", 2000, 500, 100, 0, Decimal("0.0003225")),  # 1500 x .15 + 500 x .075 + 100 x .6
    ("anthropic", "claude-3-5-haiku-20241022", 1200, 0, 300, 0, Decimal("0.00216")),  # 1200 x .80 + 300 x 4
    ("openai", "o3-mini", 500, 0, 800, 600, Decimal("0.00407")),  # 500 x 1.10 + 800 x 4.40
]

# Every stored row must be inside the limits of pipeline/limits.py.
OUTSIDE_LIMITS = """
SELECT count(*) FROM usage_events
WHERE greatest(octet_length(customer_id), octet_length(feature), octet_length(provider), octet_length(model),
               octet_length(coalesce(request_model, '')), octet_length(coalesce(response_model, '')),
               octet_length(coalesce(operation, '')), octet_length(coalesce(service, '')),
               octet_length(coalesce(environment, '')), octet_length(coalesce(request_id, ''))) > 256
   OR greatest(input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens) > 1000000000
   OR least(input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens) < 0
   OR time > now() + interval '1 hour' OR time < now() - interval '1825 days'
   OR reported_cost < 0 OR reported_cost > 1000000 OR reported_cost IN ('NaN', 'Infinity')
   OR cost_total IN ('NaN', 'Infinity', '-Infinity') OR scale(trim_scale(reported_cost)) > 30
   OR EXISTS (SELECT FROM jsonb_each_text(coalesce(attributes, '{}')) WHERE octet_length(value) > 256)
"""

HTTP_OK = {200, 400, 413, 415}
GRPC_OK = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}

# --- hostile values -------------------------------------------------------------------------------------------

LENGTHS = st.sampled_from([0, 1, 63, 64, 65, 255, 256, 257, 1000, 2705, 3000, 70_000])
hostile_text = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, c: c * n, LENGTHS, st.sampled_from(["a", "é", "😀", "\x00", " ", "/", "İ"])),
    st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=10), st.text(max_size=10)),
    st.sampled_from([
        "openai/" * 36 + "gpt-4o", "litellm/openrouter/openai/gpt-4o", "9999-12-31T23:00:00-14:00",
        "NaN", "Infinity", "-1", "1e200000", "1e-20000", "0.1", "  ", "(unattributed)", "auto", "flex", "batch",
    ]),
)  # fmt: skip
hostile_int = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 10**9, 10**9 + 1, 2**63 - 1, -(2**63), 1_000_000_000_000]),
)
hostile_float = st.floats(allow_nan=True, allow_infinity=True)


def _nested(depth: int) -> AnyValue:
    value = AnyValue(int_value=1)
    for _ in range(depth):
        outer = AnyValue()
        outer.array_value.values.append(value)
        value = outer
    return value


scalar_any = st.one_of(
    hostile_text.map(lambda s: AnyValue(string_value=s)),
    hostile_int.map(lambda n: AnyValue(int_value=n)),
    hostile_float.map(lambda f: AnyValue(double_value=f)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.binary(max_size=20).map(lambda b: AnyValue(bytes_value=b)),
    st.just(AnyValue()),
)


def _array(items: list[AnyValue]) -> AnyValue:
    value = AnyValue()
    value.array_value.values.extend(items)
    return value


def _kvlist(items: list[tuple[str, AnyValue]]) -> AnyValue:
    value = AnyValue()
    value.kvlist_value.values.extend(KeyValue(key=k, value=v) for k, v in items)
    return value


hostile_any = st.one_of(
    scalar_any,
    st.recursive(
        scalar_any,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(_array),
            st.lists(st.tuples(st.text(max_size=30), inner), max_size=4).map(_kvlist),
        ),
        max_leaves=8,
    ),
    st.sampled_from([31, 32, 33, 40]).map(_nested),
    st.sampled_from(["[" * 40 + "]" * 40, '{"input_tokens": 5, "cache_read_input_tokens": 1000000000}',
                     '{"prompt_tokens": 1, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": -5}}',
                     "[" * 2000 + "]" * 2000, '{"input_tokens": ' + "9" * 5000 + "}"])
    .map(lambda s: AnyValue(string_value=s)),
)  # fmt: skip

SPAN_KEYS = [
    "customer.id", "enduser.id", "feature.name", "gen_ai.request.model", "gen_ai.response.model",
    "gen_ai.provider.name", "gen_ai.system", "gen_ai.operation.name", "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.raw", "gen_ai.usage.cost", "server.address", "openai.response.service_tier",
    "otel_margin.processing", "deployment.environment.name", "llm.usage.total_tokens", "traceloop.span.kind",
]  # fmt: skip
RESOURCE_KEYS = ["service.name", "customer.id", "feature.name", "deployment.environment.name"]

json_leaf = st.one_of(st.none(), st.booleans(), hostile_int, st.integers(), st.floats(), hostile_text)
hostile_json = st.one_of(
    json_leaf,
    st.recursive(
        json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
        max_leaves=8,
    ),
)  # fmt: skip

# --- mutations ------------------------------------------------------------------------------------------------


@st.composite
def mutate_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """A few byte-level edits: flip, insert, delete, truncate, duplicate."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, len(out)))
        if op == "flip" and at < len(out):
            out[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del out[at : at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del out[at:]
        elif op == "duplicate":
            out[at:at] = out[at : at + draw(st.integers(1, 64))]
    return bytes(out)


def _set_attribute(attributes: Any, key: str, value: AnyValue) -> None:
    for existing in attributes:
        if existing.key == key:
            existing.value.CopyFrom(value)
            return
    attributes.add(key=key, value=value)


@st.composite
def mutate_request(draw: st.DrawFn, template: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
    """Structured edits of an OTLP request: hostile attribute values, span fields, attribute floods, duplicates."""
    message = ExportTraceServiceRequest()
    message.CopyFrom(template)
    spans = message.resource_spans[0].scope_spans[0].spans
    for _ in range(draw(st.integers(1, 4))):
        target = spans[draw(st.integers(0, len(spans) - 1))]
        op = draw(st.sampled_from(["attribute", "attribute", "attribute", "remove", "field", "flood", "resource",
                                   "duplicate"]))  # fmt: skip
        if op == "attribute":
            _set_attribute(
                target.attributes, draw(st.sampled_from(SPAN_KEYS) | st.text(max_size=20)), draw(hostile_any)
            )
        elif op == "remove":
            key = draw(st.sampled_from(SPAN_KEYS))
            kept = [a for a in target.attributes if a.key != key]
            del target.attributes[:]
            target.attributes.extend(kept)
        elif op == "field":
            field = draw(st.sampled_from(["start", "trace_id", "span_id", "parent", "name", "flags"]))
            if field == "start":
                target.start_time_unix_nano = draw(
                    st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 2**64 - 1, int(NOW.timestamp() * 1e9)])
                )
            elif field in ("trace_id", "span_id", "parent"):
                setattr(target, {"parent": "parent_span_id"}.get(field, field), draw(st.binary(max_size=20)))
            elif field == "name":
                target.name = draw(hostile_text)
            else:
                target.flags = draw(st.integers(0, 2**32 - 1))
        elif op == "flood":
            target.attributes.extend(kv({f"app.{i}": i for i in range(draw(st.sampled_from([100, 16_385])))}))
        elif op == "resource":
            resource = message.resource_spans[0].resource
            _set_attribute(resource.attributes, draw(st.sampled_from(RESOURCE_KEYS)), draw(hostile_any))
        else:
            spans.add().CopyFrom(target)
    return message


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutate_json(draw: st.DrawFn, document: Any) -> Any:
    """Replace, delete or add nodes of a JSON document with hostile JSON values."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if not path:
            if op == "replace":
                doc = draw(hostile_json)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if op == "replace":
            parent[path[-1]] = draw(hostile_json)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=20))] = draw(hostile_json)
        else:
            parent.insert(path[-1], draw(hostile_json))
    return doc


def otlp_json(message: ExportTraceServiceRequest) -> dict[str, Any]:
    """OTLP/JSON of a request: canonical proto JSON with hex (not base64) trace and span ids."""
    data: dict[str, Any] = json_format.MessageToDict(message)
    for rs in data.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64decode(s[key]).hex()
    return data


def _dumps(document: Any) -> bytes:
    return json.dumps(document).encode()  # stdlib: big ints and NaN come out as hostile JSON, never an error


# --- valid payloads -------------------------------------------------------------------------------------------


@dataclass
class Valid:
    """A valid payload and what it must leave in the store: event id -> exact cost."""

    body: Any
    expected: dict[bytes, Decimal]


_ids = itertools.count(1_000_000)


def _span_attrs(call: tuple[Any, ...], customer: str) -> dict[str, str | int]:
    provider, model, inp, cached, out, reasoning, _ = call
    attrs: dict[str, str | int] = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
        "gen_ai.response.model": model, "gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out,
        "customer.id": customer, "feature.name": "property",
    }  # fmt: skip
    if cached:
        attrs["gen_ai.usage.cache_read.input_tokens"] = cached
    if reasoning:
        attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
    return attrs


def valid_spans(calls: list[tuple[Any, ...]], first: int | None = None) -> Valid:
    """Spans of ``calls`` with fresh ids, or ids from ``first`` on (a mutant's template: drawn, so replayable)."""
    spans, expected = [], {}
    for index, call in enumerate(calls):
        n = next(_ids) if first is None else first + index
        spans.append(span(n, _span_attrs(call, f"acct_{n}"), start=VALID_START))
        expected[span_event_id(n.to_bytes(16, "big"), n.to_bytes(8, "big"))] = call[-1]
    return Valid(request(spans), expected)


def valid_usage(calls: list[tuple[Any, ...]], first: int | None = None) -> Valid:
    """Usage items of ``calls`` with fresh request ids, or ids from ``first`` on (a mutant's template)."""
    items, expected = [], {}
    for index, (provider, model, inp, cached, out, reasoning, cost) in enumerate(calls):
        request_id = f"req-{next(_ids) if first is None else first + index}"
        items.append({
            "customer_id": "acct_rest", "model_name": model, "provider": provider, "prompt_tokens": inp,
            "cached_tokens": cached, "completion_tokens": out, "reasoning_tokens": reasoning,
            "request_id": request_id, "timestamp": VALID_START.isoformat(), "feature": "property",
        })  # fmt: skip
        expected[request_event_id(request_id)] = cost
    return Valid(items, expected)


calls = st.lists(st.sampled_from(VALID_CALLS), min_size=1, max_size=3)
# Mutants' ids come from the draw (never from the counter: hypothesis replays an example and must get the same
# bytes) and from their own range, so a mutant never shares an identity with a valid payload.
_mutant_ids = st.integers(0, 10**6).map(lambda k: 2_000_000_000 + 4 * k)
mutant_spans = st.builds(valid_spans, calls, _mutant_ids).flatmap(lambda v: mutate_request(v.body))
mutant_usage = st.builds(valid_usage, calls, _mutant_ids).flatmap(lambda v: mutate_json(v.body))

# --- the backend and the checks -------------------------------------------------------------------------------


@pytest.fixture
def tsdb_url(timescale_server: Server) -> Iterator[str]:
    url, janitor = timescale_server.new_database()
    yield url
    janitor.drop()


@dataclass
class Harness:
    backend: BackendThread
    url: str
    http: httpx.Client
    channel: grpc.Channel
    pool: ThreadPoolExecutor

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = self.http.post(f"{self.backend.http_url}{path}", content=body, headers={**AUTH, **headers})
        return response.status_code, response.content

    def export(self, body: bytes) -> tuple[grpc.StatusCode, bytes]:
        method = self.channel.unary_unary(f"/{SERVICE}/Export")
        try:
            return grpc.StatusCode.OK, method(body, metadata=list(AUTH.items()), timeout=60)
        except grpc.RpcError as exc:
            return exc.code(), str(exc.details()).encode()

    def together(self, valid: Callable[[], Any], mutant: Callable[[], Any]) -> tuple[Any, Any]:
        """Send both at the same moment, so they may share a write batch."""
        v, m = self.pool.submit(valid), self.pool.submit(mutant)
        return v.result(), m.result()

    def check_store(self, expected: dict[bytes, Decimal]) -> None:
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT event_id, count(*), min(cost_total), max(cost_total), min(status) FROM usage_events"
                " WHERE event_id = ANY(%s) GROUP BY event_id",
                (list(expected),),
            ).fetchall()
            outside = conn.execute(OUTSIDE_LIMITS).fetchone()
        assert {bytes(r[0]): (r[1], r[2], r[3], r[4]) for r in rows} == {
            event_id: (1, cost, cost, "priced") for event_id, cost in expected.items()
        }
        assert outside == (0,)


@pytest.fixture
def harness(tsdb_url: str, tmp_path: Path) -> Iterator[Harness]:
    with (
        running_backend(tsdb_url, tmp_path) as backend,
        httpx.Client(timeout=60) as http,
        grpc.insecure_channel(f"127.0.0.1:{backend.grpc_port}") as channel,
        ThreadPoolExecutor(2) as pool,
    ):
        yield Harness(backend, tsdb_url, http, channel, pool)
    assert mismatched(tsdb_url) == []


def _valid_http_ok(status: int, body: bytes) -> None:
    assert status == 200
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")


# --- one property test per endpoint ---------------------------------------------------------------------------


@settings(PROFILE)
@given(calls=calls, mutant=mutant_spans, data=st.data())
def test_otlp_grpc(
    harness: Harness, calls: list[tuple[Any, ...]], mutant: ExportTraceServiceRequest, data: Any
) -> None:
    body = mutant.SerializeToString()
    if data.draw(st.booleans(), label="byte-level mutation"):
        body = data.draw(mutate_bytes(body))
    valid = valid_spans(calls)
    (v_code, v_body), (m_code, _) = harness.together(
        lambda: harness.export(valid.body.SerializeToString()), lambda: harness.export(body)
    )
    event(f"mutant answered {m_code.name}")
    assert m_code in GRPC_OK
    assert v_code == grpc.StatusCode.OK
    assert not ExportTraceServiceResponse.FromString(v_body).HasField("partial_success")
    harness.check_store(valid.expected)


@settings(PROFILE)
@given(calls=calls, mutant=mutant_spans, data=st.data())
def test_otlp_http_protobuf(
    harness: Harness, calls: list[tuple[Any, ...]], mutant: ExportTraceServiceRequest, data: Any
) -> None:
    body = mutant.SerializeToString()
    headers = {"content-type": "application/x-protobuf"}
    if data.draw(st.booleans(), label="byte-level mutation"):
        body = data.draw(mutate_bytes(body))
    if data.draw(st.booleans(), label="gzip"):
        body = gzip.compress(body, mtime=0)
        headers["content-encoding"] = "gzip"
        if data.draw(st.booleans(), label="mutate the gzip stream"):
            body = data.draw(mutate_bytes(body))
    valid = valid_spans(calls)
    (v_status, v_body), (m_status, _) = harness.together(
        lambda: harness.post("/v1/traces", valid.body.SerializeToString(), {"content-type": "application/x-protobuf"}),
        lambda: harness.post("/v1/traces", body, headers),
    )
    event(f"mutant answered {m_status}")
    assert m_status in HTTP_OK
    _valid_http_ok(v_status, v_body)
    harness.check_store(valid.expected)


@settings(PROFILE)
@given(calls=calls, mutant=mutant_spans, data=st.data())
def test_otlp_http_json(
    harness: Harness, calls: list[tuple[Any, ...]], mutant: ExportTraceServiceRequest, data: Any
) -> None:
    document = otlp_json(mutant)
    if data.draw(st.booleans(), label="JSON-level mutation"):
        document = data.draw(mutate_json(document))
    body = _dumps(document)
    if data.draw(st.booleans(), label="byte-level mutation"):
        body = data.draw(mutate_bytes(body))
    valid = valid_spans(calls)
    json_headers = {"content-type": "application/json"}
    (v_status, v_body), (m_status, _) = harness.together(
        lambda: harness.post("/v1/traces", _dumps(otlp_json(valid.body)), json_headers),
        lambda: harness.post("/v1/traces", body, json_headers),
    )
    event(f"mutant answered {m_status}")
    assert m_status in HTTP_OK
    assert v_status == 200 and json.loads(v_body) == {}
    harness.check_store(valid.expected)


@settings(PROFILE)
@given(calls=calls, mutant=mutant_usage, data=st.data())
def test_rest_usage(harness: Harness, calls: list[tuple[Any, ...]], mutant: Any, data: Any) -> None:
    body = _dumps(mutant)
    if data.draw(st.booleans(), label="byte-level mutation"):
        body = data.draw(mutate_bytes(body))
    valid = valid_usage(calls)
    json_headers = {"content-type": "application/json"}
    (v_status, v_body), (m_status, _) = harness.together(
        lambda: harness.post("/v1/usage", _dumps(valid.body), json_headers),
        lambda: harness.post("/v1/usage", body, json_headers),
    )
    event(f"mutant answered {m_status}")
    assert m_status in HTTP_OK
    assert (v_status, json.loads(v_body)) == (
        200,
        {"accepted": len(valid.expected), "duplicates": 0, "differing": [], "rejected": []},
    )
    harness.check_store(valid.expected)
