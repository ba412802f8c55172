"""Local OTLP receivers (HTTP and gRPC) that record what the SDK's exporter sends: headers and decoded spans."""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived, with the attributes of its resource."""

    name: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    trace_id: bytes


@dataclass(frozen=True)
class Export:
    """One export call: where it went, its headers (lower-case names) and its spans."""

    path: str
    headers: dict[str, str]
    spans: list[ReceivedSpan]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


def _spans(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    return [
        ReceivedSpan(span.name, _attributes(span.attributes), _attributes(rs.resource.attributes), span.trace_id)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.exports.append(Export(self.path, headers, _spans(request)))
        payload = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    exports: list[Export]


class HttpReceiver:
    """OTLP/HTTP (protobuf) on 127.0.0.1 and a free port while the ``with`` block runs."""

    def __init__(self) -> None:
        self._server = _HttpServer(("127.0.0.1", 0), _HttpHandler)
        self._server.exports = []
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-http", daemon=True)

    @property
    def url(self) -> str:
        """Base URL, as a user would pass it (``/v1/traces`` is the exporter's to add)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def exports(self) -> list[Export]:
        """The export calls received so far."""
        return self._server.exports

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class GrpcReceiver:
    """OTLP/gRPC on 127.0.0.1 and a free port while the ``with`` block runs."""

    def __init__(self) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        self.exports: list[Export] = []
        receiver = self

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                headers = {key: value for key, value in context.invocation_metadata()}
                receiver.exports.append(
                    Export("/opentelemetry.proto.collector.trace.v1.TraceService/Export", headers, _spans(request))
                )
                return trace_service_pb2.ExportTraceServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def url(self) -> str:
        """The endpoint, as a user would pass it."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> GrpcReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None).wait(timeout=5)
