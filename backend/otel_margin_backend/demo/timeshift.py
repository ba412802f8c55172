"""Moving the demo's spans into its simulated month, with the real SDK and instrumentation unchanged.

Instrumentations stamp spans with the wall clock. The demo runs each call inside ``simulated_at(when)``, which
puts the simulated time in the OTel context (as baggage, which the baggage span processor does not copy: it
only copies ``customer.id`` and ``feature.name``). ``ShiftOnStart`` records on each span how far that time is
from the wall clock, and ``ShiftedExporter`` moves the span by that much before the real OTLP exporter sends it.
Only the SDK's public context, span-processor and exporter interfaces are used.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from opentelemetry import baggage, context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

SIMULATED_AT = "otel_margin.demo.at_ns"
SHIFT_ATTRIBUTE = "otel_margin.demo.shift_ns"


@contextmanager
def simulated_at(when: datetime) -> Iterator[None]:
    """Spans started inside the block are sent as if they started at ``when``."""
    token = context.attach(baggage.set_baggage(SIMULATED_AT, str(int(when.timestamp() * 1e9))))
    try:
        yield
    finally:
        context.detach(token)


class ShiftOnStart(SpanProcessor):
    """Moves each span's start back to the simulated time of the call, so a month of traffic can be sent now."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Shift the span's start time to the simulated time in force."""
        at = baggage.get_baggage(SIMULATED_AT, parent_context)
        if at is not None:
            span.set_attribute(SHIFT_ATTRIBUTE, int(str(at)) - (span.start_time or time.time_ns()))


class ShiftedExporter(SpanExporter):
    """Wraps the real exporter; sends each span moved to its simulated time."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Shift the spans' end times like their starts, then hand them to the wrapped exporter."""
        return self._inner.export([_moved(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter."""
        return self._inner.force_flush(timeout_millis)


def _moved(span: ReadableSpan) -> ReadableSpan:
    attributes = dict(span.attributes or {})
    value = attributes.pop(SHIFT_ATTRIBUTE, 0)
    shift = value if isinstance(value, int) else 0
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=None if span.start_time is None else span.start_time + shift,
        end_time=None if span.end_time is None else span.end_time + shift,
        instrumentation_scope=span.instrumentation_scope,
    )
