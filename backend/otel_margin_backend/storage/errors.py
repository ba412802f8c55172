"""The one translation of database errors into the store's own errors.

    psycopg.OperationalError, InterfaceError, AdminShutdown, pool timeouts  -> StoreUnavailable (retry)
    UndefinedTable / UndefinedFunction                                       -> PermanentError ("run migrate")
    InsufficientPrivilege                                                    -> PermanentError (grant)
    any other psycopg.Error                                                  -> StoreUnavailable, one line

Every command, route and job that touches the database calls ``translate`` (or uses ``db_errors``), so a
database problem reads the same everywhere and never shows as a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import PoolTimeout

from otel_margin_backend.pipeline.errors import OtelMarginError, PermanentError, StoreUnavailable

UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
"""Errors that mean "the database cannot be used now": retry later."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translate(exc: BaseException, *, target: str | None = None) -> OtelMarginError:
    """The store's error for a database error.

    Args:
        exc: An error psycopg or its pool raised.
        target: Where the database is (``host:port/db``), to name it in the message.

    Returns:
        ``StoreUnavailable`` (retryable) or ``PermanentError`` (needs the user: migrate, grant).
    """
    if isinstance(exc, OtelMarginError):
        return exc
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedFunction):
        where = f"the database at {target}" if target else "the database"
        return PermanentError(f"{where} lacks otel-margin's tables ({first_line(exc)}): run otel-margin migrate")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return PermanentError(f"the database user lacks a privilege: {first_line(exc)}")
    if isinstance(exc, PoolTimeout):
        return StoreUnavailable("no database connection became free in time; retry")
    return StoreUnavailable(f"database error: {first_line(exc)}")


@contextmanager
def db_errors(*, target: str | None = None) -> Iterator[None]:
    """Raise the store's own error for any database error inside the block.

    Args:
        target: Where the database is (``host:port/db``), to name it in the message.

    Raises:
        StoreUnavailable: the database cannot be used now (retry).
        PermanentError: the database needs the user first (migrate, grant).
    """
    try:
        yield
    except (psycopg.Error, PoolTimeout) as exc:
        raise translate(exc, target=target) from exc
