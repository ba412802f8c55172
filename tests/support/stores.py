"""Real databases for store tests: a private TimescaleDB cluster and a private plain PostgreSQL.

Each test gets a fresh database cloned from a template that was migrated once per server
(pytest-postgresql's ``DatabaseJanitor`` does the create/clone/drop).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from pytest_postgresql.janitor import DatabaseJanitor

from otel_margin_backend.storage.migrator import migrate
from tests.support.pgcluster import DEFAULT_BINDIR, PgCluster

READER_ROLE = "otel_margin_reader"

TIMESCALE_SETTINGS = {
    "shared_preload_libraries": "timescaledb",
    # The background scheduler keeps connections open, which blocks cloning template databases.
    "timescaledb.max_background_workers": "0",
    "timescaledb.telemetry_level": "off",
    "max_connections": "200",
}
PLAIN_SETTINGS = {"max_connections": "200"}


def timescaledb_installed(bindir: str = DEFAULT_BINDIR) -> bool:
    """True when TimescaleDB's loader library sits in this PostgreSQL's lib dir."""
    libdir = Path(bindir).parent / "lib"
    return (libdir / "timescaledb.so").exists()


@dataclass
class Server:
    """One running cluster plus its migrated template database."""

    kind: str
    cluster: PgCluster
    template: str = "otel_margin_template"
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _template_ready: bool = False

    def _janitor(self, dbname: str, *, template: str | None = None, as_template: bool = False) -> DatabaseJanitor:
        return DatabaseJanitor(
            user=self.cluster.user,
            host=self.cluster.host,
            port=self.cluster.port,
            dbname=dbname,
            template_dbname=template,
            as_template=as_template,
        )

    def ensure_template(self) -> None:
        if self._template_ready:
            return
        janitor = self._janitor(self.template, as_template=True)
        janitor.init()
        with psycopg.connect(self.cluster.dsn(self.template), autocommit=True) as conn:
            migrate(conn, reader_role=READER_ROLE, reader_password=None)
        self._template_ready = True

    def new_database(self) -> tuple[str, DatabaseJanitor]:
        """A fresh migrated database; drop it with the returned janitor."""
        self.ensure_template()
        name = f"t_{self.kind}_{next(self._counter)}"
        janitor = self._janitor(name, template=self.template)
        janitor.init()
        return self.cluster.dsn(name), janitor

    def empty_database(self) -> tuple[str, DatabaseJanitor]:
        """A fresh database with nothing in it (for migration tests)."""
        name = f"e_{self.kind}_{next(self._counter)}"
        janitor = self._janitor(name)
        janitor.init()
        return self.cluster.dsn(name), janitor
