"""The price book's side of the database: data versions, sync attempts, and what dashboards read.

Tables (migrations ``0010_price_versions.sql`` and ``0011_model_prices.sql``):

- ``price_versions``: every genai-prices snapshot otel-margin has used, the fetched ``data.json`` kept byte
  for byte (the bundled data is recorded without bytes: the installed package rebuilds it). One is active:
  the last good version, which every process loads at start.
- ``price_override_versions``: each overrides file by content version (what ``override_version`` names).
- ``price_sync_attempts``: every sync, good or failed.
- ``model_prices``, ``model_facts``, ``model_quality``: the book in force, flattened for dashboards and the
  simulator. ``publish`` rewrites all three in one transaction whenever the active version (or, at serve
  start, the overrides or quality file) changes; readers see the old rows until it commits.

Every function takes a connection in autocommit mode and opens its own transaction where it writes, except
``publish`` and ``make_active``, which run inside the caller's (``register`` and ``sync.sync_prices``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

from otel_margin_backend.modelinfo.facts import priced_modalities
from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pricedata.timeline import book_ranges
from otel_margin_backend.pricing import build_book, names
from otel_margin_backend.pricing.book import PriceBook
from otel_margin_backend.pricing.config import PricingConfig
from otel_margin_backend.pricing.data import PriceData
from otel_margin_backend.pricing.errors import PriceSyncError
from otel_margin_backend.pricing.types import PriceSource
from otel_margin_backend.storage.database import Conn

PUBLISH_LOCK_KEY = 0x6F6D5F7072696365
"""Advisory lock ("om_price") held while a version is stored, activated or published, so concurrent
processes (replicas starting together, a CLI sync during the daily job) take turns."""

BUNDLED_SOURCE = "bundled"
"""``price_versions.source`` of the data shipped inside the genai-prices package."""


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One row of ``price_versions`` (without its data)."""

    price_version: str
    """What ``usage_events.price_version`` records for calls priced with this data."""
    source: str
    """The URL or file it was fetched from, or ``bundled``."""
    fetched_at: datetime
    provider_count: int
    model_count: int
    data_sha256: str | None
    """Hash of the stored bytes; None for the bundled data."""
    active: bool


@dataclass(frozen=True, slots=True)
class SyncAttempt:
    """One row of ``price_sync_attempts``."""

    attempted_at: datetime
    source: str
    trigger: str
    outcome: str
    price_version: str | None
    new_version: bool
    model_count: int | None
    duration_ms: int
    error: str | None


_VERSION_COLUMNS = "price_version, source, fetched_at, provider_count, model_count, data_sha256, active"


def model_count(data: PriceData) -> int:
    """How many models a snapshot prices (all providers).

    Args:
        data: The snapshot.

    Returns:
        The count.
    """
    return sum(len(provider.models) for provider in data.providers)


def active_version(conn: Conn) -> StoredVersion | None:
    """The version in force, or None if none was ever recorded.

    Args:
        conn: A connection.

    Returns:
        The active version.
    """
    row = conn.execute(f"SELECT {_VERSION_COLUMNS} FROM price_versions WHERE active").fetchone()
    return StoredVersion(*row) if row else None


def stored_versions(conn: Conn) -> list[StoredVersion]:
    """Every recorded version, newest first.

    Args:
        conn: A connection.

    Returns:
        The versions.
    """
    rows = conn.execute(f"SELECT {_VERSION_COLUMNS} FROM price_versions ORDER BY version_id DESC").fetchall()
    return [StoredVersion(*row) for row in rows]


def load_data(conn: Conn, version: StoredVersion) -> PriceData | None:
    """Rebuild a stored version's data.

    Args:
        conn: A connection.
        version: The version.

    Returns:
        The snapshot; None for bundled data of another genai-prices release than the one installed.

    Raises:
        PriceDataError: the stored bytes no longer validate (e.g. after a genai-prices upgrade).
    """
    if version.data_sha256 is None:
        bundled = PriceData.bundled()
        return bundled if bundled.version == version.price_version else None
    row = conn.execute("SELECT data FROM price_versions WHERE price_version = %s", (version.price_version,)).fetchone()
    if row is None:
        return None
    return PriceData.from_json_bytes(
        bytes(row[0]), version=version.price_version, source=f"stored price version {version.price_version!r}"
    )


