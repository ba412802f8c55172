"""Decoding OTLP/HTTP bodies: gzip with a size limit, protobuf, and OTLP/JSON.

OTLP/JSON differs from proto3's canonical JSON: trace and span ids are hex (not base64). The ids
are rewritten to base64 before ``json_format`` parses the rest (integer enums, lowerCamelCase and
int64-as-string are what it accepts anyway); unknown fields are ignored as the spec requires.

Whatever a body holds, decoding ends in a message or a ``PermanentError`` (400): nesting is bounded by
orjson (1,024 levels) and ``json_format`` (100 messages), never by the Python stack. Bodies over
``INLINE_BODY_BYTES`` (or compressed) are decoded in a worker thread (``decode_body``), so a 20 MiB
JSON body, which ``json_format`` takes seconds to parse, does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import zlib
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.web.status import TooLarge, UnsupportedMediaType

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
INLINE_BODY_BYTES = 65_536
"""Identity-encoded bodies up to this size are decoded on the event loop; larger or compressed ones in a thread."""


def media_type(content_type: str | None) -> str:
    """``application/x-protobuf`` or ``application/json`` from a Content-Type header."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if kind == JSON:
        return JSON
    raise UnsupportedMediaType(
        f"unsupported Content-Type {content_type or '(none)'!r}: send application/x-protobuf or application/json"
    )


def decompress(body: bytes, encoding: str | None, limit_bytes: int) -> bytes:
    """The body after Content-Encoding, refusing more than ``limit_bytes`` of output (gzip bombs)."""
    coding = (encoding or "identity").strip().lower()
    if coding in ("identity", ""):
        if len(body) > limit_bytes:
            raise TooLarge(f"request body is over the {limit_bytes // 1_048_576} MiB limit")
        return body
    if coding != "gzip":
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}: send gzip or none")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit_bytes + 1)
    except zlib.error as exc:
        raise PermanentError(f"request body is not valid gzip: {exc}") from None
    if len(out) > limit_bytes or inflater.unconsumed_tail:
        raise TooLarge(f"request body is over the {limit_bytes // 1_048_576} MiB limit after decompression")
    if not inflater.eof:
        raise PermanentError("request body is truncated gzip")
    return out


def decode_request(body: bytes, kind: str) -> ExportTraceServiceRequest:
    """An ``ExportTraceServiceRequest`` from a protobuf or OTLP/JSON body."""
    if kind == PROTOBUF:
        try:
            message: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(body)
            return message
        except DecodeError as exc:
            raise PermanentError(f"body is not a valid OTLP protobuf ExportTraceServiceRequest: {exc}") from None
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise PermanentError(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PermanentError("OTLP/JSON body must be an object with resourceSpans")
    _hex_ids_to_base64(data)
    message = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
        return message
    except Exception as exc:  # ParseError, or whatever else json_format meets in a hostile document
        reason = first_line(exc)[:200]
        raise PermanentError(f"body is not a valid OTLP/JSON ExportTraceServiceRequest: {reason}") from None


async def decode_body(body: bytes, encoding: str | None, kind: str, limit_bytes: int) -> ExportTraceServiceRequest:
    """``decompress`` then ``decode_request``, in a worker thread unless the body is small and uncompressed."""
    if len(body) <= INLINE_BODY_BYTES and (encoding or "identity").strip().lower() in ("identity", ""):
        return decode_request(decompress(body, encoding, limit_bytes), kind)
    return await asyncio.to_thread(_decompress_and_decode, body, encoding, kind, limit_bytes)


def _decompress_and_decode(body: bytes, encoding: str | None, kind: str, limit_bytes: int) -> ExportTraceServiceRequest:
    return decode_request(decompress(body, encoding, limit_bytes), kind)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def encode_response(response: ExportTraceServiceResponse, kind: str) -> bytes:
    if kind == PROTOBUF:
        data: bytes = response.SerializeToString()
        return data
    return orjson.dumps(json_format.MessageToDict(response))


def encode_status(status: Any, kind: str) -> bytes:
    """A ``google.rpc.Status`` body in the request's encoding."""
    if kind == PROTOBUF:
        data: bytes = status.SerializeToString()
        return data
    return orjson.dumps(json_format.MessageToDict(status))


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    for rs in _objects(data, "resourceSpans", "resource_spans"):
        for ss in _objects(rs, "scopeSpans", "scope_spans"):
            for span in _objects(ss, "spans"):
                _fix_ids(span, "span")
                for link in _objects(span, "links"):
                    _fix_ids(link, "link")


def _objects(parent: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return [v for v in value if isinstance(v, dict)]
    return []


def _fix_ids(obj: dict[str, Any], what: str) -> None:
    for key in _ID_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            obj[key] = _hex_to_b64(value, f"{what} {key}")


def _hex_to_b64(value: str, what: str, _enc: Callable[[bytes], bytes] = base64.b64encode) -> str:
    try:
        return _enc(bytes.fromhex(value)).decode()
    except (ValueError, binascii.Error):
        raise PermanentError(f"{what} {value!r} is not hex (OTLP/JSON ids are hex strings)") from None
