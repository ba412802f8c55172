"""The schedule that materializes runs: once at start, then every interval; failures counted, never fatal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.simulator.job import Scheduler
from otel_margin_backend.storage.database import AsyncConn
from tests.backend.simulator.calls import AT
from tests.backend.simulator.test_results import latest, seed, simulator
from tests.support.pgcluster import free_port


async def _until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


def _with_pool(
    url: str, body: Callable[[AsyncConnectionPool[AsyncConn]], Awaitable[None]], *, timeout_s: float = 30.0
) -> None:
    async def main() -> None:
        pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
            url, min_size=0, max_size=2, open=False, kwargs={"autocommit": True}, timeout=timeout_s
        )
        await pool.open()
        try:
            await body(pool)
        finally:
            await pool.close()

    asyncio.run(main())


@pytest.mark.store
def test_the_schedule_materializes_runs_and_stops_cleanly(db_url: str) -> None:
    seed(db_url)

    async def body(pool: AsyncConnectionPool[AsyncConn]) -> None:
        scheduler = Scheduler(pool, simulator(interval_s=1), clock=lambda: AT)
        await scheduler.shutdown()  # safe before start
        await scheduler.start()
        await scheduler.start()  # idempotent
        await _until(lambda: scheduler.runs >= 2)
        await scheduler.shutdown()
        await scheduler.shutdown()  # safe twice
        assert scheduler.failures == 0

    _with_pool(db_url, body)
    rows = latest(db_url)
    assert rows and {r[-1] for r in rows} == {AT}


def test_a_failed_run_is_counted_and_retried_not_fatal() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"

    async def body(pool: AsyncConnectionPool[AsyncConn]) -> None:
        scheduler = Scheduler(pool, simulator(interval_s=1), clock=lambda: AT)
        await scheduler.start()
        await _until(lambda: scheduler.failures >= 2)
        await scheduler.shutdown()
        assert scheduler.runs == 0 and scheduler.last_run_id is None

    _with_pool(url, body, timeout_s=0.2)
