"""Recorded attribute sets, one testdata file per convention and era, normalized to exact expected events.

Each ``testdata/*.yaml`` file documents where its attribute names come from. A case lists the span and the fields
of the event it must produce (fields left out must have their neutral value), or why it yields no event.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_margin_backend.normalize import CharsPerTokenCounter, NormalizeConfig, Normalizer
from otel_margin_backend.pipeline.events import UNATTRIBUTED, UsageStatus
from tests.backend.normalize.builders import START_NS, TRACE_ID, SpanSpec, build_request, span_id_bytes

TESTDATA = Path(__file__).parent / "testdata"

EVENT_FIELDS = (
    "provider",
    "request_model",
    "response_model",
    "operation",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "customer_id",
    "feature",
    "environment",
    "service",
    "status",
    "tokens_estimated",
    "reported_cost",
    "reported_cost_source",
)


@dataclass(frozen=True)
class Case:
    file: str
    id: str
    resource: dict[str, Any]
    scope: str
    span: dict[str, Any]
    expected: dict[str, Any] | None
    skipped: str | None
    config: dict[str, Any]


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(TESTDATA.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for raw in doc["cases"]:
            expected = None
            if "expected" in raw:
                expected = {**doc.get("expected_defaults", {}), **raw["expected"]}
            cases.append(
                Case(
                    file=path.stem,
                    id=raw["id"],
                    resource=doc["resource"],
                    scope=raw.get("scope", doc.get("scope", "test.instrumentation")),
                    span=raw["span"],
                    expected=expected,
                    skipped=raw.get("skipped"),
                    config=raw.get("config", {}),
                )
            )
    return cases


CASES = load_cases()


def neutral_expectation(case: Case) -> dict[str, Any]:
    """What every field is unless the case says otherwise: a root span names its own feature."""
    return {
        "response_model": None,
        "operation": None,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "customer_id": UNATTRIBUTED,
        "feature": case.span["name"],
        "environment": None,
        "service": case.resource.get("service.name"),
        "status": "unpriced",
        "tokens_estimated": False,
        "reported_cost": None,
        "reported_cost_source": None,
    }


def test_every_testdata_file_has_cases() -> None:
    files = {case.file for case in CASES}
    assert files == {path.stem for path in TESTDATA.glob("*.yaml")}
    assert len(files) >= 14


@pytest.mark.parametrize("case", CASES, ids=[f"{c.file}:{c.id}" for c in CASES])
def test_recorded_span(case: Case) -> None:
    span = SpanSpec(name=case.span["name"], attributes=case.span["attributes"], span_id=7)
    request = build_request(span, resource=case.resource, scope=case.scope)
    normalizer = Normalizer(NormalizeConfig(**case.config), token_counter=CharsPerTokenCounter())

    result = normalizer.normalize(request)

    assert result.rejected == 0, result.reasons
    if case.skipped is not None:
        assert result.events == []
        assert (result.ignored_non_genai, result.ignored_non_model_call) == (
            (1, 0) if case.skipped == "non_genai" else (0, 1)
        )
        return
    assert case.expected is not None
    expected = {**neutral_expectation(case), **case.expected}
    if expected["reported_cost"] is not None:
        expected["reported_cost"] = Decimal(expected["reported_cost"])
    expected["status"] = UsageStatus(expected["status"])
    assert len(result.events) == 1
    event = result.events[0]
    assert {name: getattr(event, name) for name in EVENT_FIELDS} == {name: expected[name] for name in EVENT_FIELDS}
    assert event.trace_id == TRACE_ID
    assert event.span_id == span_id_bytes(7)
    assert event.event_id == TRACE_ID + span_id_bytes(7)
    assert event.time.isoformat() == "2025-11-23T12:13:20.123456+00:00"
    assert event.time.timestamp() == START_NS // 1000 / 1_000_000
