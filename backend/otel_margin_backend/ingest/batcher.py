"""Group commit across requests: many small requests become few large, durable writes.

A receiver hands over the events of one request and waits. A batch is written as soon as a writer is free: it
takes everything that arrived while the previous writes ran, up to ``max_events`` (a request is never split; one
larger than the cap is written alone), writes it in one transaction, and only then releases the waiting requests.
So under low load a request is written at once (no timer to wait out), under high load the batches grow with the
time a write takes, and a client is acknowledged only once its events are durable.

A second writer starts a write beside a running one only for a batch worth it (``OVERLAP_MIN_EVENTS``). A write costs
the server about 1 ms of CPU whatever its size (four statements, a transaction, the pool's check), so two writers
taking turns on small batches spent the CPU the receivers needed: with 95 % non-GenAI traffic every request of ~25
model calls became a write of its own. Waiting for the running write costs a request at most one write's time, and
under pressure both writers overlap one batch's COPY with the other's commit as before.

``max_wait_s`` (``batch_max_wait_ms``) is an upper bound on holding a batch open, never a floor; group commit holds
none open, so it delays nothing (before, every batch below the cap waited it out: 4 senders of 500 spans never
filled 5,000).

Backpressure: at most ``max_pending_events`` may wait; past that, ``submit`` raises
``RetryableError`` at once (the receivers answer UNAVAILABLE / 503 with a retry hint) instead of
letting memory grow.

Poison isolation: when the database refuses a batch for its data (``PermanentError``), the batch is written
again one request at a time, so the other requests are stored as if the bad one had never shared their batch.
The refused request is then bisected: its halves are written separately, recursively, until the refused rows
are found (``max_isolation_writes`` bounds the extra writes; past it, what is left of a failing half is refused
whole). ``submit`` returns those rows with the database's reason, the receivers report them by partial success
(OTLP) or as 400 items (REST), and the rest of the request is durable. Never "retry": the same rows would fail
again forever. Edge validation (``pipeline/limits.py``) keeps this path for what it cannot foresee.

``submit`` also tells each event's ``RowOutcome`` (stored, redelivered, redelivered with other numbers, folded into
another span of its call): the writer's per-batch outcomes are sliced back to the requests that shared the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from otel_margin_backend.ingest.config import IngestConfig
from otel_margin_backend.ingest.latency import LatencyTally
from otel_margin_backend.pipeline.errors import PermanentError, RetryableError
from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.storage.writer import RowOutcome, WriteResult

log = logging.getLogger(__name__)

WriteFn = Callable[[Sequence[UsageEvent]], Awaitable[WriteResult]]

OVERLAP_MIN_EVENTS = 1_000
"""A write starts beside a running one only for at least this many waiting events (or a full batch, if smaller)."""
MAX_ISOLATION_WRITES = 64
"""Most extra writes spent finding the refused rows of one request (bisection needs about 2 log2(n) per row)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """An event of a submitted request that the database refused for its data."""

    index: int
    """Its position in the events passed to ``submit``."""
    reason: str
    """The database's one-line reason."""


@dataclass(frozen=True, slots=True)
class Written:
    """What became of a submitted request's events."""

    refused: list[Refused]
    """The events the database refused (index and reason), in order; empty when every event is durable."""
    outcomes: tuple[RowOutcome | None, ...] = ()
    """Per event, what the store did with it (None for a refused one); empty when every event is a new row."""


@dataclass(slots=True)
class _Pending:
    events: Sequence[UsageEvent]
    done: asyncio.Future[Written] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    received: float = field(default_factory=time.monotonic)
    """When the request's events reached the batcher (the start of its receive -> stored latency)."""


