"""The one place where errors become protocol answers: gRPC code, HTTP status, retry hint and body.

Every receiver and REST route answers a failure through ``classify`` (OTLP) or ``json_error`` (everything
else); no other module names a gRPC code or an HTTP error status. The table, first match wins:

    error class               gRPC code             HTTP  the client
    TooLarge                  RESOURCE_EXHAUSTED    413   must not retry
    Unauthenticated           UNAUTHENTICATED       401   fixes the token (``WWW-Authenticate: Bearer``)
    Forbidden                 PERMISSION_DENIED     403   uses a token of the scope named in WWW-Authenticate
    NotFound                  NOT_FOUND             404   must not retry
    Conflict                  FAILED_PRECONDITION   409   changes the owner (e.g. the budgets file) instead
    UnsupportedMediaType      INVALID_ARGUMENT      415   sends another Content-Type / Content-Encoding
    PermanentError            INVALID_ARGUMENT      400   must not retry
    RetryableError            UNAVAILABLE           503   retries after the hint (``Retry-After``, ``RetryInfo``)
    starlette HTTPException   by its status         its   (routing: unknown path 404, wrong method 405)
    anything else             UNAVAILABLE           503   retries in 5 s; logged with its traceback (unless it
                                                          is otel-margin's own, neither permanent nor retryable)

Never INTERNAL / 500: OTLP clients drop data on those without retrying. ``Conflict`` is FAILED_PRECONDITION
("do not retry until the state is fixed", code.proto) on HTTP 409, which REST clients read as "this resource's
state": the request itself was well formed. A feature's error subclasses one of these (``BudgetNotFound`` is a
``NotFound``), so the table never grows per feature. ``NotFound`` and ``Conflict`` live in
``pipeline/errors.py`` so that any layer may raise them; the protocol-only classes live here.

Bodies. OTLP endpoints answer ``Failure.status_proto()``, the ``google.rpc.Status`` the spec requires (and
OTLP's partial success is a 200). Every other endpoint answers ``json_error(exc)``, one shape:

    {"error": {"code": "NOT_FOUND", "message": "no budget named 'x'", "retry_after_s": 5, "details": [...]}}

``code``          the gRPC code's name: stable and protocol-neutral; clients branch on it, never on the message.
``message``       one line that says what to do next.
``retry_after_s`` only when the client should retry: the same seconds as the ``Retry-After`` header.
``details``       only when the error lists its problems: a budget body's fields, a batch's rejected entries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from otel_margin_backend.pipeline.errors import (
    Conflict,
    NotFound,
    OtelMarginError,
    PermanentError,
    RetryableError,
)

__all__ = [
    "Conflict",
    "Failure",
    "Forbidden",
    "NotFound",
    "TooLarge",
    "Unauthenticated",
    "UnsupportedMediaType",
    "classify",
    "http_exception",
    "json_error",
]

log = logging.getLogger(__name__)

UNEXPECTED_RETRY_S = 5.0
"""The retry hint for an error no rule matches (a bug, or a library's error nobody translated)."""


class TooLarge(PermanentError):
    """The request is over the size limit (after decompression)."""


class Unauthenticated(PermanentError):
    """No valid token was presented; ``challenge`` is the ``WWW-Authenticate`` value (RFC 6750 §3)."""

    def __init__(self, message: str, *, challenge: str = "Bearer") -> None:
        super().__init__(message)
        self.challenge = challenge


class Forbidden(PermanentError):
    """The token is valid but its scope does not allow this; ``challenge`` names the scope needed."""

    def __init__(self, message: str, *, challenge: str | None = None) -> None:
        super().__init__(message)
        self.challenge = challenge


class UnsupportedMediaType(PermanentError):
    """The HTTP Content-Type (or Content-Encoding) is not one the endpoint speaks."""


RULES: tuple[tuple[type[BaseException], grpc.StatusCode, HTTPStatus], ...] = (
    (TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, HTTPStatus.UNAUTHORIZED),
    (Forbidden, grpc.StatusCode.PERMISSION_DENIED, HTTPStatus.FORBIDDEN),
    (NotFound, grpc.StatusCode.NOT_FOUND, HTTPStatus.NOT_FOUND),
    (Conflict, grpc.StatusCode.FAILED_PRECONDITION, HTTPStatus.CONFLICT),
    (UnsupportedMediaType, grpc.StatusCode.INVALID_ARGUMENT, HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
    (PermanentError, grpc.StatusCode.INVALID_ARGUMENT, HTTPStatus.BAD_REQUEST),
    (RetryableError, grpc.StatusCode.UNAVAILABLE, HTTPStatus.SERVICE_UNAVAILABLE),
)
"""Error class -> gRPC code and HTTP status; the first class the error is an instance of wins."""

_CODE_OF_STATUS = {int(status): code for _, code, status in RULES} | {
    HTTPStatus.METHOD_NOT_ALLOWED: grpc.StatusCode.UNIMPLEMENTED,
    HTTPStatus.TOO_MANY_REQUESTS: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
"""The gRPC code for a bare HTTP status (starlette's routing answers)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """An error, classified for both protocols."""

    grpc_code: grpc.StatusCode
    http_status: int
    message: str
    retry_after_s: float | None = None
    """Seconds after which the client should retry; None: it must not retry as is."""
    details: Sequence[Mapping[str, object]] = ()
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def code(self) -> str:
        """The gRPC code's name, e.g. ``NOT_FOUND``: the ``code`` of a JSON error body."""
        return str(self.grpc_code.name)

    def headers(self) -> dict[str, str]:
        """``Retry-After`` when the client should retry, ``WWW-Authenticate`` on 401, and any extra."""
        headers = dict(self.extra_headers)
        if self.retry_after_s is not None:
            headers["Retry-After"] = str(round(self.retry_after_s))
        if self.http_status == HTTPStatus.UNAUTHORIZED:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return headers

    def body(self) -> dict[str, object]:
        """The one JSON error body (see the module docstring)."""
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.retry_after_s is not None:
            error["retry_after_s"] = round(self.retry_after_s)
        if self.details:
            error["details"] = [dict(d) for d in self.details]
        return {"error": error}

    def json_response(self) -> Response:
        """The one JSON error answer: this status, these headers, ``body()``."""
        return JSONResponse(self.body(), status_code=self.http_status, headers=self.headers())

    def status_proto(self) -> status_pb2.Status:
        """The ``google.rpc.Status`` OTLP puts in HTTP error bodies and gRPC status details."""
        status = status_pb2.Status(code=self.grpc_code.value[0], message=self.message)
        if self.retry_after_s is not None:
            info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=round(self.retry_after_s)))
            status.details.add().Pack(info)
        return status


def classify(exc: BaseException) -> Failure:
    """How to answer a client for ``exc``.

    Args:
        exc: What the endpoint raised: otel-margin's own error, starlette's ``HTTPException``, or anything.

    Returns:
        The gRPC code, HTTP status, message and retry hint; an unexpected error is logged with its traceback.
    """
    if isinstance(exc, HTTPException):
        code = _CODE_OF_STATUS.get(exc.status_code)
        if code is None:
            code = grpc.StatusCode.INVALID_ARGUMENT if exc.status_code < 500 else grpc.StatusCode.UNAVAILABLE
        return Failure(code, exc.status_code, exc.detail, extra_headers=dict(exc.headers or {}))
    for error_class, grpc_code, http_status in RULES:
        if isinstance(exc, error_class):
            retry = exc.retry_after_s if isinstance(exc, RetryableError) else None
            details = exc.details if isinstance(exc, OtelMarginError) else ()
            challenge = exc.challenge if isinstance(exc, Unauthenticated | Forbidden) else None
            extra = {"WWW-Authenticate": challenge} if challenge else {}
            return Failure(grpc_code, int(http_status), _message(exc), retry, details, extra)
    if not isinstance(exc, OtelMarginError):
        log.exception("unexpected error while answering a request", exc_info=exc)
    return Failure(
        grpc.StatusCode.UNAVAILABLE,
        int(HTTPStatus.SERVICE_UNAVAILABLE),
        "the backend could not take the request; retry",
        UNEXPECTED_RETRY_S,
    )


def json_error(exc: BaseException) -> Response:
    """The one JSON error answer of every non-OTLP endpoint: status, headers and body from ``classify``.

    Args:
        exc: What went wrong; its ``details`` (if any) are listed in the body.

    Returns:
        ``{"error": {"code", "message", "retry_after_s"?, "details"?}}`` with the status and headers.
    """
    return classify(exc).json_response()


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's exception handler for routing answers (unknown path, wrong method) in the one body shape."""
    if isinstance(exc, HTTPException) and exc.status_code == HTTPStatus.NOT_FOUND:
        exc = HTTPException(exc.status_code, f"no endpoint at {request.url.path}", exc.headers)
    elif isinstance(exc, HTTPException) and exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        allowed = (exc.headers or {}).get("Allow", "")
        exc = HTTPException(exc.status_code, f"{request.url.path} does not take {request.method}; use {allowed}",
                            exc.headers)  # fmt: skip
    return json_error(exc)


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
