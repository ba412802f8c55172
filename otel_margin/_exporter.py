"""Where spans go: the OTLP exporter to otel-margin (or your Collector), its endpoint, protocol and token.

Precedence, most specific first. Endpoint: the ``endpoint`` argument, ``OTEL_MARGIN_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (a full URL, used as is), ``OTEL_EXPORTER_OTLP_ENDPOINT``, then
``http://localhost:4318`` (``:4317`` for gRPC). For OTLP/HTTP a base URL gets ``/v1/traces`` appended.
Protocol: the ``protocol`` argument, ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, ``OTEL_EXPORTER_OTLP_PROTOCOL``, then
``http/protobuf``. Token: the ``token`` argument, then ``OTEL_MARGIN_INGEST_TOKEN``; it is sent as
``Authorization: Bearer <token>`` on top of any ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.util.re import parse_env_headers

__all__ = ["GRPC", "HTTP_PROTOBUF", "PROTOCOLS", "ExporterSettings", "create_exporter", "resolve_settings"]

_log = logging.getLogger("otel_margin")

HTTP_PROTOBUF = "http/protobuf"
GRPC = "grpc"
PROTOCOLS = (HTTP_PROTOBUF, GRPC)
_DEFAULT_ENDPOINTS = {HTTP_PROTOBUF: "http://localhost:4318", GRPC: "http://localhost:4317"}
_TRACES_PATH = "/v1/traces"


@dataclass(frozen=True)
class ExporterSettings:
    """The resolved OTLP exporter settings (the token never appears in reprs or logs)."""

    protocol: str
    """``http/protobuf`` or ``grpc``."""
    endpoint: str
    """The URL handed to the exporter: ending in ``/v1/traces`` for OTLP/HTTP, ``scheme://host:port`` for gRPC."""
    token: str | None = field(default=None, repr=False)
    """The ingest token, or ``None`` to send no ``Authorization`` header."""

    def headers(self) -> dict[str, str] | None:
        """Headers for each export: the OTLP header variables plus ``authorization``; ``None`` without a token."""
        if self.token is None:
            return None
        raw = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")
        merged = {key.lower(): value for key, value in parse_env_headers(raw, liberal=True).items()}
        merged["authorization"] = f"Bearer {self.token}"
        return merged


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _resolve_protocol(protocol: str | None) -> str:
    if protocol is not None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        return protocol
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        if value in PROTOCOLS:
            return value
        _log.warning("%s=%r is not supported (use %s); using %s", name, value, " or ".join(PROTOCOLS), HTTP_PROTOBUF)
        return HTTP_PROTOBUF
    return HTTP_PROTOBUF


def _with_traces_path(base: str) -> str:
    trimmed = base.rstrip("/")
    return trimmed if trimmed.endswith(_TRACES_PATH) else trimmed + _TRACES_PATH


def _resolve_endpoint(endpoint: str | None, protocol: str) -> str:
    http = protocol == HTTP_PROTOBUF
    if endpoint is not None:
        if not _is_url(endpoint):
            raise ValueError(f"endpoint must be an http(s):// URL like http://localhost:4318, got {endpoint!r}")
        return _with_traces_path(endpoint) if http else endpoint
    # (variable, is a base URL that gets the signal path for OTLP/HTTP)
    sources = (
        ("OTEL_MARGIN_ENDPOINT", True),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", False),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", True),
    )
    for name, is_base in sources:
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        if not _is_url(value):
            _log.warning("%s=%r is not an http:// or https:// URL; ignoring it", name, value)
            continue
        return _with_traces_path(value) if http and is_base else value
    default = _DEFAULT_ENDPOINTS[protocol]
    return _with_traces_path(default) if http else default


def resolve_settings(endpoint: str | None, token: str | None, protocol: str | None) -> ExporterSettings:
    """Resolve the exporter settings from the arguments, then the environment, then the defaults.

    Args:
        endpoint: Base URL of otel-margin or your Collector (``http://host:4318``); ``None`` reads the environment.
        token: Ingest token; ``None`` reads ``OTEL_MARGIN_INGEST_TOKEN``; ``""`` sends none.
        protocol: ``http/protobuf`` or ``grpc``; ``None`` reads the environment.

    Returns:
        The settings.

    Raises:
        ValueError: An argument (not an environment variable, which is logged and skipped) is invalid.
    """
    resolved_protocol = _resolve_protocol(protocol)
    if token is None:
        token = os.environ.get("OTEL_MARGIN_INGEST_TOKEN")
    token = (token or "").strip() or None
    return ExporterSettings(resolved_protocol, _resolve_endpoint(endpoint, resolved_protocol), token)


def create_exporter(settings: ExporterSettings) -> SpanExporter | None:
    """Build the OTLP span exporter, or log why it cannot be built and return ``None``.

    The gRPC exporter is imported only here, so an app on OTLP/HTTP never loads grpc.
    """
    try:
        if settings.protocol == GRPC:
            try:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
            except ImportError:
                _log.error(
                    "protocol 'grpc' needs the opentelemetry-exporter-otlp-proto-grpc package "
                    "(pip install 'otel-margin[grpc]'); spans will not be exported"
                )
                return None
            return GrpcExporter(endpoint=settings.endpoint, headers=settings.headers())
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(endpoint=settings.endpoint, headers=settings.headers())
    except Exception:
        _log.exception("cannot create the OTLP exporter for %s; spans will not be exported", settings.endpoint)
        return None