def book_in_force(conn: Conn, config: PricingConfig) -> PriceBook:
    """The book ``serve`` prices with: the active stored version (else the bundled data) plus the overrides.

    A configured ``data_file`` pins the data and wins over stored versions.

    Args:
        conn: A connection.
        config: The pricing config (overrides, Azure deployments, data file).

    Returns:
        The book.

    Raises:
        PriceDataError: the data file or the active stored version cannot be loaded.
        PricingFileError: the overrides file is invalid.
    """
    book = build_book(config)
    if config.data_file is not None:
        return book
    active = active_version(conn)
    data = load_data(conn, active) if active is not None else None
    return book.with_data(data) if data is not None and data.version != book.version else book


def store_version(conn: Conn, data: PriceData, raw: bytes | None, source: str) -> bool:
    """Record a snapshot unless it is recorded already (call inside a transaction holding the lock).

    Args:
        conn: A connection inside a transaction.
        data: The validated snapshot.
        raw: Its bytes as fetched, or None for the bundled data (or a version recorded already).
        source: Where it came from.

    Returns:
        True if the version is new.

    Raises:
        PriceSyncError: a different snapshot is already recorded under the same version name, or a version
            that is neither bundled nor recorded comes without its bytes.
    """
    sha = hashlib.sha256(raw).hexdigest() if raw is not None else None
    if raw is None and data.version != PriceData.bundled().version:
        known = conn.execute("SELECT FROM price_versions WHERE price_version = %s", (data.version,)).fetchone()
        if known is None:
            raise PriceSyncError(f"price version {data.version!r} cannot be recorded without its data")
        return False
    inserted = conn.execute(
        "INSERT INTO price_versions (price_version, source, provider_count, model_count, data_sha256, data)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING version_id",
        (data.version, source, len(data.providers), model_count(data), sha, raw),
    ).fetchone()
    if inserted is not None:
        return True
    row = conn.execute(
        "SELECT data_sha256 FROM price_versions WHERE price_version = %s OR data_sha256 = %s", (data.version, sha)
    ).fetchall()
    if any(found != sha for (found,) in row):
        raise PriceSyncError(f"price version {data.version!r} is already recorded with different data")
    return False


def make_active(conn: Conn, price_version: str) -> bool:
    """Make a recorded version the active one (call inside a transaction holding the lock).

    Args:
        conn: A connection inside a transaction.
        price_version: The version.

    Returns:
        True if the active version changed.
    """
    conn.execute("UPDATE price_versions SET active = false WHERE active AND price_version <> %s", (price_version,))
    changed = conn.execute(
        "UPDATE price_versions SET active = true, activated_at = now() WHERE price_version = %s AND NOT active"
        " RETURNING version_id",
        (price_version,),
    ).fetchone()
    return changed is not None


