"""Errors a stage may raise, classified so the receivers can answer the client correctly.

    OtelMarginError
    ├── PermanentError      bad input: the client must not retry (gRPC INVALID_ARGUMENT / HTTP 400)
    └── RetryableError      the backend cannot take it now: retry later (gRPC UNAVAILABLE / HTTP 503)
        └── StoreUnavailable    the database is down or refuses writes

Only the receivers turn these into protocol status codes.
"""


class OtelMarginError(Exception):
    """Base of every error otel-margin raises on purpose."""


class PermanentError(OtelMarginError):
    """The input is wrong; sending it again will not help."""


class RetryableError(OtelMarginError):
    """A passing condition; the same input may succeed later."""

    def __init__(self, message: str, *, retry_after_s: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreUnavailable(RetryableError):
    """The database cannot be reached or cannot take writes right now."""
