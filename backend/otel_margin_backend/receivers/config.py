"""Configuration of the receivers: where the OTLP/gRPC and HTTP servers listen, and the ingest token.

Defaults live here and only here; ``Settings`` composes this model (``OTEL_MARGIN_HTTP_HOST`` …).
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, SecretStr

MAX_WORKERS = 64
"""Most receiver processes ``serve`` runs (``OTEL_MARGIN_WORKERS``)."""
MAX_MESSAGE_BYTES = 64 * 1_048_576
"""Default receive limit for OTLP/gRPC messages and HTTP bodies, after decompression: the gateway Collector's
largest batch (8,192 spans) of GenAI spans with 4 KB of prompt text each, with room to spare (docs/limits.md)."""


class ReceiversConfig(BaseModel):
    """Where clients send usage (OTLP/gRPC, OTLP/HTTP, REST) and how they authenticate."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    http_host: str = "127.0.0.1"
    """Address the HTTP server (OTLP/HTTP, REST, health) binds. Default: 127.0.0.1; use 0.0.0.0 in containers."""
    http_port: int = Field(default=4318, ge=0, le=65535)
    """HTTP port. Default: 4318 (OTLP/HTTP)."""
    grpc_host: str = "127.0.0.1"
    """Address the OTLP/gRPC receiver binds. Default: 127.0.0.1; use 0.0.0.0 in containers."""
    grpc_port: int = Field(default=4317, ge=0, le=65535)
    """OTLP/gRPC port. Default: 4317."""
    grpc_max_message_bytes: int = Field(default=MAX_MESSAGE_BYTES, ge=65_536, le=1_073_741_824)
    """Largest OTLP/gRPC message taken, after decompression; a larger one is refused with RESOURCE_EXHAUSTED,
    logged and counted. Default: 67108864 (64 MiB)."""
    http_max_body_bytes: int = Field(default=MAX_MESSAGE_BYTES, ge=65_536, le=1_073_741_824)
    """Largest OTLP/HTTP (``/v1/traces``) and REST (``/v1/usage``) body taken, after decompression; a larger one is
    refused with 413, logged and counted. Default: 67108864 (64 MiB)."""
    ingest_token: SecretStr | None = None
    """The default admin token (``Authorization: Bearer <token>``; admin may also read and ingest; named tokens of
    narrower scope: ``OTEL_MARGIN_TOKENS``). Default: none, which makes ``serve`` generate one on first start and
    keep it in ``<data_dir>/ingest-token``."""
    ingest_auth: bool = True
    """Require tokens on every endpoint but the probes. Default: true; set false only for local experiments."""
    workers: int | None = Field(default=None, ge=1, le=MAX_WORKERS)
    """Receiver processes ``serve`` runs, sharing both ports (``SO_REUSEPORT``), each with its own pipeline and
    pool; ``serve --workers N`` wins over it. Default: unset, which is half the CPUs this process may use, at
    least 1 and at most 4 (1 on a 1 to 3 core machine: ``default_workers``)."""

    @property
    def worker_count(self) -> int:
        """``workers``, or the default rule when unset."""
        return self.workers if self.workers is not None else default_workers()


def default_workers(cpus: int | None = None) -> int:
    """Half the CPUs (``os.sched_getaffinity``: a container's cpuset counts, a CPU quota does not), 1 to 4.

    Each worker is one Python process whose receive path is CPU-bound on one core; the database and the
    clients need the rest, so one worker per two cores, and no more than 4 without measuring (docs/deploy.md).
    """
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    count = cpus
    return max(1, min(count // 2, 4))
