"""The ingest pipeline: normalize -> price -> batch -> durable, behind ``UsageConsumer``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_margin_backend.ingest.batcher import Batcher
from otel_margin_backend.normalize import Normalizer, NormalizeResult
from otel_margin_backend.normalize.provider import normalize_provider
from otel_margin_backend.pipeline.consumer import Accepted
from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus
from otel_margin_backend.pricing import Pricer

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestStats:
    """Running counters since start, for ``/v1/stats`` and the logs (never per span)."""

    requests: int = 0
    spans_received: int = 0
    events_stored: int = 0
    spans_rejected: int = 0
    ignored_non_genai: int = 0
    ignored_non_model_call: int = 0
    unattributed: int = 0
    estimated: int = 0
    missing_usage: int = 0
    unpriced: int = 0
    duplicate_spans: int = 0
    """Model-call spans folded into another span of the same call by the normalizer (the store folds more)."""

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for ``/v1/stats`` and the stop log."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class IngestPipeline:
    """The ``UsageConsumer`` the receivers call."""

    def __init__(self, normalizer: Normalizer, pricer: Pricer, batcher: Batcher) -> None:
        self.normalizer = normalizer
        self.pricer = pricer
        self.batcher = batcher
        self.stats = IngestStats()

    async def consume_traces(self, request: ExportTraceServiceRequest) -> Accepted:
        """Normalize, price and store one OTLP request's model calls; return once durable."""
        result = self.normalizer.normalize(request)
        self._count(result)
        await self._store(result.events)
        return Accepted(len(result.events), result.rejected, result.error_message)

    async def consume_events(self, events: Sequence[UsageEvent]) -> Accepted:
        """Price and store REST usage events; return once durable."""
        self.stats.requests += 1
        for event in events:
            if event.provider:
                event.provider = normalize_provider(event.provider)
        await self._store(events)
        return Accepted(len(events))

    async def _store(self, events: Sequence[UsageEvent]) -> None:
        price = self.pricer.price
        for event in events:
            price(event)
        self.stats.unpriced += sum(1 for e in events if e.status is UsageStatus.UNPRICED)
        await self.batcher.submit(events)
        self.stats.events_stored += len(events)

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
