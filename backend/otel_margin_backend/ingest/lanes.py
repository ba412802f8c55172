"""Where the ingest's CPU work runs: two lanes of one thread each, the usual requests in one, slow ones beside it.

Normalizing and pricing a request is CPU work whose size the client chooses (a 20 MiB body of spans, each with a
never-seen model name that takes milliseconds to resolve), so it never runs on the event loop: ``/healthz`` and
the other requests' acknowledgements keep answering while a big request is worked on.

Under the GIL a second thread computes nothing more. When two threads took turns on every request, they and the
event loop handed the interpreter lock to each other more often: 10-15 % more CPU per span and less throughput
(``docs/benchmarks.md``). So the usual requests share one thread, and the second lane takes what would hold them
up: a request of more than ``LARGE_REQUEST_SPANS`` spans, and whatever arrives while the first lane has been on
one request for more than ``SLOW_REQUEST_S``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

LARGE_REQUEST_SPANS = 4_096
"""Requests with more spans than this go to the second lane (80 ms of CPU and more; a Collector's default batch
is 8,192 spans, an SDK's 512)."""
SLOW_REQUEST_S = 0.05
"""A first lane busy on one request for longer than this sends the next requests to the second lane (a usual
request of 500 model calls takes 10-15 ms)."""


class CpuLanes:
    """Runs CPU work off the event loop in one of two single-thread lanes. ``close`` stops them."""

    def __init__(self, *, large_request_spans: int = LARGE_REQUEST_SPANS, slow_request_s: float = SLOW_REQUEST_S):
        self.large_request_spans = large_request_spans
        self.slow_request_s = slow_request_s
        self._first = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-cpu")
        self._second = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-cpu-2")
        self._busy_since: float | None = None
        """When the first lane started its current request (written by its thread; None while it is idle)."""

    async def run(self, spans: int, work: Callable[[], T]) -> T:
        """The result of ``work`` for a request of ``spans`` spans, computed in a lane's thread."""
        loop = asyncio.get_running_loop()
        since = self._busy_since
        if spans > self.large_request_spans or (since is not None and time.monotonic() - since > self.slow_request_s):
            return await loop.run_in_executor(self._second, work)
        return await loop.run_in_executor(self._first, self._timed, work)

    def close(self) -> None:
        """Stop both threads, dropping work not started. Safe to call twice."""
        self._first.shutdown(wait=True, cancel_futures=True)
        self._second.shutdown(wait=True, cancel_futures=True)

    def _timed(self, work: Callable[[], T]) -> T:
        self._busy_since = time.monotonic()
        try:
            return work()
        finally:
            self._busy_since = None
