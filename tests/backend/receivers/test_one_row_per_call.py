"""One provider call exported by two instrumentations is one row, whichever backend gets which span first.

Two real backends (receivers, pipeline, writer) on their own ports share one database, as two replicas behind a
load balancer would. The spans are shaped as each instrumentation exports them: the ``anthropic`` client tracing
itself (spec names, inclusive input, cache read and creation), OpenLLMetry's Anthropic instrumentor, Logfire's
Anthropic span without ``gen_ai.usage.raw`` (exclusive input, no cache counts), and pydantic-ai's ``chat`` span
around the client's own span.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.backend.pricing.oracle import oracle
from tests.backend.storage.test_writer import mismatched
from tests.support.backend import AUTH, BackendThread, running_backend
from tests.support.spans import START, Attr, kv

PROTO = {"content-type": "application/x-protobuf", **AUTH}
RESPONSE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
BAGGAGE = {"customer.id": "acme", "feature.name": "support"}  # what the otel_margin SDK stamps on every span
CALL = {  # one call: 50 uncached input + 4,096 cache read + 1,104 cache write, 180 output
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "gen_ai.response.id": RESPONSE_ID,
}
ANTHROPIC_OWN: dict[str, Attr] = {  # scope "anthropic": the client traces itself
    **CALL,
    "gen_ai.provider.name": "anthropic",
    "gen_ai.usage.input_tokens": 5250,
    "gen_ai.usage.output_tokens": 180,
    "gen_ai.usage.cache_read.input_tokens": 4096,
    "gen_ai.usage.cache_creation.input_tokens": 1104,
    "server.address": "api.anthropic.com",
    **BAGGAGE,
}
OPENLLMETRY: dict[str, Attr] = {  # scope "opentelemetry.instrumentation.anthropic" (>= 0.55)
    **CALL,
    "gen_ai.provider.name": "anthropic",
    "gen_ai.usage.input_tokens": 5250,  # the instrumentor sums input + cache read + cache creation
    "gen_ai.usage.output_tokens": 180,
    "gen_ai.usage.total_tokens": 5430,
    "gen_ai.usage.cache_read.input_tokens": 4096,
    "gen_ai.usage.cache_creation.input_tokens": 1104,
    "llm.request.type": "chat",
    "traceloop.association.properties.customer_id": "acme",
    **BAGGAGE,
}
LOGFIRE_NO_RAW: dict[str, Attr] = {  # scope "logfire": Anthropic's own (exclusive) input_tokens, no cache counts
    **CALL,
    "gen_ai.system": "anthropic",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.usage.input_tokens": 50,
    "gen_ai.usage.output_tokens": 180,
    **BAGGAGE,
}
PYDANTIC_AI_CHAT: dict[str, Attr] = {  # scope "pydantic-ai"
    **CALL,
    "gen_ai.system": "anthropic",
    "gen_ai.usage.input_tokens": 5250,
    "gen_ai.usage.output_tokens": 180,
    "gen_ai.usage.details.cache_read_tokens": 4096,
    "gen_ai.usage.details.cache_write_tokens": 1104,
    "gen_ai.usage.details.input_tokens": 50,
    "gen_ai.usage.details.output_tokens": 180,
    "operation.cost": 0.0082188,
    **BAGGAGE,
}
PYDANTIC_AI_AGENT: dict[str, Attr] = {  # the agent run: the run's usage, never priced
    "gen_ai.operation.name": "invoke_agent",
    "gen_ai.agent.name": "support",
    "gen_ai.system": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 5250,
    "gen_ai.usage.output_tokens": 180,
    **BAGGAGE,
}
EXPECTED_COST = oracle(
    "anthropic",
    "claude-sonnet-4-5-20250929",
    at=START,
    input_tokens=5250,
    cache_read_tokens=4096,
    cache_write_tokens=1104,
    output_tokens=180,
).total_price


def trace_id(n: int) -> bytes:
    return (0x0AF7651916CD43DD8448EB211C800000 + n).to_bytes(16, "big")


def make_span(trace: int, span: int, parent: int | None, name: str, attrs: Mapping[str, Attr], delay_ms: int) -> Span:
    start = START + timedelta(milliseconds=delay_ms)
    start_ns = int(start.timestamp()) * 1_000_000_000 + start.microsecond * 1000
    return Span(
        trace_id=trace_id(trace),
        span_id=span.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent is not None else b"",
        name=name,
        kind=Span.SPAN_KIND_CLIENT if parent is not None else Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + 2_000_000_000 - delay_ms * 2_000_000,
        attributes=kv(attrs),
    )


def export(*scoped: tuple[str, Sequence[Span]]) -> ExportTraceServiceRequest:
    """One SDK export: the app's resource, one scope per instrumentation."""
    request = ExportTraceServiceRequest()
    group = request.resource_spans.add()
    group.resource.attributes.extend(
        kv({"service.name": "support-bot", "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": "python"})
    )
    for scope, spans in scoped:
        scope_spans = group.scope_spans.add()
        scope_spans.scope.name = scope
        scope_spans.spans.extend(spans)
    return request


