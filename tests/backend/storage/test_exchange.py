"""One exchange, two connections: the same steps give the same result on a sync and an async connection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.rows import class_row

from otel_margin_backend.storage.exchange import Statement, Steps, arun, exchange, run

SETUP = "CREATE TABLE probe (n int PRIMARY KEY, label text NOT NULL)"


@dataclass(frozen=True, slots=True)
class Probe:
    n: int
    label: str


@exchange(transaction=True)
def write_and_read(labels: list[str], *, fail_after_insert: bool = False) -> Steps[tuple[int, list[Probe]]]:
    (first,) = yield Statement("SELECT coalesce(max(n), 0) FROM probe")
    start = first[0] + 1
    yield Statement("INSERT INTO probe VALUES (%s, %s)", each=[(start + i, label) for i, label in enumerate(labels)])
    if fail_after_insert:
        raise ValueError("the exchange gave up")
    rows = yield Statement("SELECT n, label FROM probe ORDER BY n", row_factory=class_row(Probe))
    return start, rows


@exchange()
def labels() -> Steps[list[str]]:
    return [label for (label,) in (yield Statement("SELECT label FROM probe ORDER BY n"))]


def test_sync_and_async_give_the_same_result(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(SETUP)
        assert run(conn, write_and_read(["a", "b"])) == (1, [Probe(1, "a"), Probe(2, "b")])

    async def on_async() -> tuple[int, list[Probe]]:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            return await arun(conn, write_and_read(["c"]))

    assert asyncio.run(on_async()) == (3, [Probe(1, "a"), Probe(2, "b"), Probe(3, "c")])


def test_a_transaction_stands_or_falls_as_a_whole(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(SETUP)
        run(conn, write_and_read(["kept"]))
        with pytest.raises(ValueError, match="gave up"):
            run(conn, write_and_read(["lost"], fail_after_insert=True))
        assert run(conn, labels()) == ["kept"]

    async def on_async() -> list[str]:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            with pytest.raises(ValueError, match="gave up"):
                await arun(conn, write_and_read(["lost too"], fail_after_insert=True))
            return await arun(conn, labels())

    assert asyncio.run(on_async()) == ["kept"]
