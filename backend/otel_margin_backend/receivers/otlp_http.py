"""OTLP/HTTP receiver: ``POST /v1/traces`` with protobuf or JSON bodies, gzip or not.

Answers per the OTLP spec: 200 with ``ExportTraceServiceResponse`` (``partial_success`` set only
when spans were rejected), 400 / 401 / 413 / 415 with a ``google.rpc.Status`` body in the
request's encoding, 503 with ``Retry-After`` when the store cannot take the spans now.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from otel_margin_backend.pipeline.consumer import UsageConsumer, span_count
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.receivers import _observe
from otel_margin_backend.receivers._codec import JSON, decode_body, encode_response, encode_status
from otel_margin_backend.receivers._codec import media_type as parse_media_type
from otel_margin_backend.receivers.config import MAX_MESSAGE_BYTES
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.body import read_body
from otel_margin_backend.web.status import TooLarge, classify

RECEIVER = "otlp_http"


def error_response(exc: BaseException, kind: str) -> Response:
    """The OTLP failure: a ``google.rpc.Status`` in the request's encoding; status and headers from ``classify``."""
    failure = classify(exc)
    return Response(
        encode_status(failure.status_proto(), kind), failure.http_status, failure.headers(), media_type=kind
    )


def routes(
    consumer: UsageConsumer,
    tokens: TokenCheck,
    *,
    max_body_bytes: int = MAX_MESSAGE_BYTES,
    metrics: Metrics = NOOP,
) -> list[Route]:
    """The ``POST /v1/traces`` route, handing decoded requests to ``consumer``; it needs an ``ingest`` token."""
    ingest = tokens.require(Scope.INGEST)

    async def export_traces(request: Request) -> Response:
        kind = JSON
        spans = 0
        raw = b""
        try:
            kind = parse_media_type(request.headers.get("content-type"))
            ingest.check(request.headers.get("authorization"))
            raw = await read_body(request, max_body_bytes)
            message = await decode_body(raw, request.headers.get("content-encoding"), kind, max_body_bytes)
            spans = span_count(message)
            accepted = await consumer.consume_traces(message)
            _observe.accepted(metrics, RECEIVER, spans, accepted)
        except Exception as exc:  # every failure becomes an OTLP answer; classify() logs the unexpected
            if isinstance(exc, TooLarge):
                _observe.oversize(metrics, RECEIVER, body_size(request, raw), max_body_bytes, exc)
            else:
                _observe.failed(metrics, RECEIVER, spans, exc)
            return error_response(exc, kind)
        response = ExportTraceServiceResponse()
        if accepted.rejected:
            response.partial_success.rejected_spans = accepted.rejected
            response.partial_success.error_message = accepted.message
        return Response(encode_response(response, kind), media_type=kind)

    return [Route("/v1/traces", export_traces, methods=["POST"])]


def body_size(request: Request, raw: bytes) -> int | None:
    """The size of a refused body as far as it is known: what was read, else its declared length."""
    if raw:
        return len(raw)
    declared = request.headers.get("content-length")
    return int(declared) if declared and declared.isdigit() else None
