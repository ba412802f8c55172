"""A database exchange written once and run on a sync connection (the CLI) or an async one (the service).

A read or write that both need is a generator function decorated with ``@exchange``: it yields each ``Statement``
(SQL and its parameters), is sent back that statement's rows, and returns the result. ``run`` drives it on a
``Conn``, ``arun`` on an ``AsyncConn``. The SQL, the order of the statements and the mapping of rows exist
once; the sync and async functions a feature offers are one-line adapters, so they cannot drift apart::

    @exchange()
    def _pnl(span: Period, by: GroupBy) -> Steps[list[PnlRow]]:
        return (yield Statement(PNL_SQL, (span.start, span.end, by), class_row(PnlRow)))

    def read_pnl(conn: Conn, span: Period, by: GroupBy = "customer") -> list[PnlRow]:
        return run(conn, _pnl(span, by))

    async def read_pnl_async(conn: AsyncConn, span: Period, by: GroupBy = "customer") -> list[PnlRow]:
        return await arun(conn, _pnl(span, by))

Nothing runs until ``run`` or ``arun`` sends the first statement, so an exchange is cheap to build and used once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from psycopg.abc import Params, QueryNoTemplate
from psycopg.rows import BaseRowFactory, tuple_row

from otel_margin_backend.storage.database import AsyncConn, Conn

T = TypeVar("T")
P = ParamSpec("P")

Rows = list[Any]
"""What a statement sends back: its rows as its row factory made them, ``[]`` when the statement returns none."""
Steps = Generator["Statement", Rows, T]
"""The body of an exchange: yields statements, receives their rows, returns the result."""


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of an exchange."""

    query: QueryNoTemplate
    params: Params | None = None
    """Its parameters, if any."""
    row_factory: BaseRowFactory[Any] = tuple_row
    """How its rows are made (``class_row(PnlRow)``). Default: tuples."""
    each: Sequence[Params] | None = None
    """Run the statement once per parameter set (``executemany``) instead; no rows come back."""


@dataclass(frozen=True, slots=True)
class Exchange(Generic[T]):
    """Statements to run in order, and what their rows come to; built by an ``@exchange`` function."""

    steps: Steps[T]
    transaction: bool
    """Run them all in one transaction."""


def exchange(*, transaction: bool = False) -> Callable[[Callable[P, Steps[T]]], Callable[P, Exchange[T]]]:
    """Make a generator function of statements into one that returns an ``Exchange`` for ``run`` or ``arun``.

    Args:
        transaction: Run the statements in one transaction (``SET LOCAL``, several writes that stand or fall
            together). Default: each statement on its own, as the connection would.

    Returns:
        The decorator.
    """

    def decorate(body: Callable[P, Steps[T]]) -> Callable[P, Exchange[T]]:
        @functools.wraps(body)
        def build(*args: P.args, **kwargs: P.kwargs) -> Exchange[T]:
            return Exchange(body(*args, **kwargs), transaction)

        return build

    return decorate


def run(conn: Conn, exchange: Exchange[T]) -> T:
    """Run an exchange on a sync connection.

    Args:
        conn: The connection.
        exchange: What to run.

    Returns:
        The exchange's result.
    """
    steps, rows = exchange.steps, None
    with conn.transaction() if exchange.transaction else nullcontext():
        while True:
            try:
                step = next(steps) if rows is None else steps.send(rows)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            with conn.cursor(row_factory=step.row_factory) as cur:
                if step.each is not None:
                    cur.executemany(step.query, step.each)
                    rows = []
                else:
                    cur.execute(step.query, step.params)
                    rows = cur.fetchall() if cur.description is not None else []


async def arun(conn: AsyncConn, exchange: Exchange[T]) -> T:
    """Run an exchange on an async connection.

    Args:
        conn: The connection.
        exchange: What to run.

    Returns:
        The exchange's result.
    """
    steps, rows = exchange.steps, None
    async with conn.transaction() if exchange.transaction else nullcontext():
        while True:
            try:
                step = next(steps) if rows is None else steps.send(rows)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            async with conn.cursor(row_factory=step.row_factory) as cur:
                if step.each is not None:
                    await cur.executemany(step.query, step.each)
                    rows = []
                else:
                    await cur.execute(step.query, step.params)
                    rows = await cur.fetchall() if cur.description is not None else []
