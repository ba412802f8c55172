"""Shared fixtures: real TimescaleDB and PostgreSQL servers for every store test.

A store test asks for ``db_url`` (or ``any_server``) and runs twice: once on TimescaleDB, once on
plain PostgreSQL. If TimescaleDB is not installed the run fails (it never skips): install it with
``scripts/install-test-deps.sh``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pgcluster import PgCluster
from tests.support.stores import PLAIN_SETTINGS, TIMESCALE_SETTINGS, Server, timescaledb_installed

STORE_KINDS = ["timescaledb", "postgresql"]


@pytest.fixture(scope="session")
def timescale_server() -> Iterator[Server]:
    if not timescaledb_installed():
        pytest.fail("TimescaleDB is not installed for PostgreSQL 15: run scripts/install-test-deps.sh", pytrace=False)
    with PgCluster(settings=TIMESCALE_SETTINGS) as cluster:
        yield Server("timescaledb", cluster)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    with PgCluster(settings=PLAIN_SETTINGS) as cluster:
        yield Server("postgresql", cluster)


@pytest.fixture(params=STORE_KINDS)
def any_server(request: pytest.FixtureRequest) -> Server:
    """Each store test runs against both servers."""
    server: Server = request.getfixturevalue(f"{'timescale' if request.param == 'timescaledb' else 'postgres'}_server")
    return server


@pytest.fixture
def db_url(any_server: Server) -> Iterator[str]:
    """URL of a fresh, migrated database on TimescaleDB and on plain PostgreSQL."""
    url, janitor = any_server.new_database()
    yield url
    janitor.drop()
