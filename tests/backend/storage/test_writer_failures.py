"""How the writer classifies a failed write, on the real database: a row refused for its data is permanent, only a
database that cannot take writes now is "retry" (issue 12: one poison row used to be retried forever)."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.pipeline.errors import PermanentError, StoreUnavailable
from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.storage.writer import FailureKind, UsageWriter, failure_kind
from tests.support.events import event, run, write
from tests.support.rows import count
from tests.support.stores import Server


def _random_text(size: int) -> str:
    rnd = random.Random(size)  # incompressible, so the index tuple cannot shrink below btree's limit
    return "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(size))


def _set(field: str, value: object) -> Callable[[UsageEvent], None]:
    return lambda e: setattr(e, field, value)


POISON: list[tuple[str, Callable[[UsageEvent], None], str]] = [
    ("NUL in text (client-side DataError)", _set("customer_id", "a\x00b"), "text fields cannot contain NUL"),
    ("NUL in jsonb (22P05)", _set("attributes", {"otel_margin.processing": "a\x00b"}), "SQLSTATE 22P05"),
    ("cost 1e200000: numeric overflow (22003)", _set("cost_total", Decimal("1e200000")), "SQLSTATE 22003"),
    ("cost 1e-20000: numeric overflow (22003)", _set("cost_total", Decimal("1e-20000")), "SQLSTATE 22003"),
    ("3 KB customer: index row size (54000)", _set("customer_id", _random_text(3000)), "SQLSTATE 54000"),
    ("3 KB model: index row size (54000)", _set("response_model", _random_text(3000)), "SQLSTATE 54000"),
    ("negative tokens: check violation (23514)", _set("input_tokens", -5), "SQLSTATE 23514"),
    ("bad currency: check violation (23514)", _set("currency", "usd"), "SQLSTATE 23514"),
    ("null customer: not-null violation (23502)", _set("customer_id", None), "SQLSTATE 23502"),
    ("tokens beyond int8: out of range (22003)", _set("output_tokens", 2**63), "SQLSTATE 22003"),
    ("lone surrogate (client-side UnicodeEncodeError)", _set("feature", "a\ud800b"), "surrogates not allowed"),
]


@pytest.mark.parametrize(("poison", "reason"), [(p[1], p[2]) for p in POISON], ids=[p[0] for p in POISON])
def test_a_row_refused_for_its_data_fails_the_batch_permanently_and_writes_nothing(
    db_url: str, poison: Callable[[UsageEvent], None], reason: str
) -> None:
    bad = event(2)
    poison(bad)
    with pytest.raises(PermanentError, match="usage rejected by the database") as err:
        run(write(db_url, [event(1), bad, event(3)]))
    assert reason in str(err.value)
    assert failure_kind(err.value.__cause__ or err.value) is FailureKind.REFUSED
    assert count(db_url) == 0
    assert count(db_url, "usage_hourly") == 0


# Every SQLSTATE class the classification names, raised by the real server.
SQLSTATES = [
    ("22021", FailureKind.REFUSED),  # character_not_in_repertoire (NUL in text)
    ("22P05", FailureKind.REFUSED),  # untranslatable_character (NUL in jsonb)
    ("22003", FailureKind.REFUSED),  # numeric_value_out_of_range
    ("22008", FailureKind.REFUSED),  # datetime_field_overflow
    ("22P02", FailureKind.REFUSED),  # invalid_text_representation
    ("23514", FailureKind.REFUSED),  # check_violation
    ("23502", FailureKind.REFUSED),  # not_null_violation
    ("23505", FailureKind.REFUSED),  # unique_violation (the SQL function handles duplicates; any left is data)
    ("54000", FailureKind.REFUSED),  # program_limit_exceeded ("index row size exceeds")
    ("54001", FailureKind.REFUSED),  # statement_too_complex
    ("40001", FailureKind.CONFLICT),  # serialization_failure
    ("40P01", FailureKind.CONFLICT),  # deadlock_detected
    ("57P01", FailureKind.UNAVAILABLE),  # admin_shutdown
    ("57014", FailureKind.UNAVAILABLE),  # query_canceled (statement timeout)
    ("55P03", FailureKind.UNAVAILABLE),  # lock_not_available
    ("53100", FailureKind.UNAVAILABLE),  # disk_full
    ("53200", FailureKind.UNAVAILABLE),  # out_of_memory
    ("53300", FailureKind.UNAVAILABLE),  # too_many_connections
    ("08006", FailureKind.UNAVAILABLE),  # connection_failure
    ("25006", FailureKind.UNAVAILABLE),  # read_only_sql_transaction (a replica promoted away)
    ("42P01", FailureKind.UNAVAILABLE),  # undefined_table (not migrated: the operator's to fix, the data is fine)
    ("42501", FailureKind.UNAVAILABLE),  # insufficient_privilege
    ("XX000", FailureKind.UNAVAILABLE),  # internal_error
]


@pytest.mark.parametrize(("sqlstate", "kind"), SQLSTATES, ids=[s for s, _ in SQLSTATES])
def test_each_sqlstate_class_is_classified(timescale_server: Server, sqlstate: str, kind: FailureKind) -> None:
    url = timescale_server.cluster.dsn("postgres")  # no tables needed: the server raises the state itself
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute(f"DO $$ BEGIN RAISE EXCEPTION 'raised for the test' USING ERRCODE = '{sqlstate}'; END $$")
    assert err.value.sqlstate == sqlstate
    assert failure_kind(err.value) is kind


def test_client_side_errors_without_a_sqlstate() -> None:
    assert failure_kind(psycopg.DataError("decimal too large")) is FailureKind.REFUSED
    assert failure_kind(OverflowError("int too big to convert")) is FailureKind.REFUSED
    assert failure_kind(psycopg.OperationalError("connection refused")) is FailureKind.UNAVAILABLE
    assert failure_kind(psycopg.InterfaceError("the connection is closed")) is FailureKind.UNAVAILABLE


async def _write_with_pool(url: str, events: list[UsageEvent], *, terminate_first: bool = False) -> None:
    async with AsyncConnectionPool(url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False) as pool:
        await pool.open(wait=True)
        if terminate_first:
            async with pool.connection() as conn:
                pid = conn.info.backend_pid
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            await asyncio.sleep(0.2)
        await UsageWriter(pool).write(events)


def test_the_writer_reports_a_poison_row_as_permanent_not_unavailable(db_url: str) -> None:
    bad = event(2, customer=_random_text(3000))
    with pytest.raises(PermanentError, match="SQLSTATE 54000") as err:
        run(_write_with_pool(db_url, [event(1), bad]))
    assert not isinstance(err.value, StoreUnavailable)


def test_a_connection_killed_by_the_administrator_is_unavailable(db_url: str) -> None:
    # pg_terminate_backend: the server sends 57P01 admin_shutdown and closes the connection.
    with pytest.raises(StoreUnavailable, match="the database cannot take writes"):
        run(_write_with_pool(db_url, [event(1)], terminate_first=True))
    assert count(db_url) == 0
