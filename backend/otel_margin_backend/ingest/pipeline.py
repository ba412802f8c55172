"""The ingest pipeline: normalize -> price -> batch -> durable, behind ``UsageConsumer``.

Normalizing and pricing a request is CPU work whose size the client chooses (a 20 MiB body of spans, each with a
never-seen model name that takes milliseconds to resolve), so it runs in a small worker pool, never on the event
loop: ``/healthz`` and the other requests' acknowledgements keep answering while a big request is worked on.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_margin_backend.ingest.batcher import Batcher, Refused
from otel_margin_backend.normalize import Normalizer, NormalizeResult
from otel_margin_backend.normalize.provider import normalize_provider
from otel_margin_backend.pipeline.consumer import Accepted
from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.pricing import Pricer

log = logging.getLogger(__name__)

CPU_WORKERS = 2
"""Threads that normalize and price requests (the GIL makes more no faster; two keep one huge request from
queueing every other behind it)."""
SWITCH_INTERVAL_S = 0.001
"""How long the event loop may wait for the GIL while a worker computes (CPython's default is 5 ms; answering
one HTTP request takes the GIL a dozen times, so the default adds tens of milliseconds under load)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


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
        self._clock = clock
        self._cpu = ThreadPoolExecutor(max_workers=CPU_WORKERS, thread_name_prefix="ingest-cpu")
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))

    async def consume_traces(self, request: ExportTraceServiceRequest) -> Accepted:
        """Normalize, price and store one OTLP request's model calls; return once durable."""
        now = self._clock()
        result = await asyncio.get_running_loop().run_in_executor(self._cpu, self._prepare_traces, request, now)
        self._count(result)
        events = result.events
        refused = await self._store(events)
        for item in refused:
            result.reject(f"the database refused the span: {item.reason}")
        self.stats.spans_rejected += len(refused)
        return Accepted(len(events) - len(refused), result.rejected, result.error_message)

    async def consume_events(self, events: Sequence[UsageEvent]) -> Accepted:
        """Price and store REST usage events; return once durable."""
        self.stats.requests += 1
        await asyncio.get_running_loop().run_in_executor(self._cpu, self._prepare_events, events)
        refused = await self._store(events)
        reasons = tuple((item.index, item.reason) for item in refused)
        message = "; ".join(sorted({reason for _, reason in reasons}))
        return Accepted(len(events) - len(refused), len(refused), message, reasons)

    def close(self) -> None:
        """Stop the worker threads (after the receivers stopped). Safe to call twice."""
        self._cpu.shutdown(wait=True, cancel_futures=True)

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

    async def _store(self, events: Sequence[UsageEvent]) -> list[Refused]:
        self.stats.unpriced += sum(1 for e in events if e.status is UsageStatus.UNPRICED)
        refused = await self.batcher.submit(events)
        self.stats.events_stored += len(events) - len(refused)
        self.stats.refused_by_store += len(refused)
        return refused

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
