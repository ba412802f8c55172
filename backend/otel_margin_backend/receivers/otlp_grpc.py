"""OTLP/gRPC receiver: the ``TraceService/Export`` method on grpcio's asyncio server.

The message limit (``OTEL_MARGIN_GRPC_MAX_MESSAGE_BYTES``, 64 MiB after decompression: docs/limits.md) is
checked here, not by grpcio: grpcio answers an over-limit message itself, before any handler runs, so nothing
could log or count it. grpcio's own limit is set to ``GRPCIO_LIMIT_FACTOR`` times ours, a backstop for memory;
a message between the two is refused here with RESOURCE_EXHAUSTED naming its size and the limit, logged and
counted (``otel_margin.requests.oversize``). gzip-compressed requests are decompressed by grpcio.

The method is registered as a generic handler that receives the message as bytes, not through the generated
servicer: grpcio would decode the request before calling it, so an undecodable message raised outside the
method (UNKNOWN, with a traceback in the log) and was decoded before the token was checked. Here the token is
checked first, then the message is decoded inside the same ``try`` that maps every error to a status: an
undecodable message is INVALID_ARGUMENT, like any other bad input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_margin_backend.pipeline.consumer import UsageConsumer, span_count
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.receivers import _observe
from otel_margin_backend.receivers._codec import INLINE_BODY_BYTES
from otel_margin_backend.receivers.config import MAX_MESSAGE_BYTES
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.status import TooLarge, classify

GRPCIO_LIMIT_FACTOR = 2
"""grpcio's own receive limit, as a multiple of ours: above it grpcio refuses unseen (and uncounted)."""
RECEIVER = "otlp_grpc"
SETTING = "OTEL_MARGIN_GRPC_MAX_MESSAGE_BYTES"
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
"""The OTLP trace service's full name (``/opentelemetry.proto.collector.trace.v1.TraceService/Export``)."""


class TraceService:
    """``TraceService/Export`` over raw bytes: authenticate, decode, consume, answer."""

    def __init__(
        self,
        consumer: UsageConsumer,
        tokens: TokenCheck,
        *,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        metrics: Metrics = NOOP,
    ) -> None:
        self._consumer = consumer
        self._ingest = tokens.require(Scope.INGEST)
        self._limit = max_message_bytes
        self._metrics = metrics

    async def export(self, body: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        """Handle one Export call; every failure becomes a gRPC status with a one-line reason."""
        spans = 0
        try:
            self._ingest.check(metadata(context, "authorization"))
            if len(body) > self._limit:
                error = _observe.too_large(len(body), self._limit, SETTING)
                _observe.oversize(self._metrics, RECEIVER, len(body), self._limit, error)
                raise error
            if len(body) <= INLINE_BODY_BYTES:
                request = _decode(body)
            else:  # a 4 MiB message takes milliseconds to parse: off the event loop
                request = await asyncio.to_thread(_decode, body)
            spans = span_count(request)
            accepted = await self._consumer.consume_traces(request)
            _observe.accepted(self._metrics, RECEIVER, spans, accepted)
        except Exception as exc:  # every failure becomes a gRPC status; classify() logs the unexpected
            if not isinstance(exc, TooLarge):
                _observe.failed(self._metrics, RECEIVER, spans, exc)
            failure = classify(exc)
            details = (("grpc-status-details-bin", failure.status_proto().SerializeToString()),)
            await context.abort(failure.grpc_code, failure.message, details)
        response = ExportTraceServiceResponse()
        if accepted.rejected:
            response.partial_success.rejected_spans = accepted.rejected
            response.partial_success.error_message = accepted.message
        data: bytes = response.SerializeToString()
        return data

    def handler(self) -> grpc.GenericRpcHandler:
        """The generic handler serving ``Export`` with undecoded request bytes."""
        method: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(
            self.export  # no (de)serializers: bytes in, bytes out
        )
        return grpc.method_handlers_generic_handler(SERVICE, {"Export": method})


def _decode(body: bytes) -> ExportTraceServiceRequest:
    try:
        return ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise PermanentError(f"message is not a valid OTLP ExportTraceServiceRequest: {exc}") from None


def metadata(context: grpc.aio.ServicerContext[bytes, bytes], key: str) -> str | None:
    """The first value of one metadata key of a call, as text, or None."""
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else value
    return None


def create_server(
    consumer: UsageConsumer,
    tokens: TokenCheck,
    *,
    host: str,
    port: int,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    handlers: Sequence[grpc.GenericRpcHandler] = (),
    metrics: Metrics = NOOP,
    reuse_port: bool = False,
) -> tuple[grpc.aio.Server, int]:
    """A gRPC server with the trace service (and ``handlers``: metrics, logs, health) bound to ``host:port``.

    ``reuse_port`` is for ``serve --workers N``: each worker binds the same port with ``SO_REUSEPORT`` and the
    kernel spreads connections over them. Off, a port already in use is an error instead of silently shared.

    Returns:
        The server and the bound port.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", min(max_message_bytes * GRPCIO_LIMIT_FACTOR, 2**31 - 1)),
            ("grpc.so_reuseport", int(reuse_port)),
        ]
    )
    service = TraceService(consumer, tokens, max_message_bytes=max_message_bytes, metrics=metrics)
    server.add_generic_rpc_handlers((service.handler(), *handlers))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the OTLP/gRPC receiver to {host}:{port}: is the port in use?")
    return server, bound
