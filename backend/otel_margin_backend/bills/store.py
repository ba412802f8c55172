"""The bill tables (migration 0090): record an import, store the days that changed, list the imports.

An import is recorded before its first request (``running``), so a fetch that fails or hangs is visible. Storing
is one transaction under a per-provider advisory lock: for each day fetched, its digest is compared with the
latest stored version of that day; only a day that differs (a revision, or a day never stored) gets a new version.
A day fetched empty replaces a stored day that had lines (the provider revised it to nothing); a day empty and never
stored is not stored. The import row then says how many days and lines it stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from otel_margin_backend.bills.lines import BillDay
from otel_margin_backend.storage.database import Conn

Trigger = Literal["cli", "schedule", "csv"]
LOCK_KEY = 0x6F6D_6269  # "ombi": one advisory lock space for bill writers
_NEVER = ""
LINE_COLUMNS = (
    "import_id", "provider", "stream", "day", "model", "project", "api_key", "line_item", "service_tier", "requests",
    "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "amount", "currency",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What one import stored."""

    import_id: int
    provider: str
    first_day: date
    last_day: date
    days_fetched: int
    """Days fetched, counted once per stream."""
    revised: tuple[tuple[str, date], ...]
    """(stream, day) of every day stored: new, or revised since the last import."""
    lines: int
    """Lines of the days stored."""


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """A row of ``bill_imports``."""

    import_id: int
    provider: str
    source: str
    first_day: date
    last_day: date
    started_at: datetime
    status: str
    trigger: str
    days_stored: int
    lines: int
    error: str | None


def begin(conn: Conn, provider: str, source: str, first: date, last: date, trigger: Trigger) -> int:
    """Record an import as running; return its id."""
    row = conn.execute(
        "INSERT INTO bill_imports (provider, source, first_day, last_day, trigger) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING import_id",
        (provider, source, first, last, trigger),
    ).fetchone()
    assert row is not None
    return int(row[0])


def fail(conn: Conn, import_id: int, error: str) -> None:
    """Record that an import failed (nothing of it was stored)."""
    conn.execute(
        "UPDATE bill_imports SET status = 'failed', finished_at = now(), error = %s WHERE import_id = %s",
        (error[:1000], import_id),
    )


def store(conn: Conn, import_id: int, provider: str, days: Sequence[BillDay]) -> ImportResult:
    """Store the days that differ from their latest version, and mark the import ok (one transaction).

    Args:
        conn: A connection in autocommit mode (the transaction is opened here).
        import_id: From ``begin``.
        provider: The provider.
        days: Every (stream, day) fetched, empty ones included (``lines.by_day``).

    Returns:
        What was stored.
    """
    first = min(d.day for d in days)
    last = max(d.day for d in days)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_KEY, provider))
        latest = {
            (stream, day): digest
            for stream, day, digest in conn.execute(
                "SELECT stream, day, digest FROM bill_days_latest WHERE provider = %s AND day BETWEEN %s AND %s",
                (provider, first, last),
            ).fetchall()
        }
        # A day empty now and never stored has nothing to replace.
        changed = [d for d in days if latest.get((d.stream, d.day), _NEVER if d.lines else d.digest) != d.digest]
        for d in changed:
            conn.execute(
                "INSERT INTO bill_days (import_id, provider, stream, day, digest, line_count, amount)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (import_id, provider, d.stream, d.day, d.digest, len(d.lines), d.amount),
            )
        lines = [line for d in changed for line in d.lines]
        if lines:
            with conn.cursor().copy(f"COPY bill_lines ({', '.join(LINE_COLUMNS)}) FROM STDIN") as copy:
                for x in lines:
                    copy.write_row((import_id, provider, x.stream, x.day, x.model, x.project, x.api_key, x.line_item,
                                    x.service_tier, x.requests, x.input_tokens, x.cache_read_tokens,
                                    x.cache_write_tokens, x.output_tokens, x.amount, x.currency))  # fmt: skip
        conn.execute(
            "UPDATE bill_imports SET status = 'ok', finished_at = now(), days_stored = %s, lines = %s"
            " WHERE import_id = %s",
            (len(changed), len(lines), import_id),
        )
    return ImportResult(import_id, provider, first, last, len(days), tuple((d.stream, d.day) for d in changed),
                        len(lines))  # fmt: skip


def imports(conn: Conn, *, provider: str | None = None, limit: int = 20) -> list[ImportRecord]:
    """The latest imports, newest first."""
    rows = conn.execute(
        "SELECT import_id, provider, source, first_day, last_day, started_at, status, trigger, days_stored, lines,"
        " error FROM bill_imports WHERE %(p)s::text IS NULL OR provider = %(p)s ORDER BY import_id DESC LIMIT %(n)s",
        {"p": provider, "n": limit},
    ).fetchall()
    return [ImportRecord(*row) for row in rows]


def billed_total(conn: Conn, provider: str, first: date, last: date) -> Decimal:
    """The latest billed amount of a provider over ``[first, last]``."""
    row = conn.execute(
        "SELECT coalesce(sum(amount), 0) FROM bill_lines_latest WHERE provider = %s AND day BETWEEN %s AND %s",
        (provider, first, last),
    ).fetchone()
    return Decimal(row[0]) if row else Decimal(0)
