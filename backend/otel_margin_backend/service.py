"""``otel-margin serve``: the long-running backend.

Start order, downstream first: database (embedded if none is configured) -> migrations ->
connection pool -> writer and batcher -> receivers (OTLP/gRPC, HTTP). Stop order is the reverse:
receivers stop taking requests, the batcher writes what it holds, then the pool closes, so
nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn
from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.api.app import create_app
from otel_margin_backend.normalize import Normalizer
from otel_margin_backend.pipeline.batcher import Batcher
from otel_margin_backend.pipeline.ingest import IngestPipeline
from otel_margin_backend.pricing import create as create_pricer
from otel_margin_backend.receivers import otlp_grpc, otlp_http, rest_usage
from otel_margin_backend.receivers.auth import TokenCheck, resolve_token
from otel_margin_backend.settings import Settings
from otel_margin_backend.storage.database import AsyncConn, Store, server_info
from otel_margin_backend.storage.migrator import migrate
from otel_margin_backend.storage.writer import UsageWriter

log = logging.getLogger(__name__)

GRPC_GRACE_S = 5.0


def prepare(store: Store) -> None:
    """Migrate the database and log what it is."""
    settings = store.settings
    password = settings.reader_password.get_secret_value() if settings.reader_password else None
    with store.connection() as conn:
        applied = migrate(conn, reader_role=settings.reader_role, reader_password=password)
        info = server_info(conn)
    log.info(
        "database ready",
        extra={
            "target": store.target,
            "edition": info.edition,
            "migrations": len(applied),
            "newly_applied": sum(m.newly_applied for m in applied),
        },
    )


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``run`` owns SIGINT/SIGTERM for every server it starts."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Backend:
    """Every long-lived part of ``serve``, started downstream-first and stopped upstream-first."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
            database_url,
            min_size=1,
            max_size=settings.db_pool_max,
            open=False,
            kwargs={"autocommit": True},
            timeout=settings.db_connect_timeout_s,
            # A connection broken by a database restart is replaced instead of failing a batch.
            check=AsyncConnectionPool.check_connection,
        )
        self.batcher = Batcher(
            UsageWriter(self.pool).write,
            max_events=settings.batch_max_events,
            max_wait_s=settings.batch_max_wait_ms / 1000,
            max_pending_events=settings.max_pending_events,
        )
        self.pipeline = IngestPipeline(
            Normalizer(settings.normalize_config()), create_pricer(settings.pricing_config()), self.batcher
        )
        tokens = TokenCheck(resolve_token(settings))
        self.grpc, self.grpc_port = otlp_grpc.create_server(
            self.pipeline, tokens, host=settings.grpc_host, port=settings.grpc_port
        )
        app = create_app(
            self.pool,
            routes=[*otlp_http.routes(self.pipeline, tokens), *rest_usage.routes(self.pipeline, tokens)],
            stats=self.pipeline.stats,
        )
        self.http = _HttpServer(
            uvicorn.Config(
                app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False, lifespan="off"
            )
        )
        self._http_task: asyncio.Task[None] | None = None

    @property
    def http_port(self) -> int:
        """The bound HTTP port (differs from the setting when that is 0)."""
        port: int = self.http.servers[0].sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        await self.pool.open()
        await self.batcher.start()
        await self.grpc.start()
        self._http_task = asyncio.create_task(self.http.serve(), name="http")
        while not self.http.started:
            if self._http_task.done():
                await self._http_task  # raises why the HTTP server could not start
                raise OSError(f"the HTTP server did not start on {self.settings.http_host}:{self.settings.http_port}")
            await asyncio.sleep(0.01)
        log.info(
            "serving",
            extra={"http": f"{self.settings.http_host}:{self.http_port}", "grpc": f"{self.settings.grpc_host}:"
                   f"{self.grpc_port}"},
        )  # fmt: skip

    async def wait(self) -> None:
        """Until the HTTP server stops (``stop`` or a signal)."""
        if self._http_task is not None:
            await self._http_task

    async def stop(self) -> None:
        """Stop taking requests, write what is queued, close the pool. Safe to call twice."""
        self.http.should_exit = True
        if self._http_task is not None:
            await self._http_task
            self._http_task = None
        await self.grpc.stop(GRPC_GRACE_S)
        await self.batcher.shutdown()
        await self.pool.close()


async def run(store: Store) -> None:
    """Serve until SIGINT or SIGTERM, then drain and stop."""
    backend = Backend(store.settings, store.url)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(backend.http, "should_exit", True))
    try:
        await backend.start()
        await backend.wait()
    finally:
        await backend.stop()
        log.info("stopped", extra=backend.pipeline.stats.as_dict())


def serve(settings: Settings) -> None:
    with Store(settings) as store:
        prepare(store)
        asyncio.run(run(store))
