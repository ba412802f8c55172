"""Builders for real OTLP protobuf requests from plain Python values, shared by the normalize tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

START_NS = 1_763_900_000_123_456_789
"""2025-11-23T12:13:20.123456789Z: every built span starts here unless told otherwise."""
TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")


def any_value(value: object) -> AnyValue:
    """The ``AnyValue`` an OTel SDK would send for a Python value (bool before int, as the SDKs check)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, Sequence):
        result = AnyValue()
        result.array_value.values.extend(any_value(item) for item in value)
        return result
    if isinstance(value, Mapping):
        result = AnyValue()
        result.kvlist_value.values.extend(key_values(value))
        return result
    if value is None:
        return AnyValue()
    raise TypeError(f"no AnyValue for {value!r}")


def key_values(attributes: Mapping[str, object]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


@dataclass
class SpanSpec:
    """One span to build; ids are small integers for readability."""

    name: str = "chat gpt-4o"
    attributes: Mapping[str, object] = field(default_factory=dict)
    span_id: int = 1
    parent_id: int | None = None
    trace_id: bytes = TRACE_ID
    start_ns: int = START_NS
    flags: int = 0
    events: Sequence[tuple[str, Mapping[str, object]]] = ()


def span_id_bytes(number: int) -> bytes:
    return number.to_bytes(8, "big")


def build_span(spec: SpanSpec) -> Span:
    span = Span(
        trace_id=spec.trace_id,
        span_id=span_id_bytes(spec.span_id),
        name=spec.name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=spec.start_ns,
        end_time_unix_nano=spec.start_ns + 1_500_000_000,
        flags=spec.flags,
    )
    if spec.parent_id is not None:
        span.parent_span_id = span_id_bytes(spec.parent_id)
    span.attributes.extend(key_values(spec.attributes))
    for name, attributes in spec.events:
        event = span.events.add(name=name, time_unix_nano=spec.start_ns + 1)
        event.attributes.extend(key_values(attributes))
    return span


def build_request(
    *spans: SpanSpec, resource: Mapping[str, object] | None = None, scope: str = "test.instrumentation"
) -> ExportTraceServiceRequest:
    """A request with one resource and one scope holding ``spans``, serialized and parsed back like a receiver."""
    group = ResourceSpans()
    group.resource.attributes.extend(key_values(resource if resource is not None else {"service.name": "chat-api"}))
    scope_spans = group.scope_spans.add()
    scope_spans.scope.name = scope
    scope_spans.spans.extend(build_span(spec) for spec in spans)
    request = ExportTraceServiceRequest(resource_spans=[group])
    return ExportTraceServiceRequest.FromString(request.SerializeToString())
