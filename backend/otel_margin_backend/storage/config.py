"""The store's own configuration: where the database is and how to connect (``Settings`` composes it)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr


def mask_url(url: str) -> str:
    """A connection URL with its password replaced by ``***``, safe to print or log.

    Args:
        url: A ``postgresql://`` URL.

    Returns:
        The URL without its password.
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class StorageConfig(BaseModel):
    """Where the data lives and how the backend connects to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: SecretStr | None = None
    """PostgreSQL/TimescaleDB URL. Default: none, which starts an embedded PostgreSQL under ``data_dir``."""
    data_dir: Path
    """Where the embedded database lives (``<data_dir>/postgres``)."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    """How long to wait for the database when connecting. Default: 5 s."""
    pool_max: int = Field(default=8, ge=1, le=200)
    """Most connections the service opens. Default: 8."""
    reader_role: str = Field(default="otel_margin_reader", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """Read-only role the migrations create for dashboards. Default: ``otel_margin_reader``."""
    reader_password: SecretStr | None = None
    """Password of the read-only role. Default: none (the role cannot log in)."""