class Batcher:
    """Collects events from concurrent requests into batches written by ``write``."""

    def __init__(
        self,
        write: WriteFn,
        config: IngestConfig | None = None,
        *,
        writers: int = 2,
        max_isolation_writes: int = MAX_ISOLATION_WRITES,
        metrics: Metrics = NOOP,
        latency: LatencyTally | None = None,
    ) -> None:
        """Prepare the batcher; ``start`` starts its writer tasks.

        Args:
            write: Makes one batch durable.
            config: Batch size, wait and backpressure; default ``IngestConfig()``.
            writers: Writer tasks; more than one write at a time only for batches of ``OVERLAP_MIN_EVENTS``.
            max_isolation_writes: Extra writes allowed to find the refused rows of one request.
            metrics: Where batch sizes, flush durations, latencies and pending events are reported.
            latency: Where each stored request's receive -> stored latency is counted (``ingest/latency.py``).
        """
        config = config if config is not None else IngestConfig()
        self._write = write
        self.max_isolation_writes = max_isolation_writes
        self.max_events = config.batch_max_events
        self.overlap_min_events = min(OVERLAP_MIN_EVENTS, self.max_events)
        self.max_wait_s = config.batch_max_wait_ms / 1000
        self.max_pending_events = config.max_pending_events
        self._writers = writers
        self._queue: deque[_Pending] = deque()
        self._queued_events = 0
        """Events in ``_queue`` (waiting for a writer, not being written)."""
        self._ready = asyncio.Event()
        """Set when a request is queued; the free writers wake and the first takes the batch (beside a running
        write, only a batch of ``overlap_min_events``)."""
        self._drained = asyncio.Event()
        self._drained.set()
        self._writing = 0
        self._pending_events = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.batches_written = 0
        self.events_written = 0
        self._metrics = metrics
        self.latency = latency if latency is not None else LatencyTally()
        metrics.watch("pending", lambda: float(self._pending_events))

    async def start(self) -> None:
        """Start the writer tasks; under load several overlap one batch's COPY with another's commit."""
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(self._run(), name=f"batch-writer-{i}") for i in range(self._writers)]

    async def submit(self, events: Sequence[UsageEvent]) -> Written:
        """Return once ``events`` are durable, except those the database refused for their data.

        Args:
            events: The events of one request.

        Returns:
            The refused events (index and reason), in order, and each event's outcome.

        Raises:
            RetryableError: the backend is overloaded or shutting down, or the store is unavailable.
        """
        if not events:
            return Written([])
        if self._closed:
            raise RetryableError("the backend is shutting down; retry", retry_after_s=1.0)
        if self._pending_events + len(events) > self.max_pending_events and self._pending_events > 0:
            raise RetryableError(
                f"the backend has {self._pending_events:,} events waiting to be written; retry", retry_after_s=2.0
            )
        pending = _Pending(events)
        self._pending_events += len(events)
        self._queued_events += len(events)
        self._queue.append(pending)
        self._drained.clear()
        self._ready.set()
        try:
            return await asyncio.shield(pending.done)  # a cancelled request must not cancel the shared batch
        finally:
            self._pending_events -= len(events)

    async def shutdown(self) -> None:
        """Stop taking events, write what is queued, then stop. Safe to call twice or before start."""
        self._closed = True
        if not self._tasks:
            return
        self._ready.set()  # idle writers see the close; busy ones write what is queued first
        await self._drained.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _run(self) -> None:
        while True:
            while not self._queue or (self._writing and self._queued_events < self.overlap_min_events):
                if self._closed and not self._queue:
                    return
                self._ready.clear()
                await self._ready.wait()
            items = self._take()
            self._writing += 1
            try:
                await self._flush(items)
            finally:
                self._writing -= 1
                if not self._queue and not self._writing:
                    self._drained.set()

    def _take(self) -> list[_Pending]:
        """The next batch: the oldest request, then every waiting one that fits under ``max_events``."""
        queue = self._queue
        first = queue.popleft()
        items = [first]
        count = len(first.events)
        while queue and count + len(queue[0].events) <= self.max_events:
            item = queue.popleft()
            items.append(item)
            count += len(item.events)
        self._queued_events -= count
        return items

    async def _flush(self, items: list[_Pending]) -> None:
        events = [e for item in items for e in item.events] if len(items) > 1 else items[0].events
        started = time.perf_counter()
        try:
            result = await self._write(events)
        except PermanentError as exc:
            if len(items) == 1:
                await self._isolate(items[0], exc)
                return
            # One request's bad rows must not fail the others that shared its batch.
            for item in items:
                await self._flush([item])
            return
        except RetryableError as exc:
            for item in items:
                _settle(item, exc)
            return
        except Exception as exc:  # never leave a request hanging; the receiver maps it to "retry"
            log.exception("batch write failed")
            for item in items:
                _settle(item, RetryableError(f"writing usage failed: {type(exc).__name__}"))
            return
        self.batches_written += 1
        self.events_written += len(events)
        self._metrics.batch_size.record(len(events))
        self._metrics.flush_duration.record(time.perf_counter() - started)
        stored = time.monotonic()
        offset = 0
        for item in items:
            self._stored(item, stored)
            end = offset + len(item.events)
            _settle(item, Written([], result.outcomes[offset:end]))
            offset = end

    async def _isolate(self, item: _Pending, exc: PermanentError) -> None:
        """Store what the database takes of a refused request; settle it with the rows it refused."""
        refused: list[Refused] = []
        outcomes: list[RowOutcome | None] = [RowOutcome.STORED] * len(item.events)
        budget = [self.max_isolation_writes]
        try:
            await self._bisect(item.events, 0, exc, refused, budget, outcomes)
        except RetryableError as error:
            _settle(item, error)
            return
        except Exception as error:  # never leave a request hanging; the receiver maps it to "retry"
            log.exception("batch write failed")
            _settle(item, RetryableError(f"writing usage failed: {type(error).__name__}"))
            return
        log.warning(
            "the database refused usage rows",
            extra={"refused": len(refused), "events": len(item.events), "reason": refused[0].reason if refused else ""},
        )
        for position in refused:
            outcomes[position.index] = None
        self._stored(item, time.monotonic())
        _settle(item, Written(refused, tuple(outcomes)))

    def _stored(self, item: _Pending, at: float) -> None:
        seconds = at - item.received
        self._metrics.ingest_latency.record(seconds)
        self.latency.add(seconds, len(item.events))

    async def _bisect(
        self,
        events: Sequence[UsageEvent],
        offset: int,
        exc: PermanentError,
        refused: list[Refused],
        budget: list[int],
        outcomes: list[RowOutcome | None],
    ) -> None:
        """``events`` (at ``offset`` in their request) were refused with ``exc``: write what can be written."""
        if len(events) == 1:
            refused.append(Refused(offset, str(exc)))
            return
        middle = len(events) // 2
        for start, part in ((0, events[:middle]), (middle, events[middle:])):
            if budget[0] <= 0:  # out of writes: what is left of a refused block is refused whole
                refused.extend(Refused(offset + start + i, str(exc)) for i in range(len(part)))
                continue
            budget[0] -= 1
            try:
                written = await self._write(part)
            except PermanentError as part_exc:
                await self._bisect(part, offset + start, part_exc, refused, budget, outcomes)
                continue
            for i in range(len(part)):
                outcomes[offset + start + i] = written.outcome(i)
            self.batches_written += 1
            self.events_written += len(part)


def _settle(item: _Pending, outcome: Written | BaseException) -> None:
    if item.done.done():
        return
    if isinstance(outcome, BaseException):
        item.done.set_exception(outcome)
    else:
        item.done.set_result(outcome)
