"""Migrations: recorded, idempotent, safe from two processes at once, the same schema on both servers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.storage.database import server_info
from otel_margin_backend.storage.migrator import available, migrate, pending
from tests.support.stores import READER_ROLE, Server


@pytest.fixture
def empty_url(any_server: Server) -> Iterator[str]:
    url, janitor = any_server.empty_database()
    yield url
    janitor.drop()


def run_migrate(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [m.version for m in migrate(conn, reader_role=READER_ROLE, reader_password=None) if m.newly_applied]


def test_migrate_applies_everything_once_and_records_it(empty_url: str) -> None:
    shipped = [m.version for m in available()]
    assert shipped == sorted(shipped) and len(shipped) >= 5

    assert run_migrate(empty_url) == shipped
    assert run_migrate(empty_url) == []  # idempotent
    with psycopg.connect(empty_url) as conn:
        recorded = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert recorded == shipped
        assert pending(conn) == []


def test_two_processes_migrating_at_once_apply_each_migration_once(empty_url: str) -> None:
    barrier = threading.Barrier(2)
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            with psycopg.connect(empty_url, autocommit=True) as conn:
                barrier.wait()
                applied.append(
                    [m.version for m in migrate(conn, reader_role=READER_ROLE, reader_password=None) if m.newly_applied]
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(applied, key=len) == [[], [m.version for m in available()]]


def test_an_edited_migration_is_refused(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 2")
        with pytest.raises(PermanentError, match="0002_usage_events was changed after it was applied"):
            migrate(conn, reader_role=READER_ROLE, reader_password=None)


def test_a_database_from_a_newer_version_is_refused(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')")
        with pytest.raises(PermanentError, match=r"9999_future.*upgrade otel-margin"):
            migrate(conn, reader_role=READER_ROLE, reader_password=None)


def test_usage_events_is_a_one_day_hypertable_on_timescaledb(timescale_server: Server) -> None:
    url, janitor = timescale_server.new_database()
    try:
        with psycopg.connect(url) as conn:
            info = server_info(conn)
            dims = conn.execute(
                "SELECT h.hypertable_name, d.column_name, d.time_interval"
                " FROM timescaledb_information.hypertables h"
                " JOIN timescaledb_information.dimensions d USING (hypertable_schema, hypertable_name)"
            ).fetchall()
    finally:
        janitor.drop()
    assert info.timescaledb_version is not None
    assert info.timescaledb_license == "apache"
    assert info.edition == f"TimescaleDB {info.timescaledb_version} (apache license)"
    assert [(name, col, str(interval)) for name, col, interval in dims] == [("usage_events", "time", "1 day, 0:00:00")]


def test_plain_postgresql_has_the_same_schema_without_timescaledb(postgres_server: Server) -> None:
    url, janitor = postgres_server.new_database()
    try:
        with psycopg.connect(url) as conn:
            info = server_info(conn)
            columns = conn.execute(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 'usage_events'"
            ).fetchone()
    finally:
        janitor.drop()
    assert info.timescaledb_version is None and info.edition == "PostgreSQL (no TimescaleDB)"
    assert columns == (36,)  # 0061 added call_key and call_detail, 0070 provider_source


def test_the_reader_role_reads_but_cannot_write(empty_url: str) -> None:
    role = "otel_margin_reader_test"
    with psycopg.connect(empty_url, autocommit=True) as conn:
        migrate(conn, reader_role=role, reader_password="s3cret")
    reader_url = empty_url.replace("postgresql://postgres@", f"postgresql://{role}:s3cret@")
    login = "SELECT rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s"
    with psycopg.connect(empty_url) as conn:
        assert conn.execute(login, (role,)).fetchone() == (True, True)
    with psycopg.connect(reader_url) as conn:
        assert conn.execute("SELECT count(*) FROM usage_events").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM usage_hourly").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO usage_hourly (bucket) VALUES (now())")
    with psycopg.connect(empty_url, autocommit=True) as conn:
        migrate(conn, reader_role=role, reader_password=None)  # password removed from config: no login
        assert conn.execute(login, (role,)).fetchone() == (False, None)
    with pytest.raises(psycopg.OperationalError, match=r"password|authentication|not permitted to log in"):
        psycopg.connect(reader_url).close()
