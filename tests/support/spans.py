"""OTLP trace requests with GenAI spans, built from plain values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

START = datetime(2026, 11, 3, 10, 15, tzinfo=UTC)

Attr = str | int | float | bool


def kv(attrs: Mapping[str, Attr]) -> list[KeyValue]:
    out = []
    for key, value in attrs.items():
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = AnyValue(double_value=value)
        else:
            any_value = AnyValue(string_value=value)
        out.append(KeyValue(key=key, value=any_value))
    return out


def chat_attrs(
    *,
    customer: str | None = "acct_1",
    feature: str | None = "summarize",
    model: str | None = "gpt-4o",
    provider: str = "openai",
    input_tokens: int = 1200,
    output_tokens: int = 300,
    cached: int = 0,
    reasoning: int = 0,
) -> dict[str, Attr]:
    """Current OTel GenAI attributes of one chat call."""
    attrs: dict[str, Attr] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
    }
    if model is not None:
        attrs["gen_ai.request.model"] = model
        attrs["gen_ai.response.model"] = model
    if cached:
        attrs["gen_ai.usage.cache_read.input_tokens"] = cached
    if reasoning:
        attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
    if customer is not None:
        attrs["customer.id"] = customer
    if feature is not None:
        attrs["feature.name"] = feature
    return attrs


def span(n: int, attrs: Mapping[str, Attr], *, name: str = "chat gpt-4o", start: datetime = START) -> Span:
    """A span whose identity derives from ``n`` (same n, same span)."""
    start_ns = int(start.timestamp() * 1e9)
    return Span(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        parent_span_id=b"\x00" * 7 + b"\x01",
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + 1_500_000_000,
        attributes=kv(attrs),
    )


def request(spans: Sequence[Span], *, service: str = "chat-api") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(kv({"service.name": service, "deployment.environment.name": "prod"}))
    rs.scope_spans.add().spans.extend(spans)
    return req
