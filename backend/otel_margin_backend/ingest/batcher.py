"""Batching across requests: many small requests become few large, durable writes.

A receiver hands over the events of one request and waits; the batcher collects events from all
requests until ``max_events`` are pending or ``max_wait_s`` passed since the first, writes them in
one transaction, and only then releases the waiting requests. So a client is acknowledged only once
its events are durable, and the database sees batches of thousands of rows.

Backpressure: at most ``max_pending_events`` may wait; past that, ``submit`` raises
``RetryableError`` at once (the receivers answer UNAVAILABLE / 503 with a retry hint) instead of
letting memory grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from otel_margin_backend.ingest.config import IngestConfig
from otel_margin_backend.pipeline.errors import PermanentError, RetryableError
from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.storage.writer import WriteResult

log = logging.getLogger(__name__)

WriteFn = Callable[[Sequence[UsageEvent]], Awaitable[WriteResult]]


@dataclass(slots=True)
class _Pending:
    events: Sequence[UsageEvent]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Batcher:
    """Collects events from concurrent requests into batches written by ``write``."""

    def __init__(self, write: WriteFn, config: IngestConfig | None = None, *, writers: int = 2) -> None:
        """Prepare the batcher; ``start`` starts its writer tasks.

        Args:
            write: Makes one batch durable.
            config: Batch size, wait and backpressure; default ``IngestConfig()``.
            writers: Concurrent writer tasks.
        """
        config = config if config is not None else IngestConfig()
        self._write = write
        self.max_events = config.batch_max_events
        self.max_wait_s = config.batch_max_wait_ms / 1000
        self.max_pending_events = config.max_pending_events
        self._writers = writers
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._pending_events = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.batches_written = 0
        self.events_written = 0

    async def start(self) -> None:
        """Start the writer tasks; several overlap one batch's COPY with another's commit."""
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(self._run(), name=f"batch-writer-{i}") for i in range(self._writers)]

    async def submit(self, events: Sequence[UsageEvent]) -> None:
        """Return once ``events`` are durable.

        Raises:
            RetryableError: the backend is overloaded or shutting down, or the store is unavailable.
            PermanentError: the events break a table constraint.
        """
        if not events:
            return
        if self._closed:
            raise RetryableError("the backend is shutting down; retry", retry_after_s=1.0)
        if self._pending_events + len(events) > self.max_pending_events and self._pending_events > 0:
            raise RetryableError(
                f"the backend has {self._pending_events:,} events waiting to be written; retry", retry_after_s=2.0
            )
        pending = _Pending(events)
        self._pending_events += len(events)
        self._queue.put_nowait(pending)
        try:
            await asyncio.shield(pending.done)  # a cancelled request must not cancel the shared batch
        finally:
            self._pending_events -= len(events)

    async def shutdown(self) -> None:
        """Stop taking events, write what is queued, then stop. Safe to call twice or before start."""
        self._closed = True
        if not self._tasks:
            return
        await self._queue.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            count = len(items[0].events)
            deadline = loop.time() + self.max_wait_s
            while count < self.max_events:
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0 or self._closed:
                        break
                    try:
                        items.append(await asyncio.wait_for(self._queue.get(), remaining))
                    except TimeoutError:
                        break
                else:
                    items.append(self._queue.get_nowait())
                count += len(items[-1].events)
            try:
                await self._flush(items)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _flush(self, items: list[_Pending]) -> None:
        events = [e for item in items for e in item.events] if len(items) > 1 else items[0].events
        try:
            await self._write(events)
        except PermanentError as exc:
            if len(items) == 1:
                _settle(items[0], exc)
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
        for item in items:
            _settle(item, None)


def _settle(item: _Pending, error: BaseException | None) -> None:
    if item.done.done():
        return
    if error is None:
        item.done.set_result(None)
    else:
        item.done.set_exception(error)
