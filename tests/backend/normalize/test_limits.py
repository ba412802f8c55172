"""Spans that break an input limit are rejected alone, with the limit they broke; their neighbours are kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from otel_margin_backend.normalize import Normalizer
from otel_margin_backend.pipeline.limits import MAX_ATTRIBUTES
from tests.backend.normalize.builders import START_NS, SpanSpec, build_request

NOW = datetime(2025, 11, 24, tzinfo=UTC)  # a day after the builders' START_NS


def chat(span_id: int, **attributes: object) -> SpanSpec:
    attrs: dict[str, object] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
        "customer.id": f"acct_{span_id}",
        "feature.name": "chat",
    }
    attrs.update(attributes)
    return SpanSpec(span_id=span_id, parent_id=99, attributes=attrs)


def nested_list(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_each_broken_limit_rejects_its_span_alone() -> None:
    request = build_request(
        chat(1),
        chat(2, **{"customer.id": "c" * 3000}),
        chat(3, **{"customer.id": "a\x00b"}),
        chat(4, **{"gen_ai.request.model": "m" * 300}),
        chat(5, **{"gen_ai.usage.cache_read.input_tokens": 1_000_000_000}),  # 100 + 1e9 summed is over the cap
        chat(6, **{"server.address": "h" * 1_048_576}),
        chat(7, **{"feature.name": "f" * 257}),
        chat(8),
    )
    result = Normalizer().normalize(request, now=NOW)
    assert [e.customer_id for e in result.events] == ["acct_1", "acct_8"]
    assert result.rejected == 6
    assert result.rejection_counts == {
        "customer id is over 256 bytes": 1,
        "customer id contains a NUL character": 1,
        "request model is over 256 bytes": 1,
        "input tokens (cache tokens included) is above 1,000,000,000": 1,
        "attribute server.address is over 256 bytes": 1,
        "feature is over 256 bytes": 1,
    }


def test_a_feature_named_after_an_over_long_root_span_is_rejected() -> None:
    root = SpanSpec(name="r" * 400, span_id=99)
    call = SpanSpec(span_id=1, parent_id=99, attributes={**chat(1).attributes, "feature.name": None})
    result = Normalizer().normalize(build_request(root, call), now=NOW)
    assert (result.events, result.error_message) == ([], "1 span rejected: feature is over 256 bytes")


def test_spans_outside_the_time_window_are_rejected_with_the_reason() -> None:
    year_2554 = 2**64 - 1 - 2 * 10**9  # about the largest start_time_unix_nano (a fixed64): July 2554
    request = build_request(
        SpanSpec(span_id=1, parent_id=99, attributes=chat(1).attributes, start_ns=year_2554),
        SpanSpec(span_id=2, parent_id=99, attributes=chat(2).attributes, start_ns=1),  # 1970
        chat(3),
    )
    result = Normalizer().normalize(request, now=NOW)
    assert [e.customer_id for e in result.events] == ["acct_3"]
    assert result.reasons == [
        "1 span rejected: start time is more than 1 hour after the server's clock",
        "1 span rejected: start time is more than 5 years before the server's clock",
    ]
    # Without a clock (replaying recorded data) there is no window.
    assert len(Normalizer().normalize(request).events) == 3


def test_deeply_nested_raw_usage_is_rejected_not_a_recursion_error() -> None:
    deep_json = "[" * 5_000 + "]" * 5_000  # past orjson's own 1,024 levels too
    request = build_request(
        chat(1, **{"gen_ai.usage.raw": deep_json}),
        chat(2, **{"gen_ai.usage.raw": json.dumps(nested_list(33))}),
        chat(3, **{"gen_ai.usage.raw": nested_list(40)}),  # as an OTLP array value
        chat(4, **{"gen_ai.usage.raw": json.dumps({"input_tokens": 7, "output_tokens": 1, "pad": "x" * 70_000})}),
        chat(5, **{"gen_ai.usage.raw": json.dumps(nested_list(32))}),  # at the limit: read (and ignored)
        chat(6),
    )
    result = Normalizer().normalize(request, now=NOW)
    assert [e.customer_id for e in result.events] == ["acct_5", "acct_6"]
    assert result.rejection_counts == {
        "gen_ai.usage.raw is nested deeper than 32 levels": 2,
        "an attribute value is nested deeper than 32 levels": 1,
        "gen_ai.usage.raw is over 64 KiB": 1,
    }


def test_attribute_counts_are_capped() -> None:
    many = {f"app.attr.{i}": i for i in range(MAX_ATTRIBUTES + 1)}
    request = build_request(chat(1, **many), chat(2))
    result = Normalizer().normalize(request, now=NOW)
    assert [e.customer_id for e in result.events] == ["acct_2"]
    assert result.error_message == f"1 span rejected: span has more than {MAX_ATTRIBUTES:,} attributes"
    crowded = build_request(chat(3), resource={f"r.{i}": i for i in range(MAX_ATTRIBUTES + 1)})
    result = Normalizer().normalize(crowded, now=NOW)
    assert result.error_message == f"1 span rejected: the span's resource has more than {MAX_ATTRIBUTES:,} attributes"


def test_start_ns_of_the_builders_is_inside_the_window() -> None:
    assert abs(NOW.timestamp() - START_NS / 1e9) < 86_400
