"""The seam between receivers and the rest of the pipeline.

Receivers decode their protocol and call one of the two methods; they never see normalization,
pricing or storage. (The Collector's ``consumer.Traces`` is the model.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_margin_backend.pipeline.events import UsageEvent


@dataclass(frozen=True, slots=True)
class Accepted:
    """What a receiver tells its client about a request whose valid part is durable."""

    stored: int
    """Usage events this request stored (a redelivery of a stored event is not stored again: see ``duplicates``)."""
    rejected: int = 0
    """Items refused for bad data; reported as OTLP partial success."""
    message: str = ""
    """Why items were rejected (human-readable, one line); empty when none were."""
    refused: tuple[tuple[int, str], ...] = ()
    """For ``consume_events``: (index in the events passed, reason) of each event the store refused for its data
    (counted in ``rejected`` too); the rest are durable."""
    duplicates: int = 0
    """Events stored already (a redelivery, a repeat in the request, or a span of a call whose stored span ranks
    better): durable, not stored again. Not an error."""
    differing: tuple[int, ...] = ()
    """Index (in the events passed) of each duplicate whose numbers differ from the stored event's: the stored
    event stays, and the sender likely has a bug (two calls under one request id, or a retry that changed)."""


def span_count(request: ExportTraceServiceRequest) -> int:
    """Spans in a decoded OTLP request."""
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


class UsageConsumer(Protocol):
    """Takes decoded input, returns once everything valid in it is durable.

    Both methods raise ``RetryableError`` when the store cannot take the events now, and
    ``PermanentError`` when the input as a whole is unusable. Items refused alone (a span over a limit, a row
    the database would not take) are reported in ``Accepted``, never raised: their neighbours are durable.
    """

    async def consume_traces(self, request: ExportTraceServiceRequest) -> Accepted:
        """Normalize, price and store the model calls of one OTLP request; return once they are durable."""
        ...

    async def consume_events(self, events: Sequence[UsageEvent]) -> Accepted:
        """Price and store usage events that arrived without OTLP (REST); return once they are durable."""
        ...