def lock(conn: Conn) -> None:
    """Take the price-publication lock for the current transaction.

    Args:
        conn: A connection inside a transaction.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (PUBLISH_LOCK_KEY,))


def register(conn: Conn, book: PriceBook, *, raw: bytes | None, source: str, quality: QualityTable) -> bool:
    """Make a book's data the active version (recording it if new) and publish the book: ``serve``'s start.

    Args:
        conn: A connection in autocommit mode.
        book: The book in force.
        raw: The data's bytes (a data file), or None for the bundled data or a version already recorded.
        source: Where the data came from.
        quality: The quality table to publish.

    Returns:
        True if the active version changed.
    """
    data = PriceData(book.providers, book.version)
    with conn.transaction():
        lock(conn)
        store_version(conn, data, raw, source)
        changed = make_active(conn, book.version)
        publish(conn, book, quality)
    return changed


def publish(conn: Conn, book: PriceBook, quality: QualityTable) -> None:
    """Rewrite ``model_prices``, ``model_facts`` and ``model_quality`` for a book (inside the caller's transaction).

    Also records the book's overrides in ``price_override_versions``.

    Args:
        conn: A connection inside a transaction holding the lock.
        book: The book.
        quality: The quality table (bundled plus the user's file).
    """
    overrides = book.overrides
    if overrides is not None:
        conn.execute(
            "INSERT INTO price_override_versions (override_version, source, content) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (overrides.version, overrides.source, Jsonb(overrides.config.model_dump(mode="json"))),
        )
    conn.execute("DELETE FROM model_prices")
    with conn.cursor().copy(
        "COPY model_prices (price_version, override_version, source, provider, model, model_name, kind, condition,"
        " amount, list_amount, discount_percent, currency, valid_from, valid_to) FROM STDIN"
    ) as copy:
        for r in book_ranges(book):
            copy.write_row(
                (book.version, book.override_version, r.source.value, r.provider, r.model, r.model_name, r.kind,
                 r.condition, r.amount, r.list_amount, r.discount_percent, r.currency, r.valid_from, r.valid_to)
            )  # fmt: skip
    conn.execute("DELETE FROM model_facts")
    with conn.cursor().copy(
        "COPY model_facts (price_version, provider, model, model_name, context_window, input_modalities,"
        " output_modalities, deprecated) FROM STDIN"
    ) as copy:
        for provider in book.providers:
            for info in provider.models:
                inputs, outputs = priced_modalities(info)
                copy.write_row(
                    (book.version, provider.id, info.id, info.name, info.context_window, sorted(inputs),
                     sorted(outputs), bool(info.deprecated))
                )  # fmt: skip
    conn.execute("DELETE FROM model_quality")
    with conn.cursor().copy(
        "COPY model_quality (vendor, model, aliases, provider, model_id, benchmark, benchmark_name, scale, value,"
        " source, as_of, checked, note, origin, table_version) FROM STDIN"
    ) as copy:
        for row in _quality_rows(book, quality):
            copy.write_row(row)


def _quality_rows(book: PriceBook, quality: QualityTable) -> Iterable[tuple[object, ...]]:
    bundled = {(names.provider_key(m.vendor), names.model_key(m.model)): m.scores for m in QualityTable.load().models}
    table_version = ", ".join(quality.versions)
    for entry in quality.models:
        provider_id = model_id = None
        for name in (entry.model, *entry.aliases):
            resolution = book.resolve(entry.vendor, name)
            if resolution.source is PriceSource.DATA:
                provider_id, model_id = resolution.data_provider_id, resolution.model_id
                break
        shipped = bundled.get((names.provider_key(entry.vendor), names.model_key(entry.model)), {})
        for key, score in entry.scores.items():
            benchmark = quality.benchmarks[key]
            origin = "bundled" if shipped.get(key) == score else "user"
            yield (entry.vendor, entry.model, list(entry.aliases), provider_id, model_id, key, benchmark.name,
                   benchmark.scale, score.value, score.source, score.as_of, score.checked, score.note, origin,
                   table_version)  # fmt: skip


def record_attempt(
    conn: Conn,
    *,
    source: str,
    trigger: str,
    price_version: str | None,
    new_version: bool,
    model_count: int | None,
    duration_ms: int,
    error: str | None,
    attempted_at: datetime | None = None,
) -> None:
    """Record one sync attempt (``ok`` when ``error`` is None, else ``failed``).

    Args:
        conn: A connection in autocommit mode.
        source: The URL or file synced from.
        trigger: ``cli`` or ``schedule``.
        price_version: The version fetched, if it validated.
        new_version: The data had never been recorded before.
        model_count: Models in the data, if it validated.
        duration_ms: How long the attempt took.
        error: One line saying why it failed, or None.
        attempted_at: When it was attempted (default: now; an attempt recorded late keeps its own time).
    """
    conn.execute(
        "INSERT INTO price_sync_attempts (attempted_at, source, trigger, outcome, price_version, new_version,"
        " model_count, duration_ms, error) VALUES (coalesce(%s, now()), %s, %s, %s, %s, %s, %s, %s, %s)",
        (attempted_at, source, trigger, "ok" if error is None else "failed", price_version, new_version,
         model_count, duration_ms, error),
    )  # fmt: skip


def recent_attempts(conn: Conn, limit: int = 10) -> list[SyncAttempt]:
    """The latest sync attempts, newest first.

    Args:
        conn: A connection.
        limit: How many.

    Returns:
        The attempts.
    """
    rows = conn.execute(
        "SELECT attempted_at, source, trigger, outcome, price_version, new_version, model_count, duration_ms, error"
        " FROM price_sync_attempts ORDER BY attempt_id DESC LIMIT %s",
        (limit,),
    ).fetchall()
    return [SyncAttempt(*row) for row in rows]
