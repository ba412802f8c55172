"""The real backend (receivers, pipeline, writer) running in a thread of the test process.

Tests talk to it over real sockets: gRPC on ``grpc_port``, HTTP on ``http_port``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from otel_margin_backend.service.backend import BackgroundBackend
from otel_margin_backend.settings import Settings

TOKEN = "test-ingest-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


BackendThread = BackgroundBackend


def backend_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test backend: free ports, the test token, small fast batches."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "http_port": 0,
        "grpc_port": 0,
        "ingest_token": TOKEN,
        "batch_max_wait_ms": 20,
        "db_connect_timeout_s": 2.0,
        "price_sync_interval_s": 0,  # no network fetch from tests; a test turns the daily sync on when it needs it
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
