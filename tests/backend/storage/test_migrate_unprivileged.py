"""``migrate`` as a real non-superuser role on the TimescaleDB test cluster (preloaded), as managed PostgreSQL gives.

The role owns its database and has CREATEROLE (for the read-only role) but neither superuser nor
``pg_read_all_settings``: 0001 cannot read ``shared_preload_libraries``, so the runner decides it (issue 12).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.storage.migrator import available, migrate
from tests.support.stores import Server

_n = itertools.count()


@dataclass(frozen=True)
class Unprivileged:
    role: str
    url: str
    admin_url: str
    """The superuser's connection to the same database."""


def _with_user(dsn: str, user: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, user=user)


@pytest.fixture
def make_role(timescale_server: Server) -> Iterator[object]:
    cluster = timescale_server.cluster
    made: list[tuple[str, str]] = []

    def make(*attributes: str) -> Unprivileged:
        role, database = f"om_app_{next(_n)}", f"u_{next(_n)}"
        with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN {' '.join(attributes)}")
            conn.execute(f"CREATE DATABASE {database} OWNER {role}")
        made.append((role, database))
        return Unprivileged(role, _with_user(cluster.dsn(database), role), cluster.dsn(database))

    yield make
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
        for role, database in made:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            conn.execute(f"DROP ROLE IF EXISTS {role}_reader")
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def _migrate_as(user: Unprivileged) -> list[int]:
    with psycopg.connect(user.url, autocommit=True) as conn:
        applied = migrate(conn, reader_role=f"{user.role}_reader", reader_password=None)
    return [m.version for m in applied if m.newly_applied]


def test_a_user_without_pg_read_all_settings_migrates_to_plain_postgresql(make_role: object) -> None:
    user = make_role("CREATEROLE")  # type: ignore[operator]
    with psycopg.connect(user.url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT current_setting('shared_preload_libraries', true)")
    assert _migrate_as(user) == [m.version for m in available()]
    with psycopg.connect(user.url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM usage_events").fetchone() == (0,)
    assert _migrate_as(user) == []  # and again: nothing left to do


def test_a_timescaledb_created_by_the_dba_is_used(make_role: object) -> None:
    user = make_role("CREATEROLE")  # type: ignore[operator]
    with psycopg.connect(user.admin_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION timescaledb")
    assert _migrate_as(user) == [m.version for m in available()]
    with psycopg.connect(user.url) as conn:
        hypertables = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
        ).fetchall()
    assert ("usage_events",) in hypertables


def test_a_missing_grant_is_named(make_role: object) -> None:
    user = make_role()  # type: ignore[operator]
    with pytest.raises(PermanentError) as failure:
        _migrate_as(user)
    assert str(failure.value) == (
        f"migration 0004_reader_role needs a privilege user {user.role} lacks (permission denied to create role): "
        f"the read-only role {user.role}_reader is created and given its password by migrate: ALTER ROLE "
        f"{user.role} CREATEROLE (or have a superuser create the role {user.role}_reader), then run migrate again"
    )
