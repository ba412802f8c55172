"""OTLP metrics and logs: accepted, counted and discarded, so one endpoint serves an SDK that exports all signals.

otel-margin prices spans only. An SDK or Collector pointed at it for every signal would otherwise meet 404s on
``/v1/metrics`` and ``/v1/logs`` (and UNIMPLEMENTED on gRPC), retry, and log errors. Here each request is
authenticated (``ingest``), size-limited and decoded like a trace request, its data points or log records are
counted in ``DiscardStats`` (``/v1/stats``), and it is answered with the signal's OTLP success response.

OTLP/JSON bodies are counted from the JSON itself: the ids of log records and exemplars are hex in OTLP/JSON,
and a discarded body need not be rewritten for ``json_format``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import grpc
import orjson
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.receivers._codec import INLINE_BODY_BYTES, PROTOBUF, decompress, media_type
from otel_margin_backend.receivers.otlp_grpc import metadata
from otel_margin_backend.receivers.otlp_http import error_response
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.body import MAX_BODY_BYTES, read_body
from otel_margin_backend.web.status import classify

_POINTS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
_POINTS_JSON = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")


@dataclass(slots=True)
class DiscardStats:
    """Metrics and logs received and discarded since start (``/v1/stats``)."""

    metrics_requests: int = 0
    metric_points_discarded: int = 0
    logs_requests: int = 0
    log_records_discarded: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Signal:
    """One OTLP signal that is discarded: its messages, paths and how its items are counted."""

    name: str
    """``metrics`` or ``logs``: the HTTP path's last part and the counters' prefix."""
    service: str
    """The gRPC service's full name."""
    request: type[Message]
    response: type[Message]
    count: Callable[[Any], int]
    """Items (data points, log records) of a decoded request."""
    count_json: Callable[[dict[str, Any]], int]
    """The same, of an OTLP/JSON body."""

    def record(self, stats: DiscardStats, items: int) -> None:
        """Count one request of this signal and its items."""
        if self.name == "metrics":
            stats.metrics_requests += 1
            stats.metric_points_discarded += items
        else:
            stats.logs_requests += 1
            stats.log_records_discarded += items


def _metric_points(request: ExportMetricsServiceRequest) -> int:
    total = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind in _POINTS:
                    total += len(getattr(metric, kind).data_points)
    return total


def _log_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)


def _objects(parent: Any, *keys: str) -> list[Any]:
    if not isinstance(parent, dict):
        return []
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return value
    return []


def _metric_points_json(data: dict[str, Any]) -> int:
    total = 0
    for rm in _objects(data, "resourceMetrics", "resource_metrics"):
        for sm in _objects(rm, "scopeMetrics", "scope_metrics"):
            for metric in _objects(sm, "metrics"):
                for kind in _POINTS_JSON:
                    total += len(_objects(metric.get(kind) if isinstance(metric, dict) else None, "dataPoints",
                                          "data_points"))  # fmt: skip
    return total


def _log_records_json(data: dict[str, Any]) -> int:
    return sum(
        len(_objects(sl, "logRecords", "log_records"))
        for rl in _objects(data, "resourceLogs", "resource_logs")
        for sl in _objects(rl, "scopeLogs", "scope_logs")
    )


METRICS = Signal("metrics", "opentelemetry.proto.collector.metrics.v1.MetricsService", ExportMetricsServiceRequest,
                 ExportMetricsServiceResponse, _metric_points, _metric_points_json)  # fmt: skip
LOGS = Signal("logs", "opentelemetry.proto.collector.logs.v1.LogsService", ExportLogsServiceRequest,
              ExportLogsServiceResponse, _log_records, _log_records_json)  # fmt: skip
SIGNALS = (METRICS, LOGS)


def count(signal: Signal, body: bytes, kind: str) -> int:
    """The items of one decoded-size body of ``signal`` (protobuf or OTLP/JSON).

    Raises:
        PermanentError: the body is not a valid request of the signal.
    """
    what = signal.request.__name__
    if kind == PROTOBUF:
        try:
            return signal.count(signal.request.FromString(body))
        except DecodeError as exc:
            raise PermanentError(f"body is not a valid OTLP protobuf {what}: {exc}") from None
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise PermanentError(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PermanentError(f"OTLP/JSON body must be an object ({what})")
    return signal.count_json(data)


def _decompress_and_count(signal: Signal, body: bytes, encoding: str | None, kind: str, limit_bytes: int) -> int:
    return count(signal, decompress(body, encoding, limit_bytes), kind)


def routes(tokens: TokenCheck, stats: DiscardStats, *, max_body_bytes: int = MAX_BODY_BYTES) -> list[Route]:
    """``POST /v1/metrics`` and ``POST /v1/logs``: an ``ingest`` token; counted, discarded, answered 200."""
    ingest = tokens.require(Scope.INGEST)

    def route(signal: Signal) -> Route:
        async def export(request: Request) -> Response:
            kind = PROTOBUF
            try:
                kind = media_type(request.headers.get("content-type"))
                ingest.check(request.headers.get("authorization"))
                raw = await read_body(request, max_body_bytes)
                encoding = request.headers.get("content-encoding")
                if len(raw) <= INLINE_BODY_BYTES and (encoding or "identity").strip().lower() in ("identity", ""):
                    items = count(signal, decompress(raw, encoding, max_body_bytes), kind)
                else:
                    items = await asyncio.to_thread(_decompress_and_count, signal, raw, encoding, kind, max_body_bytes)
            except Exception as exc:  # every failure becomes an OTLP answer; classify() logs the unexpected
                return error_response(exc, kind)
            signal.record(stats, items)
            return Response(_encode(signal.response(), kind), media_type=kind)

        return Route(f"/v1/{signal.name}", export, methods=["POST"])

    return [route(signal) for signal in SIGNALS]


def _encode(response: Message, kind: str) -> bytes:
    if kind == PROTOBUF:
        data: bytes = response.SerializeToString()
        return data
    return b"{}"  # an empty Export*ServiceResponse in OTLP/JSON


def grpc_handlers(tokens: TokenCheck, stats: DiscardStats) -> list[grpc.GenericRpcHandler]:
    """``MetricsService/Export`` and ``LogsService/Export``: an ``ingest`` token; counted, discarded, answered OK."""
    ingest = tokens.require(Scope.INGEST)

    def handler(signal: Signal) -> grpc.GenericRpcHandler:
        async def export(body: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            try:
                ingest.check(metadata(context, "authorization"))
                if len(body) <= INLINE_BODY_BYTES:
                    items = count(signal, body, PROTOBUF)
                else:  # a 4 MiB message takes milliseconds to parse: off the event loop
                    items = await asyncio.to_thread(count, signal, body, PROTOBUF)
            except Exception as exc:  # every failure becomes a gRPC status; classify() logs the unexpected
                failure = classify(exc)
                details = (("grpc-status-details-bin", failure.status_proto().SerializeToString()),)
                await context.abort(failure.grpc_code, failure.message, details)
            signal.record(stats, items)
            data: bytes = signal.response().SerializeToString()
            return data

        method: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(export)
        return grpc.method_handlers_generic_handler(signal.service, {"Export": method})

    return [handler(signal) for signal in SIGNALS]
