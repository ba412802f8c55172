"""Whole traces of the real Vercel AI SDK, each sent in one request: one event per provider call.

The recorded files (``testdata/recorded_ai_sdk_*.yaml``) hold every span the app exported, with where it sat in
its trace. ``test_genai.py`` checks each span alone; here the call around the model call (``ai.generateText``,
``invoke_agent`` and ``step``, ``ai.embed``, ai 7's ``embeddings`` root) arrives with it, as the AI SDK exports
them, and must add nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_margin_backend.normalize import NormalizeConfig, Normalizer
from tests.backend.normalize.builders import SpanSpec, build_request

TESTDATA = Path(__file__).parent / "testdata"
RECORDED = sorted(TESTDATA.glob("recorded_ai_sdk_*.yaml"))
FIELDS = ("provider", "request_model", "response_model", "operation", "input_tokens", "cache_read_tokens",
          "output_tokens", "reasoning_tokens", "customer_id", "feature")  # fmt: skip


def trace_id(number: int) -> bytes:
    return number.to_bytes(16, "big")


def priced_calls(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The expected events: every model-call span that has usage (ai 7's usage-less embed root is folded away)."""
    expected = [case["expected"] for case in cases if "expected" in case]
    return [event for event in expected if event.get("status") != "missing_usage"]


def test_every_ai_sdk_mode_is_recorded() -> None:
    assert [path.stem for path in RECORDED] == [
        "recorded_ai_sdk_7_legacy",
        "recorded_ai_sdk_7_otel",
        "recorded_ai_sdk_v5",
        "recorded_ai_sdk_v6",
    ]


@pytest.mark.parametrize("path", RECORDED, ids=[path.stem for path in RECORDED])
def test_one_event_per_provider_call(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    specs = [
        SpanSpec(
            name=case["span"]["name"],
            attributes=case["span"]["attributes"],
            trace_id=trace_id(case["tree"]["trace"]),
            span_id=case["tree"]["span"],
            parent_id=case["tree"].get("parent"),
        )
        for case in doc["cases"]
    ]
    result = Normalizer(NormalizeConfig()).normalize(build_request(*specs, resource=doc["resource"], scope="ai"))

    assert result.rejected == 0, result.reasons
    events = sorted(({name: getattr(e, name) for name in FIELDS} for e in result.events), key=lambda e: e["feature"])
    expected = sorted(({name: c.get(name, 0) for name in FIELDS} for c in priced_calls(doc["cases"])),
                      key=lambda e: e["feature"])  # fmt: skip
    assert events == expected
    assert len(events) == 7  # six text calls and one embed, in every mode
    assert {e.service for e in result.events} == {"e2e-node-app"}
