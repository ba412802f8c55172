from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backend import BackendThread, running_backend


@pytest.fixture
def backend(db_url: str, tmp_path: Path) -> Iterator[BackendThread]:
    """The real backend on free ports, writing to a fresh TimescaleDB / PostgreSQL database."""
    with running_backend(db_url, tmp_path) as running:
        yield running
