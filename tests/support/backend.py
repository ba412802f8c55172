"""The real backend (receivers, pipeline, writer) running in a thread of the test process.

Tests talk to it over real sockets: gRPC on ``grpc_port``, HTTP on ``http_port``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from otel_margin_backend.service import Backend
from otel_margin_backend.settings import Settings

TOKEN = "test-ingest-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


class BackendThread:
    """Runs ``Backend`` on its own event loop; ``start`` returns once both servers listen."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="backend", daemon=True)
        self.settings = settings
        self.database_url = database_url
        self.backend: Backend | None = None

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def start(self) -> BackendThread:
        self._thread.start()

        async def make() -> Backend:
            backend = Backend(self.settings, self.database_url)
            await backend.start()
            return backend

        self.backend = self._call(make())
        return self

    @property
    def grpc_port(self) -> int:
        assert self.backend is not None
        return self.backend.grpc_port

    @property
    def http_port(self) -> int:
        assert self.backend is not None
        return self.backend.http_port

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        if self.backend is not None:
            self._call(self.backend.stop())
            self.backend = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


def backend_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test backend: free ports, the test token, small fast batches."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "http_port": 0,
        "grpc_port": 0,
        "ingest_token": TOKEN,
        "batch_max_wait_ms": 20,
        "db_connect_timeout_s": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running_backend(database_url: str, data_dir: Path, **overrides: Any) -> Iterator[BackendThread]:
    thread = BackendThread(backend_settings(data_dir, **overrides), database_url).start()
    try:
        yield thread
    finally:
        thread.stop()
