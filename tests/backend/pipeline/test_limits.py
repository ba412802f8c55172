"""The input limits table: each check, at and just past its boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from otel_margin_backend.pipeline import limits
from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.pipeline.limits import cost_problem, event_problem, text_problem, time_problem

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a" * 256, None),
        ("a" * 257, "is over 256 bytes"),
        ("é" * 128, None),  # 2 bytes each: 256 bytes
        ("é" * 129, "is over 256 bytes"),
        ("😀" * 64, None),
        ("😀" * 65, "is over 256 bytes"),
        ("a\x00b", "contains a NUL character"),
        ("a\ud800b", "is not valid UTF-8"),
        ("", None),
    ],
)
def test_text(value: str, problem: str | None) -> None:
    assert text_problem(value) == problem


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (Decimal("0"), None),
        (Decimal("1000000"), None),
        (Decimal("1000000.000001"), "is above 1,000,000"),
        (Decimal("1e200000"), "is above 1,000,000"),
        (Decimal("-0.01"), "is negative"),
        (Decimal("Infinity"), "is not a finite number"),
        (Decimal("NaN"), "is not a finite number"),
        (Decimal("1e-30"), None),
        (Decimal("1e-31"), "has more than 30 decimal places"),
        (Decimal("0.10000000000000000000000000000000000000"), None),  # trailing zeros do not count
        (Decimal("1e-20000"), "has more than 30 decimal places"),
    ],
)
def test_cost(value: Decimal, problem: str | None) -> None:
    assert cost_problem(value) == problem


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        (NOW, None),
        (NOW + timedelta(hours=1), None),
        (NOW + timedelta(hours=1, seconds=1), "is more than 1 hour after the server's clock"),
        (NOW - timedelta(days=5 * 365), None),
        (NOW - timedelta(days=5 * 365, seconds=1), "is more than 5 years before the server's clock"),
        (datetime(1970, 1, 1, tzinfo=UTC), "is more than 5 years before the server's clock"),
        (datetime(2554, 7, 21, tzinfo=UTC), "is more than 1 hour after the server's clock"),
    ],
)
def test_time_window(when: datetime, problem: str | None) -> None:
    assert time_problem(when, NOW) == problem


def _event(**fields: object) -> UsageEvent:
    e = UsageEvent(time=NOW, event_id=b"\x01" * 24, customer_id="acct", feature="chat", provider="openai",
                   request_model="gpt-4o", response_model="gpt-4o", input_tokens=10, output_tokens=5)  # fmt: skip
    for key, value in fields.items():
        setattr(e, key, value)
    return e


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, None),
        ({"customer_id": "c" * 3000}, "customer id is over 256 bytes"),
        ({"feature": "a\x00b"}, "feature contains a NUL character"),
        ({"response_model": "m" * 257}, "response model is over 256 bytes"),
        ({"request_id": "r" * 300}, "request id is over 256 bytes"),
        ({"service": "s\x00"}, "service name contains a NUL character"),
        ({"input_tokens": 1_000_001_000, "cache_read_tokens": 1_000_000_000},
         "input tokens (cache tokens included) is above 1,000,000,000"),
        ({"output_tokens": -1}, "output tokens (reasoning tokens included) is negative"),
        ({"reported_cost": Decimal("1e200000")}, "reported cost is above 1,000,000"),
        ({"attributes": {"server.address": "h" * 1_048_576}}, "attribute server.address is over 256 bytes"),
        ({"time": datetime(2554, 1, 1, tzinfo=UTC)}, "start time is more than 1 hour after the server's clock"),
    ],
)  # fmt: skip
def test_event(fields: dict[str, object], problem: str | None) -> None:
    assert event_problem(_event(**fields), NOW) == problem


def test_the_time_window_is_skipped_without_a_clock() -> None:
    assert event_problem(_event(time=datetime(1970, 1, 1, tzinfo=UTC)), None) is None


def test_four_names_at_the_limit_stay_far_below_the_btree_row_limit() -> None:
    # usage_hourly's primary key: bucket, customer, feature, provider, model (btree rows hold at most 2,704 bytes).
    assert 8 + 4 * (limits.MAX_NAME_BYTES + 4) < 2704 // 2
