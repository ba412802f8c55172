"""OTLP/gRPC receiver: the ``TraceService/Export`` method on grpcio's asyncio server.

grpcio enforces the 4 MiB message limit (after decompression) and answers RESOURCE_EXHAUSTED
itself; gzip-compressed requests are decompressed by grpcio too.

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

from otel_margin_backend.pipeline.consumer import UsageConsumer
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.receivers._codec import INLINE_BODY_BYTES
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.status import classify

MAX_MESSAGE_BYTES = 4 * 1_048_576
"""The OTLP-recommended (and grpcio default) 4 MiB receive limit."""
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
"""The OTLP trace service's full name (``/opentelemetry.proto.collector.trace.v1.TraceService/Export``)."""


class TraceService:
    """``TraceService/Export`` over raw bytes: authenticate, decode, consume, answer."""

    def __init__(self, consumer: UsageConsumer, tokens: TokenCheck) -> None:
        self._consumer = consumer
        self._ingest = tokens.require(Scope.INGEST)

    async def export(self, body: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        """Handle one Export call; every failure becomes a gRPC status with a one-line reason."""
        try:
            self._ingest.check(metadata(context, "authorization"))
            if len(body) <= INLINE_BODY_BYTES:
                request = _decode(body)
            else:  # a 4 MiB message takes milliseconds to parse: off the event loop
                request = await asyncio.to_thread(_decode, body)
            accepted = await self._consumer.consume_traces(request)
        except Exception as exc:  # every failure becomes a gRPC status; classify() logs the unexpected
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
) -> tuple[grpc.aio.Server, int]:
    """A gRPC server with the trace service (and ``handlers``: metrics, logs, health) bound to ``host:port``.

    Returns:
        The server and the bound port.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    server.add_generic_rpc_handlers((TraceService(consumer, tokens).handler(), *handlers))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the OTLP/gRPC receiver to {host}:{port}: is the port in use?")
    return server, bound
