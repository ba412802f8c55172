"""The shared CLI / REST parameters: dates, instants, candidate lists, unknown names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.simulator.params import build_request, parse_candidates, parse_moment, request_from_query


def test_dates_and_instants() -> None:
    assert parse_moment("2026-11-01", name="from", end=False) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_moment("2026-11-30", name="to", end=True) == datetime(2026, 12, 1, tzinfo=UTC)  # whole day
    assert parse_moment("2026-11-30T12:00:00", name="to", end=True) == datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert parse_moment("2026-11-30T12:00:00+02:00", name="to", end=True) == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert parse_moment("2026-11-30T12:00:00Z", name="to", end=True) == datetime(2026, 11, 30, 12, tzinfo=UTC)
    with pytest.raises(PermanentError, match=r"^from: '11/01/2026' is not a date \(2026-11-01\) or date-time"):
        parse_moment("11/01/2026", name="from", end=False)


def test_candidate_lists() -> None:
    assert parse_candidates(None) is None
    assert parse_candidates(" openai/gpt-4.1-mini , gpt-4o-mini ") == ("openai/gpt-4.1-mini", "gpt-4o-mini")
    with pytest.raises(PermanentError, match=r"^candidates: give one or more provider/model names"):
        parse_candidates(" , ")


def test_requests_from_options_and_query_parameters() -> None:
    request = build_request(feature="chat", customer="", candidates="a/b", start="2026-11-01", end=None)
    assert (request.feature, request.customer, request.candidates) == ("chat", None, ("a/b",))
    assert request.start == datetime(2026, 11, 1, tzinfo=UTC) and request.end is None
    assert request_from_query({"to": "2026-11-02"}).end == datetime(2026, 11, 3, tzinfo=UTC)
    with pytest.raises(PermanentError, match=r"^unknown parameter 'format'; use feature, customer, candidates"):
        request_from_query({"format": "json"})
