"""Errors a stage may raise, classified so that every endpoint can answer the client correctly.

    OtelMarginError
    ├── PermanentError      bad input: the client must not retry (gRPC INVALID_ARGUMENT / HTTP 400)
    │   ├── NotFound        the thing asked for does not exist (NOT_FOUND / 404)
    │   └── Conflict        the thing's state forbids the change, e.g. a file owns it (FAILED_PRECONDITION / 409)
    └── RetryableError      the backend cannot take it now: retry later (gRPC UNAVAILABLE / HTTP 503)
        └── StoreUnavailable    the database is down or refuses writes

The classes live here, at the bottom of the layers, so that any package (the store included) can raise them;
``web/status.py`` is the only place that turns them into protocol status codes and bodies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class OtelMarginError(Exception):
    """Base of every error otel-margin raises on purpose."""

    details: Sequence[Mapping[str, object]] = ()
    """What exactly was wrong, one JSON object per problem (a body's fields, a batch's entries); REST error
    bodies carry them as ``details``. Empty for most errors: the message says it all."""


class PermanentError(OtelMarginError):
    """The input is wrong; sending it again will not help."""


class NotFound(PermanentError):
    """The thing the request names does not exist."""


class Conflict(PermanentError):
    """The thing exists but its state forbids the change (another owner manages it)."""


class RetryableError(OtelMarginError):
    """A passing condition; the same input may succeed later."""

    def __init__(self, message: str, *, retry_after_s: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreUnavailable(RetryableError):
    """The database cannot be reached or cannot take writes right now."""
