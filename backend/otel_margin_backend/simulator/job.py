"""The schedule that materializes a simulation for dashboards every ``interval_s``.

``Scheduler.start()`` runs ``Scheduler.run()`` as a task: one run at once, then one per interval. A failed run
(database down, a bad price book) is logged and counted, and the next interval tries again; it never stops the
service. ``shutdown()`` cancels the task; it is safe before ``start()`` and safe twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.simulator.results import asave_run
from otel_margin_backend.simulator.simulator import Simulator
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors

log = logging.getLogger(__name__)


class Scheduler:
    """Materializes the simulator's full run (every feature and customer, default window) on a schedule.

    Args:
        pool: The service's connection pool (open while the scheduler runs).
        simulator: The simulator; its config's ``interval_s`` and ``keep_runs`` apply.
        clock: The current time (tests pin it). Default: UTC now.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConn],
        simulator: Simulator,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._simulator = simulator
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        """Runs materialized since start."""
        self.failures = 0
        """Runs that failed since start."""
        self.last_run_id: int | None = None
        """Id of the last run written."""

    async def run_once(self) -> int:
        """Simulate and write one run now.

        Returns:
            The run's id.
        """
        config = self._simulator.config
        async with self._pool.connection() as conn:
            simulation = await self._simulator.asimulate(conn, at=self._clock())
            run_id = await asave_run(conn, simulation, keep_runs=config.keep_runs)
        self.runs += 1
        self.last_run_id = run_id
        return run_id

    async def run(self) -> None:
        """Run forever: once now, then every ``interval_s``; failures are logged and retried next time."""
        interval_s = self._simulator.config.interval_s
        while True:
            try:
                with db_errors():  # a database error is logged as the store's one line
                    await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad run must not stop the schedule
                self.failures += 1
                log.warning("simulator run failed; retrying in %s s: %s", interval_s, exc)
            await asyncio.sleep(interval_s)

    async def start(self) -> None:
        """Start the schedule (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="simulator-schedule")
            log.info("simulator schedule started", extra={"interval_s": self._simulator.config.interval_s})

    async def shutdown(self) -> None:
        """Stop the schedule; safe before ``start`` and safe twice. A run in progress is abandoned."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log.info("simulator schedule stopped", extra={"runs": self.runs, "failures": self.failures})
