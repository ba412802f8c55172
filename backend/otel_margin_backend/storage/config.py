"""The store's own configuration: where the database is and how to connect (``Settings`` composes it).

Defaults live here and only here.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


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

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    database_url: SecretStr | None = None
    """PostgreSQL/TimescaleDB URL (``postgresql://user:pass@host:5432/db``). Default: none, which starts an
    embedded PostgreSQL in ``data_dir`` for local use."""
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("otel-margin")))
    """Where the embedded database (``<data_dir>/postgres``) and local state live. Default: the user data dir
    (``~/.local/share/otel-margin`` on Linux)."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    """How long to wait for the database when connecting. Default: 5 s."""
    pool_max: int = Field(default=8, ge=1, le=200)
    """Most connections the service opens. Default: 8."""
    reader_role: str = Field(default="otel_margin_reader", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """Read-only role the migrations create for dashboards (Grafana). Default: ``otel_margin_reader``."""
    reader_password: SecretStr | None = None
    """Password of the read-only role. Default: none, which leaves the role unable to log in."""

    @property
    def embedded(self) -> bool:
        """True when no database URL is configured and the embedded PostgreSQL serves."""
        return self.database_url is None

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        try:
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise ValueError("the port is not a number; expected postgresql://user:password@host:5432/dbname") from None
        if parts.scheme not in ("postgresql", "postgres") or (not parts.netloc and not parts.query):
            raise ValueError("not a PostgreSQL URL; expected postgresql://user:password@host:5432/dbname")
        return value
