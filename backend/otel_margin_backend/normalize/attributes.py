"""Decoding OTLP ``KeyValue`` / ``AnyValue`` protobuf messages into plain Python values.

Kept apart from the GenAI logic because it is the hottest code of the stage: every attribute a
span carries passes through the protobuf runtime, so the decoder does one ``WhichOneof`` per value
and no other work. Callers that only need a few keys decode only those (see ``genai.py``).

Nesting is bounded (``MAX_DEPTH`` arrays and maps inside each other, in protobuf values and in JSON text alike),
so no value a client sends can exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_margin_backend.normalize.types import Attributes, AttrValue
from otel_margin_backend.pipeline.limits import MAX_DEPTH, LimitExceeded

__all__ = ["decode_attributes", "decode_int_first", "decode_str_first", "decode_value", "load_json"]

_TOO_DEEP = f"an attribute value is nested deeper than {MAX_DEPTH} levels"


def decode_value(value: AnyValue, _depth: int = 0) -> AttrValue:
    """Turn one ``AnyValue`` into a Python value.

    Args:
        value: The protobuf value.

    Returns:
        ``str``, ``int``, ``float``, ``bool`` or ``bytes`` for scalars; a list for ``array_value``; a dict
        for ``kvlist_value`` (later duplicate keys win, as in the SDKs); ``None`` when no value is set.

    Raises:
        LimitExceeded: arrays and kvlists are nested deeper than ``MAX_DEPTH``.
    """
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        if _depth >= MAX_DEPTH:
            raise LimitExceeded(_TOO_DEEP)
        return [decode_value(item, _depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        if _depth >= MAX_DEPTH:
            raise LimitExceeded(_TOO_DEEP)
        return {kv.key: decode_value(kv.value, _depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value
    return None


def decode_attributes(key_values: Iterable[KeyValue]) -> Attributes:
    """Decode a repeated ``KeyValue`` field (span, resource, event or scope attributes) into a dict.

    Args:
        key_values: The repeated field, or any iterable of ``KeyValue``.

    Returns:
        Key to decoded value; for a repeated key the last one wins.
    """
    return {kv.key: decode_value(kv.value) for kv in key_values}


def decode_str_first(value: AnyValue) -> AttrValue:
    """``decode_value`` for attributes that are nearly always strings, about three times faster when they are.

    A non-empty ``string_value`` can only be read when the oneof holds a string; anything else (an empty
    string, another type, no value) takes the general path, so the result is always the same as ``decode_value``.
    """
    text = value.string_value
    return text if text else decode_value(value)


def decode_int_first(value: AnyValue) -> AttrValue:
    """``decode_value`` for attributes that are nearly always integers (token counts); same result, faster."""
    number = value.int_value
    return number if number else decode_value(value)


def load_json(text: str) -> object:
    """Parse JSON text found in an attribute, refusing nesting deeper than ``MAX_DEPTH``.

    Args:
        text: The attribute's string value.

    Returns:
        The parsed value.

    Raises:
        ValueError: the text is not JSON (``orjson.JSONDecodeError``).
        LimitExceeded: arrays and objects are nested deeper than ``MAX_DEPTH``.
    """
    try:
        parsed: object = orjson.loads(text)  # depth-limited in C (1,024 levels): never a RecursionError
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise LimitExceeded(_TOO_DEEP) from None
        raise
    level: list[object] = [parsed]
    for _ in range(MAX_DEPTH + 1):
        inner: list[object] = []
        for item in level:
            if isinstance(item, list):
                inner.extend(item)
            elif isinstance(item, dict):
                inner.extend(item.values())
        if not inner:
            return parsed
        level = inner
    raise LimitExceeded(_TOO_DEEP)
