"""The usage writer: makes a batch durable with COPY, once, with its rollups.

A batch is COPYed into a session-private staging table, then ``usage_ingest_staged_outcomes()`` (a SQL function
from the migrations) inserts the rows not stored yet and adds exactly those rows to ``usage_hourly``, all in one
transaction. Redelivered events change no total; overlapping batches
written concurrently wait for each other (rows go in key order) instead of double counting.
Spans of one provider call (same ``call_key``) keep one row, the best ranked (README.md).

When the counts say something was skipped or replaced (never on the fast path of a new batch), the writer reads
which rows, and tells each event's ``RowOutcome``: a redelivery is compared with the row stored for it, so one that
carries other numbers (``DIFFERS``, a client bug) is visible to the sender and in ``/v1/stats``.

The COPY is in text format: psycopg formats one of these rows in about two thirds of the CPU the binary format
takes (its binary numeric dumper costs ~0.9 us per cost column, the text one ~0.2 us; ``docs/benchmarks.md``), and
the formatting runs on the event loop, which shares the interpreter lock with normalization.

A failed write is classified by ``failure_kind`` (one table, below): a row the database refuses for what it
holds is the sender's problem and is never retried; only a database that cannot take writes now is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.pipeline.errors import PermanentError, StoreUnavailable
from otel_margin_backend.pipeline.events import DEFAULT_CONTEXT_ATTRIBUTES, UsageEvent
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import first_line

log = logging.getLogger(__name__)

# Column order of usage_events (0002_usage_events.sql); the text COPY leaves each value's parsing to its column.
COLUMNS: tuple[str, ...] = (
    "time",
    "event_id",
    "trace_id",
    "span_id",
    "request_id",
    "customer_id",
    "feature",
    "service",
    "environment",
    "provider",
    "request_model",
    "response_model",
    "model",
    "operation",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "tokens_estimated",
    "status",
    "cost_input",
    "cost_cache_read",
    "cost_cache_write",
    "cost_output",
    "cost_reasoning",
    "cost_total",
    "currency",
    "price_version",
    "override_version",
    "reported_cost",
    "reported_cost_source",
    "attributes",
    "call_key",  # 0061_one_row_per_call.sql
    "call_detail",
    "provider_source",  # 0070_unpriced_visible.sql
)
COLUMN_LIST = ", ".join(COLUMNS)
_MAX_ATTEMPTS = 3
_ROWS_PER_YIELD = 500
"""Rows formatted between two yields to the event loop (about 5 ms of work)."""
STORED_ATTRIBUTES = frozenset(key for keys in DEFAULT_CONTEXT_ATTRIBUTES.values() for key in keys)
"""The span attributes kept on a row by default: those that chose its price beyond model and tokens (so a re-price
can choose it again), i.e. the default price-context attributes. Everything else a span carried stays in the trace
backend. A configured ``context_attributes`` is passed in as ``stored_attributes``."""


class FailureKind(Enum):
    """What a failed write means for the rows in it."""

    REFUSED = "refused"
    """The database refused a row for what it holds: the same rows would fail again (client error)."""
    CONFLICT = "conflict"
    """A lock conflict with a concurrent transaction: the same write may succeed at once."""
    UNAVAILABLE = "unavailable"
    """The database cannot take writes now (down, shutting down, full, misconfigured): retry later."""


REFUSED_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
"""SQLSTATE classes that mean the data is at fault: 22 data exception (22021 NUL in text, 22P05 NUL in jsonb,
22003 numeric out of range, ...), 23 integrity constraint violation (23514 check, 23502 not null), 54 program
limit exceeded (54000 "index row size exceeds" for an over-long name)."""
CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})
"""Serialization failure and deadlock: retried here, then reported as unavailable."""

_CLIENT_DATA_ERRORS = (psycopg.DataError, ValueError, TypeError, OverflowError)
"""Raised by psycopg before a row leaves the process: a NUL in text, which the text COPY cannot carry
(``psycopg.DataError``), a lone surrogate (``UnicodeEncodeError``); the others guard what a dumper may raise."""


def failure_kind(exc: BaseException) -> FailureKind:
    """Classify an error raised while writing a batch.

    Args:
        exc: What ``write_batch`` (or the pool) raised.

    Returns:
        ``REFUSED`` for data errors (SQLSTATE classes 22, 23 and 54, and the dumpers' client-side errors),
        ``CONFLICT`` for 40001 and 40P01, ``UNAVAILABLE`` for everything else: connection errors, 57P01 admin
        shutdown, 53xxx out of resources, 42xxx missing tables or privileges, pool timeouts.
    """
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            # Client side: psycopg.DataError comes from a dumper; connection and pool errors carry no state either.
            return FailureKind.REFUSED if isinstance(exc, psycopg.DataError) else FailureKind.UNAVAILABLE
        if state in CONFLICT_SQLSTATES:
            return FailureKind.CONFLICT
        return FailureKind.REFUSED if state[:2] in REFUSED_SQLSTATE_CLASSES else FailureKind.UNAVAILABLE
    if isinstance(exc, _CLIENT_DATA_ERRORS):
        return FailureKind.REFUSED
    return FailureKind.UNAVAILABLE


def refusal(exc: BaseException) -> PermanentError:
    """The ``PermanentError`` a refused write raises: the database's one-line reason, and its SQLSTATE."""
    if isinstance(exc, psycopg.Error):
        reason = (exc.diag.message_primary if exc.sqlstate else None) or first_line(exc)
        state = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
    else:
        reason, state = first_line(exc), ""
    return PermanentError(f"usage rejected by the database{state}: {reason}")


class RowOutcome(Enum):
    """What the store did with one event of a batch."""

    STORED = "stored"
    """A new row."""
    REPLACED = "replaced"
    """A new row, in place of the worse span stored for its call (that row is gone: the row count is unchanged)."""
    REDELIVERED = "redelivered"
    """Stored already (or earlier in the batch) with the same numbers: skipped."""
    DIFFERS = "differs"
    """Stored already (or earlier in the batch) under its id, but with other numbers: skipped, the stored row
    stays. A client that sends two calls under one request id, or changes a call on retry."""
    FOLDED = "folded"
    """A span of a call whose stored (or batch-mate) span ranks better: skipped."""


NOT_STORED = frozenset({RowOutcome.REDELIVERED, RowOutcome.DIFFERS, RowOutcome.FOLDED})
"""Outcomes that added no row."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a batch did to the store."""

    inserted: int
    duplicates: int
    replaced: int = field(default=0, compare=False)
    """Stored rows deleted because a better span of their call was inserted (counted in ``inserted`` too)."""
    outcomes: tuple[RowOutcome, ...] = field(default=(), compare=False)
    """Each event's outcome, in the order written; empty when every event is a new row (the fast path)."""

    def outcome(self, index: int) -> RowOutcome:
        """The outcome of the event at ``index`` in the batch."""
        return self.outcomes[index] if self.outcomes else RowOutcome.STORED


_OUTCOMES_QUERY = """
SELECT o.event_id, o.time, o.outcome, e.customer_id, e.feature, e.service, e.environment, e.provider,
       e.request_model, e.response_model, e.input_tokens, e.cache_read_tokens, e.cache_write_tokens,
       e.output_tokens, e.reasoning_tokens, e.reported_cost
FROM pg_temp.usage_outcomes o
LEFT JOIN LATERAL (
    SELECT * FROM usage_events s
    WHERE o.outcome = 'redelivered' AND s.event_id = o.event_id AND s.time = o.time
    LIMIT 1
) e ON true
"""
"""The skipped and replacing rows of the batch just written, with the stored numbers of each redelivered one. The
lateral ``LIMIT 1`` makes it one primary-key lookup per row: a join would hash all of ``usage_events``."""


def numbers(event: UsageEvent) -> tuple[object, ...]:
    """What a redelivery must repeat to be the same event: attribution, models, tokens and the reported cost.

    Our own cost is left out (a re-price changes it on the stored row), and so are the time and id (the key).
    """
    return (
        event.customer_id, event.feature, event.service, event.environment, event.provider,
        event.request_model, event.response_model, event.input_tokens, event.cache_read_tokens,
        event.cache_write_tokens, event.output_tokens, event.reasoning_tokens, event.reported_cost,
    )  # fmt: skip


def outcomes(events: Sequence[UsageEvent], recorded: Sequence[Sequence[object]]) -> tuple[RowOutcome, ...]:
    """Each event's outcome, from the rows ``_OUTCOMES_QUERY`` read (the first copy of a row in a batch is the one
    the store kept or compared; later copies are compared with it)."""
    by_key = {(r[0], r[1]): (r[2], tuple(r[3:])) for r in recorded}
    first: dict[tuple[bytes, object], UsageEvent] = {}
    result: list[RowOutcome] = []
    for event in events:
        key = (event.event_id, event.time)
        kind, stored = by_key.get(key, ("stored", ()))
        if kind == "folded":
            result.append(RowOutcome.FOLDED)
        elif key in first:
            same = numbers(event) == numbers(first[key])
            result.append(RowOutcome.REDELIVERED if same else RowOutcome.DIFFERS)
        else:
            first[key] = event
            if kind == "redelivered":
                result.append(RowOutcome.REDELIVERED if numbers(event) == stored else RowOutcome.DIFFERS)
            else:
                result.append(RowOutcome.REPLACED if kind == "replaced" else RowOutcome.STORED)
    return tuple(result)


def row(event: UsageEvent, stored_attributes: frozenset[str] = STORED_ATTRIBUTES) -> tuple[object, ...]:
    """One ``usage_events`` row, in ``COLUMNS`` order, keeping only ``stored_attributes`` of the event's attributes."""
    return (
        event.time, event.event_id, event.trace_id, event.span_id, event.request_id,
        event.customer_id, event.feature, event.service, event.environment, event.provider,
        event.request_model, event.response_model, event.model, event.operation,
        event.input_tokens, event.cache_read_tokens, event.cache_write_tokens,
        event.output_tokens, event.reasoning_tokens, event.tokens_estimated, event.status.value,
        event.cost_input, event.cost_cache_read, event.cost_cache_write, event.cost_output,
        event.cost_reasoning, event.cost_total, event.currency, event.price_version,
        event.override_version, event.reported_cost, event.reported_cost_source,
        _stored(event.attributes, stored_attributes), event.call_key, event.call_detail, event.provider_source,
    )  # fmt: skip


def _stored(attributes: dict[str, str], stored_attributes: frozenset[str]) -> Jsonb | None:
    if not attributes:
        return None
    kept = {key: value for key, value in attributes.items() if key in stored_attributes}
    return Jsonb(kept) if kept else None


async def write_batch(
    conn: AsyncConn, events: Sequence[UsageEvent], stored_attributes: frozenset[str] = STORED_ATTRIBUTES
) -> WriteResult:
    """Write one batch in one transaction on ``conn`` (which must not be inside a transaction).

    ``stored_attributes`` are the event attributes kept on each row (the price-context attributes).

    Raises:
        PermanentError: the database refused a row for its data (``failure_kind`` is ``REFUSED``: a
            constraint, a NUL character, an over-long key, a number out of range); nothing is written.
        psycopg.Error: anything else, for the caller to classify.
    """
    if not events:
        return WriteResult(0, 0)
    recorded: list[tuple[object, ...]] = []
    try:
        async with conn.transaction():
            await conn.execute("SELECT usage_staging_open()")
            async with conn.cursor().copy(f"COPY pg_temp.usage_staging ({COLUMN_LIST}) FROM STDIN") as copy:
                for index, event in enumerate(events, 1):
                    try:
                        await copy.write_row(row(event, stored_attributes))
                    except _CLIENT_DATA_ERRORS as exc:  # a dumper refused a value before it left the process
                        raise refusal(exc) from exc
                    if not index % _ROWS_PER_YIELD:
                        await asyncio.sleep(0)  # formatting rows is CPU work on the event loop: let it breathe
            cur = await conn.execute("SELECT inserted, duplicates, replaced FROM usage_ingest_staged_outcomes()")
            result = await cur.fetchone()
            assert result is not None
            inserted, duplicates, replaced = (int(value) for value in result)
            if duplicates or replaced:
                recorded = await (await conn.execute(_OUTCOMES_QUERY)).fetchall()
    except psycopg.Error as exc:
        if failure_kind(exc) is FailureKind.REFUSED:
            raise refusal(exc) from exc
        raise
    if not (duplicates or replaced):
        return WriteResult(inserted, duplicates)
    return WriteResult(inserted, duplicates, replaced, outcomes(events, recorded))


class UsageWriter:
    """Writes batches through a connection pool, retrying lock conflicts; one instance per process."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConn],
        *,
        stored_attributes: frozenset[str] = STORED_ATTRIBUTES,
        metrics: Metrics = NOOP,
    ) -> None:
        self._pool = pool
        self._stored_attributes = stored_attributes
        self._metrics = metrics

    async def write(self, events: Sequence[UsageEvent]) -> WriteResult:
        """Make ``events`` durable exactly once.

        Raises:
            StoreUnavailable: the database cannot take the write now (the caller answers "retry").
            PermanentError: the database refused a row of the batch for its data; nothing is written.
        """
        errors = self._metrics.db_errors
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                async with self._pool.connection() as conn:
                    return await write_batch(conn, events, self._stored_attributes)
            except PermanentError:
                errors.add(1, {"kind": FailureKind.REFUSED.name.lower()})
                raise
            except TimeoutError as exc:  # pool.connection() timed out: no connection could be had
                errors.add(1, {"kind": FailureKind.UNAVAILABLE.name.lower()})
                raise StoreUnavailable("no database connection became free in time") from exc
            except psycopg.Error as exc:
                kind = failure_kind(exc)
                errors.add(1, {"kind": kind.name.lower()})
                if kind is FailureKind.REFUSED:  # raised outside write_batch's transaction (e.g. the pool)
                    raise refusal(exc) from exc
                if kind is FailureKind.UNAVAILABLE:
                    raise StoreUnavailable(f"the database cannot take writes: {first_line(exc)}") from exc
                # Concurrent overlapping batches are ordered, but stay safe if a user's own writes interleave.
                if attempt == _MAX_ATTEMPTS:
                    raise StoreUnavailable("the database kept reporting lock conflicts; retry") from None
                self._metrics.db_retries.add(1)
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")