def post(backend: BackendThread, request: ExportTraceServiceRequest) -> None:
    response = httpx.post(
        f"{backend.http_url}/v1/traces", content=request.SerializeToString(), headers=PROTO, timeout=30
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def backends(db_url: str, tmp_path: Path) -> Iterator[tuple[BackendThread, BackendThread]]:
    """Two backend processes' worth of receivers, pipelines and writers, sharing one database."""
    with (
        running_backend(db_url, tmp_path / "one") as one,
        running_backend(db_url, tmp_path / "two") as two,
    ):
        assert one.http_port != two.http_port
        yield one, two


ROW = (
    "SELECT get_byte(trace_id, 15), get_byte(span_id, 7), customer_id, feature, provider, model, input_tokens,"
    " cache_read_tokens, cache_write_tokens, output_tokens, status, cost_total, reported_cost, call_detail"
    " FROM usage_events ORDER BY trace_id"
)


def rows(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(row) for row in conn.execute(ROW).fetchall()]


def snapshot(url: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        return tuple(
            conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4, 5").fetchall()  # type: ignore[misc]
            for table in ("usage_events", "usage_hourly", "usage_daily", "usage_calls")
        )


def call_row(trace: int, span: int, reported: Decimal | None, detail: int) -> tuple[object, ...]:
    return (
        trace, span, "acme", "support", "anthropic", "claude-sonnet-4-5-20250929", 5250, 4096, 1104, 180, "priced",
        EXPECTED_COST, reported, detail,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("other_scope", "other", "winner"),
    [
        # As detailed and as many tokens: the tie goes to the smaller span id, the instrumentor's wrapping span (10).
        ("opentelemetry.instrumentation.anthropic", OPENLLMETRY, 10),
        # Logfire's span lost the cache counts: the client's own span (11) is the more detailed, and is kept.
        ("logfire", LOGFIRE_NO_RAW, 11),
    ],
    ids=["openllmetry", "logfire-without-raw"],
)
def test_two_instrumentations_two_backends_both_orders_one_row(
    backends: tuple[BackendThread, BackendThread],
    db_url: str,
    other_scope: str,
    other: dict[str, Attr],
    winner: int,
) -> None:
    one, two = backends

    def exports(trace: int) -> tuple[ExportTraceServiceRequest, ExportTraceServiceRequest]:
        outer = make_span(
            trace, 10, 1, "anthropic.chat" if other is OPENLLMETRY else "chat claude-sonnet-4-5", other, 1
        )
        own = make_span(trace, 11, 10, "chat claude-sonnet-4-5", ANTHROPIC_OWN, 2)
        return export((other_scope, [outer])), export(("anthropic", [own]))

    other_a, own_a = exports(1)  # call 1: the other instrumentation's span reaches backend one first
    post(one, other_a)
    post(two, own_a)
    other_b, own_b = exports(2)  # call 2: the client's own span reaches backend one first
    post(one, own_b)
    post(two, other_b)

    assert rows(db_url) == [call_row(1, winner, None, 4), call_row(2, winner, None, 4)]
    assert mismatched(db_url) == []
    with psycopg.connect(db_url) as conn:
        rolled = conn.execute("SELECT calls, input_tokens, cost FROM usage_daily").fetchall()
    assert rolled == [(2, 10500, 2 * EXPECTED_COST)]

    # Redelivery of both spans of both calls, each to the other backend: nothing changes.
    before = snapshot(db_url)
    for backend, request in ((two, other_a), (one, own_a), (two, own_b), (one, other_b)):
        post(backend, request)
    assert snapshot(db_url) == before


def pydantic_ai_spans(trace: int) -> tuple[list[Span], list[Span]]:
    """pydantic-ai's agent and chat spans, and the anthropic client's own span nested in the chat span."""
    agent = make_span(trace, 1, None, "invoke_agent support", PYDANTIC_AI_AGENT, 0)
    chat = make_span(trace, 2, 1, "chat claude-sonnet-4-5", PYDANTIC_AI_CHAT, 1)
    own = make_span(trace, 3, 2, "chat claude-sonnet-4-5", ANTHROPIC_OWN, 2)
    return [agent, chat], [own]


def test_pydantic_ai_on_anthropic_in_one_request_or_split_across_backends(
    backends: tuple[BackendThread, BackendThread], db_url: str
) -> None:
    one, two = backends
    # Call 1: one export holding all three spans.
    pydantic_1, own_1 = pydantic_ai_spans(1)
    together = export(("pydantic-ai", pydantic_1), ("anthropic", own_1))
    post(one, together)
    # Call 2: pydantic-ai's spans to backend one, then the client's span to backend two; call 3 the other way round.
    pydantic_2, own_2 = pydantic_ai_spans(2)
    split_2 = (export(("pydantic-ai", pydantic_2)), export(("anthropic", own_2)))
    post(one, split_2[0])
    post(two, split_2[1])
    pydantic_3, own_3 = pydantic_ai_spans(3)
    split_3 = (export(("pydantic-ai", pydantic_3)), export(("anthropic", own_3)))
    post(one, split_3[1])
    post(two, split_3[0])

    # Same detail and tokens; pydantic-ai's chat span also reports a cost, so it is kept. The agent run is unpriced.
    reported = Decimal("0.0082188")
    assert rows(db_url) == [call_row(n, 2, reported, 4) for n in (1, 2, 3)]
    assert mismatched(db_url) == []
    stats = httpx.get(f"{one.http_url}/v1/stats", headers=AUTH, timeout=10).json()
    assert (stats["duplicate_spans"], stats["ignored_non_model_call"]) == (1, 2)

    before = snapshot(db_url)
    for backend in (one, two):
        for request in (together, *split_2, *split_3):
            post(backend, request)
    assert snapshot(db_url) == before
