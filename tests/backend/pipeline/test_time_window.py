"""The accepted window of start times is configurable (``OTEL_MARGIN_MAX_PAST_DAYS`` / ``_MAX_FUTURE_MINUTES``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from otel_margin_backend.normalize.config import NormalizeConfig
from otel_margin_backend.pipeline.limits import DEFAULT_WINDOW, TimeWindow
from otel_margin_backend.receivers.rest_usage import parse_events
from otel_margin_backend.settings import Settings

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_the_default_window_is_five_years_back_and_one_hour_ahead() -> None:
    assert DEFAULT_WINDOW.problem(NOW - timedelta(days=1825), NOW) is None
    assert DEFAULT_WINDOW.problem(NOW - timedelta(days=1826), NOW) == "is more than 5 years before the server's clock"
    assert DEFAULT_WINDOW.problem(NOW + timedelta(hours=1), NOW) is None
    assert DEFAULT_WINDOW.problem(NOW + timedelta(hours=1, seconds=1), NOW) == (
        "is more than 1 hour after the server's clock"
    )


def test_the_window_comes_from_the_settings() -> None:
    settings = Settings(max_past_days=30, max_future_minutes=5)
    assert settings.normalize.window == TimeWindow(timedelta(days=30), timedelta(minutes=5))
    assert NormalizeConfig().window == DEFAULT_WINDOW
    window = settings.normalize.window
    assert window.problem(NOW - timedelta(days=31), NOW) == "is more than 30 days before the server's clock"
    assert window.problem(NOW + timedelta(minutes=6), NOW) == "is more than 5 minutes after the server's clock"


def test_a_rest_item_outside_the_configured_window_is_rejected_alone() -> None:
    items = [
        {"request_id": "r1", "customer_id": "a", "provider": "openai", "model_name": "gpt-4o", "prompt_tokens": 1,
         "completion_tokens": 1, "timestamp": (NOW - timedelta(days=2)).isoformat()},
        {"request_id": "r2", "customer_id": "a", "provider": "openai", "model_name": "gpt-4o", "prompt_tokens": 1,
         "completion_tokens": 1, "timestamp": (NOW - timedelta(hours=1)).isoformat()},
    ]  # fmt: skip
    events, rejected, _ = parse_events(items, now=NOW, window=TimeWindow(timedelta(days=1), timedelta(minutes=5)))
    assert [e.request_id for e in events] == ["r2"]
    assert rejected == [
        {"index": 0, "request_id": "r1", "error": "timestamp: timestamp is more than 1 day before the server's clock"}
    ]
