"""Configuration of the ingest path: how events are batched across requests, and backpressure.

Defaults live here and only here; ``Settings`` composes this model (``OTEL_MARGIN_BATCH_MAX_EVENTS`` …).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IngestConfig(BaseModel):
    """How the batcher turns many small requests into few large writes, and when clients are told to retry."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    batch_max_events: int = Field(default=5_000, ge=1, le=100_000)
    """The most events one batch holds (a free writer takes what is waiting, up to this). Default: 5000."""
    batch_max_wait_ms: int = Field(default=200, ge=1, le=10_000)
    """Upper bound on holding a batch open, never a floor: a free writer writes at once. Default: 200 ms."""
    max_pending_events: int = Field(default=200_000, ge=1)
    """Events that may wait for the database before clients are told to retry (backpressure). Default: 200000."""
