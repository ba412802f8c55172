"""OTLP/gRPC receiver: the ``TraceService/Export`` method on grpcio's asyncio server.

grpcio enforces the 4 MiB message limit (after decompression) and answers RESOURCE_EXHAUSTED
itself; gzip-compressed requests are decompressed by grpcio too.
"""

from __future__ import annotations

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_margin_backend.pipeline.consumer import UsageConsumer
from otel_margin_backend.web.auth import TokenCheck
from otel_margin_backend.web.status import classify

MAX_MESSAGE_BYTES = 4 * 1_048_576
"""The OTLP-recommended (and grpcio default) 4 MiB receive limit."""


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """The OTLP ``TraceService``: checks the token, hands each request to the consumer, answers per the spec."""

    def __init__(self, consumer: UsageConsumer, tokens: TokenCheck) -> None:
        self._consumer = consumer
        self._tokens = tokens

    async def Export(
        self, request: ExportTraceServiceRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> ExportTraceServiceResponse:
        """Receive one ``ExportTraceServiceRequest``; partial success for rejected spans."""
        try:
            self._tokens.check(_metadata(context, "authorization"))
            accepted = await self._consumer.consume_traces(request)
        except Exception as exc:  # every failure becomes a gRPC status; classify() logs the unexpected
            failure = classify(exc)
            details = (("grpc-status-details-bin", failure.status_proto().SerializeToString()),)
            await context.abort(failure.grpc_code, failure.message, details)
        response = ExportTraceServiceResponse()
        if accepted.rejected:
            response.partial_success.rejected_spans = accepted.rejected
            response.partial_success.error_message = accepted.message
        return response


def _metadata(context: grpc.aio.ServicerContext[object, object], key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else value
    return None


def create_server(
    consumer: UsageConsumer, tokens: TokenCheck, *, host: str, port: int, max_message_bytes: int = MAX_MESSAGE_BYTES
) -> tuple[grpc.aio.Server, int]:
    """A gRPC server with the trace service bound to ``host:port``; returns it and the bound port."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    service = TraceService(consumer, tokens)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)  # type: ignore[no-untyped-call]
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the OTLP/gRPC receiver to {host}:{port}: is the port in use?")
    return server, bound
