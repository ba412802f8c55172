"""The daily bill import inside ``serve``: an asyncio task importing every provider whose admin key is set.

Every ``sync_interval_s`` (the first ``sync_first_delay_s`` after start) it imports the last ``sync_days`` days of
each configured provider (``sync.sync_bill``), in a worker thread on a connection of its own, and loads the mapping
file. Nothing here raises into the service: a failed import is logged, counted and recorded in ``bill_imports``
(the "importer failing" alert reads it), and the next run tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from otel_margin_backend.bills import sync
from otel_margin_backend.bills.config import BillsConfig
from otel_margin_backend.bills.mapping import apply_mapping_file
from otel_margin_backend.bills.store import ImportResult
from otel_margin_backend.storage.database import connect
from otel_margin_backend.storage.errors import db_errors

log = logging.getLogger(__name__)


class BillSyncJob:
    """Imports the configured providers' bills on a schedule.

    Args:
        database_url: The store's URL.
        config: The bills config.
        connect_timeout_s: How long to wait for the database per connection.
    """

    def __init__(self, database_url: str, config: BillsConfig, *, connect_timeout_s: float = 5.0) -> None:
        self._url = database_url
        self._config = config
        self._connect_timeout_s = connect_timeout_s
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        """Imports that failed since start."""

    @property
    def running(self) -> bool:
        """True while the periodic task runs (False with no admin key or ``sync_interval_s = 0``)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Load the mapping file and start the periodic task (if a provider is configured)."""
        try:
            await asyncio.to_thread(self._load_mapping)
        except Exception as exc:
            log.warning("bills mapping file not loaded: %s", exc)
        if self._config.sync_interval_s > 0 and sync.configured(self._config) and self._task is None:
            self._task = asyncio.create_task(self._run(), name="bill-sync")

    async def shutdown(self) -> None:
        """Stop the periodic task. Safe before ``start`` and twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> list[ImportResult]:
        """Import every configured provider now; return what succeeded (failures are logged and recorded)."""
        done: list[ImportResult] = []
        for provider in sync.configured(self._config):
            try:
                with db_errors():
                    done.append(await asyncio.to_thread(self._import, provider))
            except Exception as exc:
                self.failures += 1
                log.warning("bill import of %s failed: %s", provider, exc)
        return done

    async def _run(self) -> None:
        await asyncio.sleep(self._config.sync_first_delay_s)
        while True:
            await self.run_once()
            await asyncio.sleep(self._config.sync_interval_s)

    def _load_mapping(self) -> None:
        if self._config.mapping_file is None:
            return
        with db_errors(), connect(self._url, timeout_s=self._connect_timeout_s) as conn:
            apply_mapping_file(conn, self._config.mapping_file)

    def _import(self, provider: str) -> ImportResult:
        first, last = sync.default_range(self._config)
        importer = sync.create(provider, self._config)
        try:
            with connect(self._url, timeout_s=self._connect_timeout_s) as conn:
                result = sync.sync_bill(conn, importer, first, last, trigger="schedule")
                if self._config.mapping_file is not None:
                    apply_mapping_file(conn, self._config.mapping_file)
                return result
        finally:
            importer.close()
