"""A real TracerProvider set up by ``instrument()``, exporting into memory, and ways to read what it exported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import Tracer

import otel_margin


@dataclass
class Traced:
    """A provider with otel-margin's processors, and the in-memory exporter its spans end up in."""

    provider: TracerProvider
    exporter: otel_margin.InMemoryExporter

    @property
    def tracer(self) -> Tracer:
        return self.provider.get_tracer("tests.sdk")

    def spans(self) -> list[ReadableSpan]:
        """Every finished span so far (after flushing the batch processor)."""
        assert self.provider.force_flush()
        return list(self.exporter.get_finished_spans())

    def attributes(self) -> dict[str, dict[str, Any]]:
        """Attributes of each finished span, by span name (names are unique in these tests)."""
        spans = self.spans()
        by_name = {span.name: dict(span.attributes or {}) for span in spans}
        assert len(by_name) == len(spans), f"span names repeat: {[span.name for span in spans]}"
        return by_name
