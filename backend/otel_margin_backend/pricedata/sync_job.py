"""The daily price sync inside ``serve``: an asyncio task that keeps the running price book current.

``PriceSyncJob.start()`` puts the last good stored version in force (else the bundled data; a configured
``data_file`` pins the data and turns the sync off), records it as the active version and publishes its
prices, facts and quality scores for dashboards. Then a task:

- every ``sync_interval_s`` (first after ``sync_first_delay_s``) syncs from ``sync_source``
  (``sync.sync_prices``) and swaps the new book into the running ``CurrentPriceBook``;
- every ``reload_interval_s`` in between, swaps in a version another process activated
  (``otel-margin prices sync`` run by hand, another replica's sync).

Database work, fetching and building a book (CPU-bound: genai-prices validates every model) run
in a worker thread on a connection of their own, so the event loop keeps serving; the swap itself is
one reference assignment on the loop. Nothing here raises into the service: a failed sync is logged and
recorded in ``price_sync_attempts``, and the book in force stays. A sync that failed because the database was
unreachable cannot be recorded then: the job keeps it (at most ``MAX_UNRECORDED``) and records it, with its own time,
as soon as a connection opens again, so the success rate over 7 days (``price_sync_success_7d``) counts it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pipeline.errors import OtelMarginError
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.pricedata import store
from otel_margin_backend.pricedata.sync import SyncResult, one_line, sync_prices
from otel_margin_backend.pricing.book import PriceBook
from otel_margin_backend.pricing.config import PricingConfig
from otel_margin_backend.pricing.data import PriceData
from otel_margin_backend.pricing.pricer import CurrentPriceBook
from otel_margin_backend.storage.database import AsyncConn, Conn, connect
from otel_margin_backend.storage.errors import db_errors

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

MAX_UNRECORDED = 1000
"""Most failed attempts kept while the database is unreachable (a daily sync needs a handful; the oldest go)."""


@dataclass(frozen=True, slots=True)
class UnrecordedAttempt:
    """A scheduled sync that failed before it could reach the database."""

    attempted_at: datetime
    duration_ms: int
    error: str


async def stored_last_success(pool: AsyncConnectionPool[AsyncConn]) -> float | None:
    """Unix time of the last successful sync any process recorded (``price_sync_status``), or None."""
    async with pool.connection(timeout=2.0) as conn:
        cur = await conn.execute("SELECT extract(epoch FROM last_success_at)::float8 FROM price_sync_status")
        row = await cur.fetchone()
    return float(row[0]) if row and row[0] is not None else None


class PriceSyncJob:
    """Keeps a ``CurrentPriceBook`` in step with the stored price versions and syncs new data daily.

    Args:
        live: The pricer the pipeline holds.
        database_url: The store's URL (the job opens its own short-lived connections).
        config: The pricing config (``sync_*``, ``reload_interval_s``, ``data_file``, ``quality_file``).
        connect_timeout_s: How long to wait for the database per connection.
        metrics: Where failed syncs and the time of the last successful one are reported.
        sync: False for a ``serve`` worker that is not the primary: it only follows the versions the primary (or
            anyone) activates, every ``reload_interval_s``, and never fetches itself.
    """

    def __init__(
        self,
        live: CurrentPriceBook,
        database_url: str,
        config: PricingConfig,
        *,
        connect_timeout_s: float = 5.0,
        metrics: Metrics = NOOP,
        sync: bool = True,
    ) -> None:
        self._metrics = metrics
        self._sync_here = sync
        self.last_success: float | None = None
        """Unix time of the last successful sync (this process's, or a stored one: ``saw_success``)."""
        metrics.watch("price_sync_last_success", lambda: self.last_success)
        metrics.watch("price_sync_age", lambda: None if self.last_success is None else time.time() - self.last_success)
        self._live = live
        self._url = database_url
        self._config = config
        self._connect_timeout_s = connect_timeout_s
        self._quality: QualityTable | None = None
        self.unrecorded: deque[UnrecordedAttempt] = deque(maxlen=MAX_UNRECORDED)
        """Failed attempts waiting for the database, oldest first."""
        self._task: asyncio.Task[None] | None = None

    @property
    def syncing(self) -> bool:
        """True while the periodic task runs (False with ``sync_interval_s = 0`` or a pinned ``data_file``)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Put the active stored version in force, publish it, and start the periodic task."""
        book = await asyncio.to_thread(self._startup)
        if book is not None:
            self._swap(book)
        if self._config.sync_interval_s > 0 and self._config.data_file is None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="price-sync")
        log.info(
            "price book %s in force",
            self._live.book.version,
            extra={"sync_source": self._config.sync_source if self.syncing and self._sync_here else None},
        )

    def saw_success(self, at: float | None) -> None:
        """Note a successful sync recorded elsewhere (another process, ``prices sync``) at Unix time ``at``."""
        if at is not None and (self.last_success is None or at > self.last_success):
            self.last_success = at

    async def shutdown(self) -> None:
        """Stop the periodic task. Safe before ``start`` and twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> SyncResult | None:
        """Sync now and swap the new book in (the job's body).

        Returns:
            What the sync did, or None if it failed (logged and recorded; the book in force stays).
        """
        try:
            with db_errors():  # a database error is logged as the store's one line
                result = await asyncio.to_thread(self._sync)
        except Exception as exc:  # PriceSyncError (recorded), or the database is unreachable
            log.warning("price sync from %s failed: %s", self._config.sync_source, exc)
            self._metrics.price_sync_failures.add(1)
            return None
        self.last_success = time.time()
        self._swap(result.book)
        return result

    async def follow_active(self) -> bool:
        """Swap in the active stored version if another process activated one.

        Returns:
            True if the book in force changed.
        """
        try:
            with db_errors():
                book = await asyncio.to_thread(self._load_active)
        except Exception as exc:
            log.warning("cannot check the active price version: %s", exc)
            return False
        return book is not None and self._swap(book)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sync = loop.time() + self._config.sync_first_delay_s
        while True:
            if not self._sync_here:  # a worker beside the primary: follow what it activates
                await asyncio.sleep(self._config.reload_interval_s)
                await self.follow_active()
                continue
            await asyncio.sleep(min(self._config.reload_interval_s, max(0.0, next_sync - loop.time())))
            if loop.time() >= next_sync:
                await self.run_once()
                next_sync = loop.time() + self._config.sync_interval_s
            else:
                await self.follow_active()

    def _swap(self, book: PriceBook) -> bool:
        current = self._live.book
        if book is current or (book.version, book.override_version) == (current.version, current.override_version):
            return False
        self._live.swap(book)
        return True

    def _quality_table(self) -> QualityTable:
        if self._quality is None:
            try:
                self._quality = QualityTable.load(self._config.quality_file)
            except Exception as exc:
                log.warning("quality file ignored: %s", exc)
                self._quality = QualityTable.load()
        return self._quality

    def _startup(self) -> PriceBook | None:
        """The stored version in force, recorded and published; None (bundled data stays) if that fails."""
        book = self._live.book
        raw: bytes | None = None
        source = store.BUNDLED_SOURCE
        try:
            with db_errors(), connect(self._url, timeout_s=self._connect_timeout_s) as conn:
                if self._config.data_file is not None:
                    raw = Path(self._config.data_file).read_bytes()
                    source = str(self._config.data_file)
                    pinned = PriceData.from_json_bytes(raw, source=source)
                    if pinned.version != book.version:  # the file changed since the book was built
                        book = book.with_data(pinned)
                else:
                    active = store.active_version(conn)
                    data = store.load_data(conn, active) if active is not None else None
                    if data is not None and active is not None:
                        book = book.with_data(data) if data.version != book.version else book
                        source = active.source
                store.register(conn, book, raw=raw, source=source, quality=self._quality_table())
        except Exception as exc:
            log.warning("stored price versions not used (%s); %s stays in force", exc, self._live.book.version)
            return None
        return book

    def _connect(self) -> Conn:
        """A connection, after recording the attempts that failed while the database was unreachable."""
        conn = connect(self._url, timeout_s=self._connect_timeout_s)
        try:
            while self.unrecorded:
                attempt = self.unrecorded[0]
                with db_errors():
                    store.record_attempt(
                        conn, source=self._config.sync_source, trigger="schedule", price_version=None,
                        new_version=False, model_count=None, duration_ms=attempt.duration_ms, error=attempt.error,
                        attempted_at=attempt.attempted_at,
                    )  # fmt: skip
                self.unrecorded.popleft()
        except OtelMarginError as exc:
            log.warning("could not record earlier price sync attempts: %s", one_line(str(exc)))
        return conn

    def _sync(self) -> SyncResult:
        at, started = datetime.now(UTC), time.monotonic()
        try:
            conn = self._connect()
        except OtelMarginError as exc:  # the database is unreachable: keep the attempt until it is back
            error = f"database unavailable: {one_line(str(exc))}"
            self.unrecorded.append(UnrecordedAttempt(at, round((time.monotonic() - started) * 1000), error))
            raise
        with conn:
            return sync_prices(
                conn,
                self._config.sync_source,
                base=self._live.book,
                quality=self._quality_table(),
                trigger="schedule",
                timeout_s=self._config.sync_timeout_s,
            )

    def _load_active(self) -> PriceBook | None:
        with self._connect() as conn:
            active = store.active_version(conn)
            if active is None or active.price_version == self._live.book.version:
                return None
            data = store.load_data(conn, active)
        return self._live.book.with_data(data) if data is not None else None
