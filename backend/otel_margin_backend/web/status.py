"""The one place where pipeline errors become protocol answers (OTLP spec, "Failures").

PermanentError   -> gRPC INVALID_ARGUMENT   / HTTP 400   client must not retry
RetryableError   -> gRPC UNAVAILABLE        / HTTP 503   client retries after the hint
TooLarge         -> gRPC RESOURCE_EXHAUSTED / HTTP 413   client must not retry
Unauthenticated  -> gRPC UNAUTHENTICATED    / HTTP 401
anything else    -> UNAVAILABLE / 503: never INTERNAL / 500, which OTLP clients drop without retrying.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from otel_margin_backend.pipeline.errors import OtelMarginError, PermanentError, RetryableError

log = logging.getLogger(__name__)


class TooLarge(PermanentError):
    """The request is over the size limit (after decompression)."""


class Unauthenticated(PermanentError):
    """No valid ingest token was presented."""


class UnsupportedMediaType(PermanentError):
    """The HTTP Content-Type is not one the endpoint speaks."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A pipeline error, classified for both protocols."""

    grpc_code: grpc.StatusCode
    http_status: int
    message: str
    retry_after_s: float | None = None

    def status_proto(self) -> status_pb2.Status:
        """The ``google.rpc.Status`` OTLP puts in HTTP error bodies and gRPC status details."""
        status = status_pb2.Status(code=_RPC_CODES[self.grpc_code], message=self.message)
        if self.retry_after_s is not None:
            info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=round(self.retry_after_s)))
            status.details.add().Pack(info)
        return status


_RPC_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    grpc.StatusCode.UNAVAILABLE: code_pb2.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED: code_pb2.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAUTHENTICATED: code_pb2.UNAUTHENTICATED,
}


def classify(exc: BaseException) -> Failure:
    """How to answer a client for ``exc``."""
    if isinstance(exc, TooLarge):
        return Failure(grpc.StatusCode.RESOURCE_EXHAUSTED, 413, str(exc))
    if isinstance(exc, Unauthenticated):
        return Failure(grpc.StatusCode.UNAUTHENTICATED, 401, str(exc))
    if isinstance(exc, UnsupportedMediaType):
        return Failure(grpc.StatusCode.INVALID_ARGUMENT, 415, str(exc))
    if isinstance(exc, PermanentError):
        return Failure(grpc.StatusCode.INVALID_ARGUMENT, 400, str(exc))
    if isinstance(exc, RetryableError):
        return Failure(grpc.StatusCode.UNAVAILABLE, 503, str(exc), exc.retry_after_s)
    if not isinstance(exc, OtelMarginError):
        log.exception("unexpected error while receiving", exc_info=exc)
    return Failure(grpc.StatusCode.UNAVAILABLE, 503, "the backend could not take the request; retry", 5.0)
