"""``otel-margin serve``: the long-running backend.

Start order: database (embedded if none is configured) -> migrations -> connection pool -> HTTP
server. Stop order is the reverse, so nothing is cut off while a request is still being written.
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
from otel_margin_backend.settings import Settings
from otel_margin_backend.storage.database import AsyncConn, Store, server_info
from otel_margin_backend.storage.migrator import migrate

log = logging.getLogger(__name__)


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


async def run(store: Store) -> None:
    """Serve until SIGINT or SIGTERM, then drain and stop."""
    settings = store.settings
    pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
        store.url,
        min_size=1,
        max_size=settings.db_pool_max,
        open=False,
        kwargs={"autocommit": True},
        timeout=settings.db_connect_timeout_s,
    )
    await pool.open()
    try:
        config = uvicorn.Config(
            create_app(pool),
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        server = _HttpServer(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        log.info("serving", extra={"http": f"{settings.http_host}:{settings.http_port}"})
        await server.serve()
    finally:
        await pool.close()
        log.info("stopped")


def serve(settings: Settings) -> None:
    with Store(settings) as store:
        prepare(store)
        asyncio.run(run(store))
