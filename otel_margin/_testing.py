"""A span exporter for your tests: keeps finished spans in memory, bounded, safe across threads.

Written here rather than re-exporting the SDK's ``InMemorySpanExporter``: that one keeps every span unless told
otherwise (and only recent SDKs can be told), while this one always has a bound, counts what the bound dropped,
and behaves the same on every SDK version otel-margin supports. Its reading methods have the SDK's names, so it is
a drop-in replacement.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["InMemoryExporter"]


class InMemoryExporter(SpanExporter):
    """Keeps the most recent finished spans in memory for assertions.

    Pass it to ``instrument(exporter=...)`` (spans then go here instead of to otel-margin) or add it to any
    ``TracerProvider`` with a span processor. With ``instrument()`` spans are batched: call
    ``provider.force_flush()`` before reading.

    Args:
        max_spans: How many spans to keep; the oldest are dropped first and counted in ``dropped_spans``.
            Default: 10,000.

    Raises:
        ValueError: ``max_spans`` is below 1.
    """

    def __init__(self, max_spans: int = 10_000) -> None:
        if max_spans < 1:
            raise ValueError(f"max_spans must be at least 1, got {max_spans}")
        self._spans: deque[ReadableSpan] = deque(maxlen=max_spans)
        self._dropped = 0
        self._stopped = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Store ``spans``; after ``shutdown()`` nothing is stored and the export fails."""
        with self._lock:
            if self._stopped:
                return SpanExportResult.FAILURE
            maxlen = self._spans.maxlen or 0
            self._dropped += max(0, len(self._spans) + len(spans) - maxlen)
            self._spans.extend(spans)
        return SpanExportResult.SUCCESS

    def get_finished_spans(self) -> tuple[ReadableSpan, ...]:
        """The kept spans, oldest first."""
        with self._lock:
            return tuple(self._spans)

    @property
    def dropped_spans(self) -> int:
        """How many spans the bound has dropped since creation or the last ``clear()``."""
        with self._lock:
            return self._dropped

    def clear(self) -> None:
        """Forget the kept spans and the dropped count."""
        with self._lock:
            self._spans.clear()
            self._dropped = 0

    def shutdown(self) -> None:
        """Stop storing; spans exported later are refused. Safe to call twice."""
        with self._lock:
            self._stopped = True

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here, so this returns ``True`` at once."""
        return True
