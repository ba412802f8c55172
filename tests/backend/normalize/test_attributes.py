"""The OTLP attribute decoder: every AnyValue kind, nesting, and the typed fast paths agreeing with it."""

from __future__ import annotations

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from otel_margin_backend.normalize.attributes import (
    decode_attributes,
    decode_int_first,
    decode_str_first,
    decode_value,
)
from tests.backend.normalize.builders import any_value

SAMPLES = [
    AnyValue(string_value="gpt-4o"),
    AnyValue(string_value=""),
    AnyValue(int_value=42),
    AnyValue(int_value=0),
    AnyValue(int_value=-3),
    AnyValue(double_value=0.25),
    AnyValue(double_value=12.0),
    AnyValue(bool_value=True),
    AnyValue(bool_value=False),
    AnyValue(bytes_value=b"\x00\x01"),
    AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="stop"), AnyValue(int_value=1)])),
    AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="a", value=AnyValue(int_value=1))])),
    AnyValue(),
]


def test_scalars() -> None:
    assert decode_value(AnyValue(string_value="gpt-4o")) == "gpt-4o"
    assert decode_value(AnyValue(int_value=9_000_000_000)) == 9_000_000_000
    assert decode_value(AnyValue(double_value=0.1)) == 0.1
    assert decode_value(AnyValue(bool_value=False)) is False
    assert decode_value(AnyValue(bytes_value=b"\xff")) == b"\xff"


def test_unset_value_is_none() -> None:
    assert decode_value(AnyValue()) is None


def test_empty_string_and_zero_are_values_not_absence() -> None:
    assert decode_value(AnyValue(string_value="")) == ""
    assert decode_value(AnyValue(int_value=0)) == 0


def test_nested_arrays_and_kvlists() -> None:
    value = any_value({"messages": [{"role": "user", "parts": ["hi", 2]}], "n": 1.5, "ok": True})
    assert decode_value(value) == {"messages": [{"role": "user", "parts": ["hi", 2]}], "n": 1.5, "ok": True}


def test_empty_array_and_kvlist() -> None:
    assert decode_value(AnyValue(array_value=ArrayValue())) == []
    assert decode_value(AnyValue(kvlist_value=KeyValueList())) == {}


def test_decode_attributes_last_duplicate_wins() -> None:
    kvs = [
        KeyValue(key="customer.id", value=AnyValue(string_value="first")),
        KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=5)),
        KeyValue(key="customer.id", value=AnyValue(string_value="second")),
    ]
    assert decode_attributes(kvs) == {"customer.id": "second", "gen_ai.usage.input_tokens": 5}


@pytest.mark.parametrize("value", SAMPLES, ids=[str(decode_value(v)) for v in SAMPLES])
def test_fast_paths_agree_with_general_decoder(value: AnyValue) -> None:
    expected = decode_value(value)
    assert decode_str_first(value) == expected
    assert type(decode_str_first(value)) is type(expected)
    assert decode_int_first(value) == expected
    assert type(decode_int_first(value)) is type(expected)
