"""One import of a provider's bill (``otel-margin bills sync``, and the daily job inside ``serve``).

``create`` picks the provider's importer; ``sync_bill`` records the import, fetches every page of the range, and
stores the days that changed (``store.py``). A failure is recorded with its one-line reason and stores nothing: the
days stored before stay the latest. ``import_invoice`` does the same for an invoice CSV.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from otel_margin_backend.bills import store
from otel_margin_backend.bills.anthropic_api import AnthropicBill
from otel_margin_backend.bills.config import BillsConfig
from otel_margin_backend.bills.invoice import STREAM, check_provider, read_invoice
from otel_margin_backend.bills.lines import BillImportError, Progress, by_day
from otel_margin_backend.bills.openai_api import OpenAIBill
from otel_margin_backend.pipeline.errors import OtelMarginError, PermanentError
from otel_margin_backend.storage.database import Conn
from otel_margin_backend.storage.errors import db_errors

log = logging.getLogger(__name__)

PROVIDERS = ("openai", "anthropic")
"""Providers with an importer; others import invoices (``bills import``)."""


def create(provider: str, config: BillsConfig) -> OpenAIBill | AnthropicBill:
    """The importer of ``provider``.

    Raises:
        PermanentError: no importer for it (import its invoices as CSV instead).
        BillImportError: its admin key is not configured.
    """
    if provider == "openai":
        return OpenAIBill(config)
    if provider == "anthropic":
        return AnthropicBill(config)
    raise PermanentError(f"no importer for {provider!r} (there are: {', '.join(PROVIDERS)}); import its invoices "
                         "with otel-margin bills import FILE.csv --provider NAME")  # fmt: skip


def configured(config: BillsConfig) -> list[str]:
    """The providers whose admin key is set."""
    keys = {"openai": config.openai_admin_key, "anthropic": config.anthropic_admin_key}
    return [p for p in PROVIDERS if keys[p] is not None]


def default_range(config: BillsConfig, today: date | None = None) -> tuple[date, date]:
    """The days the daily import fetches: the last ``sync_days`` days, today included (UTC)."""
    last = today or datetime.now(UTC).date()
    return last - timedelta(days=config.sync_days - 1), last


def sync_bill(
    conn: Conn,
    importer: OpenAIBill | AnthropicBill,
    first: date,
    last: date,
    *,
    trigger: store.Trigger,
    progress: Progress = lambda _: None,
) -> store.ImportResult:
    """Fetch ``[first, last]`` of a provider's bill and store the days that changed.

    Args:
        conn: A connection in autocommit mode.
        importer: From ``create``.
        first: First UTC day.
        last: Last UTC day (inclusive).
        trigger: ``cli`` or ``schedule`` (recorded).
        progress: Told each page fetched.

    Returns:
        What was stored.

    Raises:
        BillImportError: the provider's API failed (recorded as a failed import; nothing stored).
        PermanentError: ``last`` is before ``first``.
    """
    if last < first:
        raise PermanentError(f"--to {last} is before --from {first}")
    with db_errors():
        import_id = store.begin(conn, importer.provider, importer.source, first, last, trigger)
    try:
        days = by_day(importer.lines(first, last, progress), importer.streams, first, last)
        with db_errors():
            result = store.store(conn, import_id, importer.provider, days)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, OtelMarginError) else f"unexpected error: {type(exc).__name__}: {exc}"
        if not isinstance(exc, OtelMarginError):
            log.exception("unexpected error during a bill import")
        _record_failure(conn, import_id, reason)
        if isinstance(exc, OtelMarginError):
            raise
        raise BillImportError(reason) from None
    log.info("bill import ok", extra={"provider": importer.provider, "import_id": import_id,
                                      "days_stored": len(result.revised), "lines": result.lines})  # fmt: skip
    return result


def import_invoice(conn: Conn, path: Path, provider: str) -> store.ImportResult:
    """Import an invoice CSV as the bill of ``provider`` for the days it covers.

    Raises:
        PermanentError: a bad provider name or file (every bad line named); nothing is imported.
    """
    check_provider(provider)
    lines = read_invoice(path)
    first, last = min(x.day for x in lines), max(x.day for x in lines)
    days = by_day(lines, [STREAM], first, last)
    with db_errors():
        import_id = store.begin(conn, provider, str(path), first, last, "csv")
        return store.store(conn, import_id, provider, days)


def _record_failure(conn: Conn, import_id: int, reason: str) -> None:
    try:
        with db_errors():
            store.fail(conn, import_id, reason)
    except OtelMarginError as exc:  # the database failed too: the import's own failure is what the caller sees
        log.warning("could not record a failed bill import: %s", exc)
