"""Runtime configuration, read once at startup from ``OTEL_MARGIN_*`` environment variables (or ``.env``).

Every field documents its default; ``config/otel-margin.env.example`` lists them all for users.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "OTEL_MARGIN_"


def mask_url(url: str) -> str:
    """A connection URL with its password replaced by ``***``, safe to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class Settings(BaseSettings):
    """The backend's configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    database_url: SecretStr | None = None
    """PostgreSQL/TimescaleDB URL (``postgresql://user:pass@host:5432/db``). Default: none, which starts an
    embedded PostgreSQL in ``data_dir`` for local use."""
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("otel-margin")))
    """Where the embedded database and local state live. Default: the user data dir
    (``~/.local/share/otel-margin`` on Linux)."""
    db_pool_max: int = Field(default=8, ge=1, le=200)
    """Most connections the service opens. Default: 8."""
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    """How long to wait for the database when connecting. Default: 5 s."""
    reader_role: str = Field(default="otel_margin_reader", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """Read-only role the migrations create for dashboards (Grafana). Default: ``otel_margin_reader``."""
    reader_password: SecretStr | None = None
    """Password of the read-only role. Default: none, which leaves the role unable to log in."""
    http_host: str = "127.0.0.1"
    """Address the HTTP server (OTLP/HTTP, REST, health) binds. Default: 127.0.0.1; use 0.0.0.0 in containers."""
    http_port: int = Field(default=4318, ge=0, le=65535)
    """HTTP port. Default: 4318 (OTLP/HTTP)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level. Default: INFO."""
    log_format: Literal["json", "console"] = "json"
    """``json`` (one object a line, for log pipelines) or ``console``. Default: json."""

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

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @cached_property
    def embedded(self) -> bool:
        """True when no database URL is configured and the embedded PostgreSQL serves."""
        return self.database_url is None

    def effective(self) -> dict[str, str]:
        """Every setting with secrets masked, for ``doctor`` and the startup log."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url":
                shown = "(embedded PostgreSQL)" if value is None else mask_url(value.get_secret_value())
            elif isinstance(value, SecretStr):
                shown = "***"
            elif value is None:
                shown = "(not set)"
            else:
                shown = str(value)
            out[ENV_PREFIX + name.upper()] = shown
        return out
