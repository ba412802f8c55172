"""The ingest pipeline: normalize -> price -> batch -> durable, behind ``UsageConsumer``.

Normalizing and pricing run off the event loop, in ``lanes.py``'s threads; the batcher makes the events durable
and answers only then.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import partial

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_margin_backend.ingest.batcher import Batcher, Written
from otel_margin_backend.ingest.lanes import CpuLanes
from otel_margin_backend.normalize import Normalizer, NormalizeResult
from otel_margin_backend.normalize.provider import normalize_provider
from otel_margin_backend.pipeline.consumer import Accepted, span_count
from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.pricing import Pricer
from otel_margin_backend.storage.writer import NOT_STORED, RowOutcome

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.001
"""How long the event loop may wait for the GIL while a worker computes (CPython's default is 5 ms; answering
one HTTP request takes the GIL a dozen times, so the default adds tens of milliseconds under load)."""
DIFFERING_LOG_INTERVAL_S = 60.0
"""At most one warning per this many seconds about redeliveries that differ from the stored event (a client bug
repeats on every request; the counter in ``/v1/stats`` has the full count)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class IngestStats:
    """Running counters since start, for ``/v1/stats`` and the logs (never per span)."""

    requests: int = 0
    spans_received: int = 0
    events_stored: int = 0
    """Rows added to ``usage_events`` (equal to its row count for one backend, before retention)."""
    events_redelivered: int = 0
    """Events already stored (or repeated in their request), not stored again."""
    events_redelivered_differing: int = 0
    """Of ``events_redelivered``, those whose numbers differ from the stored event's (the stored one stays)."""
    spans_folded_by_store: int = 0
    """Spans of a call whose stored span ranks better (one row per call): not stored."""
    spans_replaced: int = 0
    """Stored spans replaced by a better span of their call (the row count is unchanged; not in events_stored)."""
    spans_rejected: int = 0
    ignored_non_genai: int = 0
    ignored_non_model_call: int = 0
    unattributed: int = 0
    estimated: int = 0
    missing_usage: int = 0
    unpriced: int = 0
    duplicate_spans: int = 0
    """Model-call spans folded into another span of the same call by the normalizer (the store folds more)."""
    refused_by_store: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for ``/v1/stats`` and the stop log."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class IngestPipeline:
    """The ``UsageConsumer`` the receivers call.

    Args:
        normalizer: Turns OTLP requests into events.
        pricer: Prices events in place.
        batcher: Makes events durable.
        clock: The server's clock, for the accepted time window (``pipeline/limits.py``).
        metrics: Where spans that are not priced are counted (the receivers count the rest).
    """

    def __init__(
        self,
        normalizer: Normalizer,
        pricer: Pricer,
        batcher: Batcher,
        *,
        clock: Callable[[], datetime] = _utc_now,
        metrics: Metrics = NOOP,
    ) -> None:
        self.normalizer = normalizer
        self.metrics = metrics
        self.pricer = pricer
        self.batcher = batcher
        self.stats = IngestStats()
        self._differing_logged_at = -DIFFERING_LOG_INTERVAL_S
        self._differing_unlogged = 0
        self._clock = clock
        self._lanes = CpuLanes()
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))

    async def consume_traces(self, request: ExportTraceServiceRequest) -> Accepted:
        """Normalize, price and store one OTLP request's model calls; return once durable."""
        now = self._clock()
        result = await self._lanes.run(span_count(request), partial(self._prepare_traces, request, now))
        self._count(result)
        events = result.events
        written = await self._store(events)
        for item in written.refused:
            result.reject(f"the database refused the span: {item.reason}")
        self.stats.spans_rejected += len(written.refused)
        duplicates, differing = _duplicates(written)
        self._warn_differing(differing, events)
        stored = len(events) - len(written.refused) - len(duplicates)
        return Accepted(stored, result.rejected, result.error_message, duplicates=len(duplicates))

    async def consume_events(self, events: Sequence[UsageEvent]) -> Accepted:
        """Price and store REST usage events; return once durable."""
        self.stats.requests += 1
        await self._lanes.run(len(events), partial(self._prepare_events, events))
        written = await self._store(events)
        reasons = tuple((item.index, item.reason) for item in written.refused)
        message = "; ".join(sorted({reason for _, reason in reasons}))
        duplicates, differing = _duplicates(written)
        self._warn_differing(differing, events)
        stored = len(events) - len(reasons) - len(duplicates)
        return Accepted(stored, len(reasons), message, reasons, duplicates=len(duplicates), differing=differing)

    def close(self) -> None:
        """Stop the worker threads (after the receivers stopped). Safe to call twice."""
        self._lanes.close()

    def _prepare_traces(self, request: ExportTraceServiceRequest, now: datetime) -> NormalizeResult:
        result = self.normalizer.normalize(request, now=now)
        self._price(result.events)
        return result

    def _prepare_events(self, events: Sequence[UsageEvent]) -> None:
        for event in events:
            if event.provider:
                event.provider = normalize_provider(event.provider)
        self._price(events)

    def _price(self, events: Sequence[UsageEvent]) -> None:
        price = self.pricer.price
        for event in events:
            price(event)

    async def _store(self, events: Sequence[UsageEvent]) -> Written:
        s = self.stats
        s.unpriced += sum(1 for e in events if e.status is UsageStatus.UNPRICED)
        written = await self.batcher.submit(events)
        s.refused_by_store += len(written.refused)
        if not written.outcomes:  # every event not refused is a new row
            s.events_stored += len(events) - len(written.refused)
            return written
        for outcome in written.outcomes:
            if outcome is RowOutcome.STORED:
                s.events_stored += 1
            elif outcome is RowOutcome.REPLACED:
                s.spans_replaced += 1
            elif outcome is RowOutcome.FOLDED:
                s.spans_folded_by_store += 1
            elif outcome is not None:
                s.events_redelivered += 1
                s.events_redelivered_differing += outcome is RowOutcome.DIFFERS
        return written

    def _warn_differing(self, differing: Sequence[int], events: Sequence[UsageEvent]) -> None:
        if not differing:
            return
        self._differing_unlogged += len(differing)
        now = time.monotonic()
        if now - self._differing_logged_at < DIFFERING_LOG_INTERVAL_S:
            return
        first = events[differing[0]]
        log.warning(
            "redelivered usage differs from the stored event; the stored one is kept (a client bug?)",
            extra={
                "differing": self._differing_unlogged,
                "request_id": first.request_id,
                "trace_id": first.trace_id.hex() if first.trace_id else None,
                "span_id": first.span_id.hex() if first.span_id else None,
            },
        )
        self._differing_logged_at, self._differing_unlogged = now, 0

    def _count(self, result: NormalizeResult) -> None:
        s = self.stats
        s.requests += 1
        s.spans_received += (
            len(result.events)
            + result.rejected
            + result.ignored_non_genai
            + result.ignored_non_model_call
            + result.duplicates
        )
        s.spans_rejected += result.rejected
        s.ignored_non_genai += result.ignored_non_genai
        s.ignored_non_model_call += result.ignored_non_model_call
        s.unattributed += result.unattributed
        s.estimated += result.estimated
        s.missing_usage += result.missing_usage
        s.duplicate_spans += result.duplicates
        ignored = self.metrics.spans_ignored
        for reason, count in (
            ("non_genai", result.ignored_non_genai),
            ("non_model_call", result.ignored_non_model_call),
            ("duplicate", result.duplicates),
        ):
            if count:
                ignored.add(count, {"reason": reason})


def _duplicates(written: Written) -> tuple[list[int], tuple[int, ...]]:
    """Indexes of the events stored already (redelivered or folded), and of those among them that differ."""
    duplicates = [i for i, o in enumerate(written.outcomes) if o in NOT_STORED]
    return duplicates, tuple(i for i in duplicates if written.outcomes[i] is RowOutcome.DIFFERS)
