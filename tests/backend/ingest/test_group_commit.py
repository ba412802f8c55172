"""Group commit: a batch is written as soon as a writer is free, with everything that arrived meanwhile.

The write function below is a gate: each call records its batch and waits until the test opens it, so the tests
assert on what was written when (batches, order, settled requests), never on wall-clock time. The event loop's
clock is frozen: a batcher that waited for its timer would never write at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_margin_backend.ingest.batcher import Batcher, Written
from otel_margin_backend.ingest.config import IngestConfig
from otel_margin_backend.pipeline.errors import RetryableError
from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.storage.writer import WriteResult
from tests.support.events import event


class Gate:
    """A write function that records each batch and finishes it only when told to."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self._gates: list[asyncio.Event] = []

    async def write(self, events: Sequence[UsageEvent]) -> WriteResult:
        self.batches.append([int.from_bytes(e.span_id, "big") for e in events])
        gate = asyncio.Event()
        self._gates.append(gate)
        await gate.wait()
        return WriteResult(len(events), 0)

    def open(self, index: int) -> None:
        self._gates[index].set()


def _request(*numbers: int) -> list[UsageEvent]:
    return [event(n) for n in numbers]


async def _turns(count: int = 20) -> None:
    """Let the event loop run every task that is ready, without letting any time pass."""
    for _ in range(count):
        await asyncio.sleep(0)


def _frozen(coro: Coroutine[Any, Any, None]) -> None:
    async def main() -> None:
        asyncio.get_running_loop().time = lambda: 0.0  # type: ignore[method-assign]
        await coro

    asyncio.run(main())


def _batcher(gate: Gate, *, writers: int = 1, max_events: int = 5_000, max_pending: int = 200_000) -> Batcher:
    config = IngestConfig(batch_max_events=max_events, batch_max_wait_ms=10_000, max_pending_events=max_pending)
    return Batcher(gate.write, config, writers=writers)


def test_a_single_request_is_written_at_once_and_acknowledged_only_after_its_write() -> None:
    async def scenario() -> None:
        gate = Gate()
        batcher = _batcher(gate)
        await batcher.start()
        request = asyncio.create_task(batcher.submit(_request(1, 2)))
        await _turns()
        assert gate.batches == [[1, 2]]  # written with the 10 s timer untouched (the clock is frozen)
        assert not request.done()  # not acknowledged while the write runs
        gate.open(0)
        await _turns()
        assert request.result() == Written([])
        await batcher.shutdown()

    _frozen(scenario())


def test_requests_that_arrive_during_a_write_share_the_next_batch() -> None:
    async def scenario() -> None:
        gate = Gate()
        batcher = _batcher(gate)
        await batcher.start()
        first = asyncio.create_task(batcher.submit(_request(1)))
        await _turns()
        later = [asyncio.create_task(batcher.submit(_request(n, n + 1))) for n in (10, 20, 30)]
        await _turns()
        assert gate.batches == [[1]]  # the one writer is busy: the three wait
        gate.open(0)
        await _turns()
        assert gate.batches == [[1], [10, 11, 20, 21, 30, 31]]
        assert first.done() and not any(task.done() for task in later)
        gate.open(1)
        await _turns()
        assert all(task.result() == Written([]) for task in later)
        await batcher.shutdown()

    _frozen(scenario())


def test_a_second_writer_starts_only_for_a_full_batch() -> None:
    async def scenario() -> None:
        gate = Gate()
        batcher = _batcher(gate, writers=2, max_events=3)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit(_request(1)))]
        await _turns()
        tasks.append(asyncio.create_task(batcher.submit(_request(2))))
        await _turns()
        assert gate.batches == [[1]]  # one event waits: the free writer leaves it for the next batch
        gate.open(0)
        await _turns()
        assert gate.batches == [[1], [2]]  # the first writer, free again, takes it
        tasks += [asyncio.create_task(batcher.submit(_request(*numbers))) for numbers in ((3, 4), (5,))]
        await _turns()
        assert gate.batches == [[1], [2], [3, 4, 5]]  # a full batch is waiting: the second writer takes it at once
        tasks.append(asyncio.create_task(batcher.submit(_request(6))))
        await _turns()
        gate.open(2)  # the second write finishes first; the first still writes, so one waiting event is left
        await _turns()
        assert gate.batches == [[1], [2], [3, 4, 5]]
        assert [task.done() for task in tasks] == [True, False, True, True, False]
        gate.open(1)  # the first writer is free: no write is running, so it takes the one event
        await _turns()
        assert gate.batches == [[1], [2], [3, 4, 5], [6]]
        gate.open(3)
        await _turns()
        assert all(task.result() == Written([]) for task in tasks)
        await batcher.shutdown()

    _frozen(scenario())


