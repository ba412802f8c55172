"""One price sync: fetch genai-prices data, validate it, store it as the active version, record the attempt.

Used by ``otel-margin prices sync`` and by the daily job inside ``serve`` (``scheduler.py``). The steps:

1. Fetch the bytes: an http(s) URL (``httpx``, with a timeout, redirects followed, at most
   ``MAX_DATA_BYTES``) or a file path (``file://`` accepted).
2. Validate: ``PriceData.from_json_bytes`` (genai-prices' own validator), then build the new book with the
   running book's overrides, so a discount naming a model the new data lacks fails here, not later.
3. In one transaction: record the version if its bytes are new, make it active, publish its prices.
4. Record the attempt in ``price_sync_attempts``: ``ok``, or ``failed`` with one line saying why.

A failure at any step changes nothing but the attempt log: the previous version stays active and in force.
Re-fetching data already recorded is an ``ok`` attempt that creates no version.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pipeline.errors import OtelMarginError
from otel_margin_backend.pricedata import store
from otel_margin_backend.pricing.book import PriceBook
from otel_margin_backend.pricing.data import PriceData
from otel_margin_backend.pricing.errors import PriceSyncError
from otel_margin_backend.storage.database import Conn
from otel_margin_backend.storage.errors import db_errors

log = logging.getLogger(__name__)

MAX_DATA_BYTES = 64 * 1024 * 1024
"""Largest data file accepted (genai-prices' v2 ``data.json`` is under 1 MB)."""

Trigger = Literal["cli", "schedule"]
Fetcher = Callable[[str, float], bytes]
"""Fetches a source's bytes within a timeout in seconds, raising ``PriceSyncError``."""


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a successful sync did."""

    source: str
    price_version: str
    """The version of the fetched data (what newly priced calls record)."""
    provider_count: int
    model_count: int
    new_version: bool
    """The data had never been recorded: a new version was stored."""
    activated: bool
    """The active version changed (False: the fetched data was in force already)."""
    book: PriceBook
    """The base book with the fetched data, overrides and options kept: what to swap in."""


def is_url(source: str) -> bool:
    """True for an http(s) URL, False for a file path.

    Args:
        source: A ``--source`` value.

    Returns:
        Whether it is fetched over HTTP.
    """
    return source.startswith(("http://", "https://"))


def fetch(source: str, timeout_s: float) -> bytes:
    """The bytes of a URL or file.

    Args:
        source: An http(s) URL, a file path, or a ``file://`` URL.
        timeout_s: HTTP timeout (connect, read and pool each).

    Returns:
        The bytes.

    Raises:
        PriceSyncError: the source cannot be read, answers an HTTP error, or is larger than ``MAX_DATA_BYTES``.
    """
    if not is_url(source):
        path = Path(source.removeprefix("file://"))
        try:
            with path.open("rb") as f:
                raw = f.read(MAX_DATA_BYTES + 1)
        except OSError as exc:
            raise PriceSyncError(f"{source}: cannot read price data: {exc.strerror or exc}") from None
        return _checked_size(source, raw)
    import httpx  # only the HTTP path needs it

    try:
        with (
            httpx.Client(timeout=timeout_s, follow_redirects=True) as client,
            client.stream("GET", source) as response,
        ):
            if response.status_code != 200:
                raise PriceSyncError(f"{source}: HTTP {response.status_code} {response.reason_phrase}".rstrip())
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_DATA_BYTES:
                    break
    except httpx.HTTPError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PriceSyncError(f"{source}: cannot fetch price data: {reason}") from None
    return _checked_size(source, b"".join(chunks))


def _checked_size(source: str, raw: bytes) -> bytes:
    if len(raw) > MAX_DATA_BYTES:
        raise PriceSyncError(f"{source}: price data is larger than {MAX_DATA_BYTES // (1024 * 1024)} MiB")
    return raw


def one_line(message: str) -> str:
    """An error message on one line: pydantic's multi-line reports keep their count and first problem.

    Args:
        message: The message.

    Returns:
        One line.
    """
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else "unknown error"
    head, where, what = lines[0], lines[1], lines[2] if len(lines) > 2 else ""
    what = what.split(" [type=")[0]
    return f"{head}; first: {where}: {what}" if what else f"{head}; {where}"


def sync_prices(
    conn: Conn,
    source: str,
    *,
    base: PriceBook,
    quality: QualityTable,
    trigger: Trigger,
    timeout_s: float = 30.0,
    fetcher: Fetcher = fetch,
) -> SyncResult:
    """Fetch, validate, store and activate price data, and record the attempt.

    Args:
        conn: A connection in autocommit mode.
        source: An http(s) URL or a file path.
        base: The book in force; the new book keeps its overrides and options.
        quality: The quality table published with the new prices.
        trigger: ``cli`` or ``schedule`` (recorded).
        timeout_s: HTTP timeout.
        fetcher: How to get the bytes (``fetch``; tests may pass another).

    Returns:
        What the sync did.

    Raises:
        PriceSyncError: any step failed (one line); the attempt is recorded as failed when the database
            is reachable, and the previous version stays active.
    """
    started = time.monotonic()
    version: str | None = None
    models: int | None = None
    try:
        raw = fetcher(source, timeout_s)
        data = PriceData.from_json_bytes(raw, source=source)
        version, models = data.version, store.model_count(data)
        book = base.with_data(data)
        with db_errors(), conn.transaction():
            store.lock(conn)
            new_version = store.store_version(conn, data, raw, source)
            activated = store.make_active(conn, data.version)
            if activated or new_version:
                store.publish(conn, book, quality)
    except Exception as exc:
        message = _reason(exc)
        _record(conn, source, trigger, started, version=version, models=models, new_version=False, error=message)
        raise PriceSyncError(message) from None
    _record(conn, source, trigger, started, version=version, models=models, new_version=new_version, error=None)
    log.info(
        "price sync ok",
        extra={"source": source, "price_version": data.version, "new_version": new_version, "models": models},
    )
    return SyncResult(source, data.version, len(data.providers), models, new_version, activated, book)


def _reason(exc: Exception) -> str:
    if isinstance(exc, OtelMarginError):  # PriceDataError, PriceSyncError, PricingFileError, a database error
        return one_line(str(exc))
    log.exception("unexpected error during a price sync")
    return f"unexpected error: {type(exc).__name__}: {one_line(str(exc) or '-')}"


def _record(
    conn: Conn,
    source: str,
    trigger: Trigger,
    started: float,
    *,
    version: str | None,
    models: int | None,
    new_version: bool,
    error: str | None,
) -> None:
    duration_ms = round((time.monotonic() - started) * 1000)
    try:
        with db_errors():
            store.record_attempt(
                conn,
                source=source,
                trigger=trigger,
                price_version=version,
                new_version=new_version,
                model_count=models,
                duration_ms=duration_ms,
                error=error,
            )
    except OtelMarginError as exc:  # the database failed (translated): the sync's own outcome stands
        log.warning("could not record a price sync attempt: %s", one_line(str(exc)))
