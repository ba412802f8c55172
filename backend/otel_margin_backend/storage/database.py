"""Connecting to the store: the configured PostgreSQL/TimescaleDB, or the embedded one.

Connection failures become ``StoreUnavailable`` with one line that names the host and what to
check, so the CLI can print it without a traceback. (Errors on an open connection go through
``storage.errors.translate``; only a failed connect knows the URL to name.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from otel_margin_backend.pipeline.errors import StoreUnavailable
from otel_margin_backend.storage.config import StorageConfig, mask_url
from otel_margin_backend.storage.embedded import EmbeddedPostgres

Conn = psycopg.Connection[TupleRow]
AsyncConn = psycopg.AsyncConnection[TupleRow]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What ``doctor`` and the startup log report about the database."""

    server_version: str
    timescaledb_version: str | None
    timescaledb_license: str | None
    """``apache`` (hypertables, drop_chunks) or ``timescale`` (also compression and policies); None without it."""

    @property
    def edition(self) -> str:
        """The server's edition for messages: PostgreSQL, or TimescaleDB with its version and license."""
        if self.timescaledb_version is None:
            return "PostgreSQL (no TimescaleDB)"
        return f"TimescaleDB {self.timescaledb_version} ({self.timescaledb_license or 'unknown'} license)"


def describe_target(url: str) -> str:
    """``host:port/dbname`` of a URL, for messages (never the password)."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return mask_url(url)
    host = str(parts.get("host") or "localhost")
    port = str(parts.get("port") or "5432")
    where = host if host.startswith("/") else f"{host}:{port}"
    return f"{where}/{parts.get('dbname') or parts.get('user') or ''}"


def unavailable(url: str, exc: Exception) -> StoreUnavailable:
    """The one-line error for a database that cannot be used."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.ProgrammingError) and "invalid" in reason.lower():
        return StoreUnavailable(
            f"OTEL_MARGIN_DATABASE_URL is not a valid PostgreSQL URL ({reason}); "
            "expected postgresql://user:password@host:5432/dbname"
        )
    return StoreUnavailable(
        f"cannot connect to PostgreSQL at {describe_target(url)}: {reason}. "
        "Check that the server is running and reachable, and the host, port, user, password and database "
        "in OTEL_MARGIN_DATABASE_URL."
    )


def connect(url: str, *, timeout_s: float = 5.0, autocommit: bool = True) -> Conn:
    """Open one connection, or raise ``StoreUnavailable`` with a clear message."""
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=max(1, round(timeout_s)))
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        raise unavailable(url, exc) from None


async def connect_async(url: str, *, timeout_s: float = 5.0, autocommit: bool = True) -> AsyncConn:
    """Open one async connection, or raise ``StoreUnavailable`` with a clear message."""
    try:
        return await psycopg.AsyncConnection.connect(
            url, autocommit=autocommit, connect_timeout=max(1, round(timeout_s))
        )
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        raise unavailable(url, exc) from None


def server_info(conn: Conn) -> ServerInfo:
    """What the connected server is: its version and TimescaleDB's version and license."""
    row = conn.execute(
        "SELECT current_setting('server_version'),"
        " (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),"
        " current_setting('timescaledb.license', true)"
    ).fetchone()
    assert row is not None
    version, ts_version, license_ = row
    return ServerInfo(str(version), ts_version, license_ if ts_version else None)


class Store:
    """The database the backend uses for one process: the configured URL, or an embedded server.

    Use as a context manager; leaving it stops the embedded server if this process started it.
    """

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        self._embedded: EmbeddedPostgres | None = None
        self.url = ""

    def __enter__(self) -> Store:
        if self.config.database_url is not None:
            self.url = self.config.database_url.get_secret_value()
        else:
            self._embedded = EmbeddedPostgres(self.config.data_dir / "postgres")
            self.url = self._embedded.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None

    @property
    def target(self) -> str:
        """Where the data lives, for messages: the masked URL or the embedded data dir."""
        if self._embedded is not None:
            return f"embedded PostgreSQL in {self._embedded.datadir}"
        return describe_target(self.url)

    @contextmanager
    def connection(self, *, autocommit: bool = True) -> Iterator[Conn]:
        """One connection to the store, closed on leaving."""
        with connect(self.url, timeout_s=self.config.connect_timeout_s, autocommit=autocommit) as conn:
            yield conn