def test_the_size_cap_holds_and_a_request_is_never_split() -> None:
    async def scenario() -> None:
        gate = Gate()
        batcher = _batcher(gate, max_events=5)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit(_request(1)))]
        await _turns()
        for numbers in ((10, 11), (20, 21), (30, 31), (40, 41, 42, 43, 44, 45, 46)):
            tasks.append(asyncio.create_task(batcher.submit(_request(*numbers))))
        await _turns()
        for index in range(4):
            gate.open(index)
            await _turns()
        assert [len(batch) for batch in gate.batches] == [1, 4, 2, 7]  # 2+2 fit under 5; 7 goes alone, whole
        assert all(task.result() == Written([]) for task in tasks)
        await batcher.shutdown()

    _frozen(scenario())


def test_backpressure_refuses_at_once_while_the_pending_events_are_at_the_limit() -> None:
    async def scenario() -> None:
        gate = Gate()
        batcher = _batcher(gate, max_pending=3)
        await batcher.start()
        first = asyncio.create_task(batcher.submit(_request(1, 2)))
        await _turns()
        with pytest.raises(RetryableError, match="2 events waiting"):
            await batcher.submit(_request(3, 4))
        gate.open(0)
        await _turns()
        assert first.result() == Written([])
        await batcher.shutdown()

    _frozen(scenario())


def test_shutdown_writes_what_is_queued_then_stops() -> None:
    async def scenario() -> None:
        gate = Gate()
        batcher = _batcher(gate)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit(_request(n))) for n in (1, 2)]
        await _turns()
        assert gate.batches == [[1, 2]]  # submitted in one turn: the free writer took both
        tasks.append(asyncio.create_task(batcher.submit(_request(3))))
        await _turns()
        stopping = asyncio.create_task(batcher.shutdown())
        await _turns()
        with pytest.raises(RetryableError, match="shutting down"):
            await batcher.submit(_request(4))
        gate.open(0)
        await _turns()
        gate.open(1)
        await _turns()
        assert gate.batches == [[1, 2], [3]]
        assert stopping.done() and all(task.result() == Written([]) for task in tasks)

    _frozen(scenario())


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=15),
    cap=st.integers(min_value=1, max_value=20),
    writers=st.integers(min_value=1, max_value=3),
)
def test_every_event_is_written_once_in_order_in_batches_under_the_cap(
    sizes: list[int], cap: int, writers: int
) -> None:
    async def scenario() -> None:
        gate = Gate()
        batcher = _batcher(gate, writers=writers, max_events=cap)
        await batcher.start()
        blocker = asyncio.create_task(batcher.submit(_request(100_000)))
        await _turns()
        numbers = iter(range(1, 1_000))
        requests = [[next(numbers) for _ in range(size)] for size in sizes]
        tasks = [asyncio.create_task(batcher.submit(_request(*r))) for r in requests]
        opened = 0
        while not all(task.done() for task in tasks):
            await _turns()
            while opened < len(gate.batches):
                gate.open(opened)
                opened += 1
        await blocker
        await batcher.shutdown()
        batches = gate.batches[1:] if gate.batches[0] == [100_000] else gate.batches
        written = [n for batch in batches for n in batch if n != 100_000]
        assert sorted(written) == [n for r in requests for n in r]  # each once
        starts = {r[0]: len(r) for r in requests}
        for batch in batches:
            assert len(batch) <= cap or (len(batch) == starts.get(batch[0]))  # over the cap only alone
        if writers == 1:
            assert written == [n for r in requests for n in r]  # one writer keeps arrival order

    _frozen(scenario())
