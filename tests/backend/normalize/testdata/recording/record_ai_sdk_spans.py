"""Record the spans the real Vercel AI SDK emits, as testdata for test_genai.py.

Not part of the test run. It drives ``tests/e2e/node/app.mjs`` (packages from its lock: ``scripts/bootstrap.sh
node``) against the OpenAI stand-in with the end-to-end test's usage per case, and writes what the app's
in-memory exporter saw, one case per span. Run from the repository root with the project's venv:

    PYTHONPATH=. .venv/bin/python tests/backend/normalize/testdata/recording/record_ai_sdk_spans.py otel \\
        > tests/backend/normalize/testdata/recorded_ai_sdk_7_otel.yaml
    (modes: otel, legacy, v6, v5; see app.mjs)

Message text (prompts, answers) is left out; every other attribute is as recorded. The expected values come from
the stand-in's usage (``CALLS``), not from the spans: reasoning and cache counts are subsets of input and output.
Each case's ``tree`` says where its span sat: ``trace`` (the number of its trace's root span), ``span`` and
``parent`` (numbers in recording order), so a test can send a whole trace in one request.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from otel_margin_backend.demo.openai_stub import SNAPSHOTS, OpenAIStub
from tests.e2e.test_ai_sdk_to_backend import CUSTOMER, NODE_APP, case_usage, reported_call

CONTENT = ("ai.prompt", "ai.prompt.messages", "ai.response.text", "gen_ai.input.messages", "gen_ai.output.messages")
SOURCES = {
    "otel": "ai 7.0.185 + @ai-sdk/openai 4.0.126 + @ai-sdk/otel 1.0.185 OpenTelemetry({usage: true, enrichSpan})",
    "legacy": "ai 7.0.185 + @ai-sdk/openai 4.0.126 + @ai-sdk/otel 1.0.185 LegacyOpenTelemetry()",
    "v6": "ai 6.0.333 + @ai-sdk/openai 3.0.141, built-in telemetry (experimental_telemetry)",
    "v5": "ai 5.0.285 + @ai-sdk/openai 2.0.140, built-in telemetry (experimental_telemetry)",
}
MODEL_CALL_NAMES = ("ai.generateText.doGenerate", "ai.streamText.doStream", "ai.embed.doEmbed", "chat ", "embeddings ")


def feature_of(attributes: dict[str, Any]) -> str:
    for key in ("feature.name", "ai.telemetry.metadata.feature", "ai.settings.context.feature"):
        if key in attributes:
            return str(attributes[key])
    raise KeyError("the span names no feature")


def expected(mode: str, span: dict[str, Any]) -> dict[str, Any]:
    feature = feature_of(span["attributes"])
    call = reported_call(mode, feature)  # ai 5's generateText spans carry no cache or reasoning count
    result: dict[str, Any] = {
        "provider": "openai",
        "request_model": call.model,
        "response_model": SNAPSHOTS[call.model],
        "operation": "chat",
        "input_tokens": call.input,
        "cache_read_tokens": call.cached,
        "output_tokens": call.output,
        "reasoning_tokens": call.reasoning,
        "customer_id": CUSTOMER,
        "feature": feature,
    }
    if call.endpoint == "embeddings":  # embed spans name no response model
        result.update(operation="embeddings", response_model=None)
        if span["name"].startswith("embeddings ") and span["parent_span_id"] is None:
            # ai 7 OpenTelemetry: the embed() span is named and marked like its provider call, without usage.
            # Alone it is a call whose usage is missing; in one request with its child it is folded into it.
            result.update(input_tokens=0, status="missing_usage")
    return result


def main(mode: str) -> None:
    with OpenAIStub(case_usage) as stub, tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "spans.jsonl"
        subprocess.run(["node", "app.mjs", mode, stub.base_url, "-", "-", str(record)], cwd=NODE_APP, check=True)
        spans = [json.loads(line) for line in record.read_text().splitlines() if line]
    numbers = {span["span_id"]: n for n, span in enumerate(spans, start=1)}
    parents = {span["span_id"]: span["parent_span_id"] for span in spans}

    def root_of(span_id: str) -> str:
        while parents[span_id] is not None:
            span_id = parents[span_id]
        return span_id

    cases = []
    for span in spans:
        attributes = {k: v for k, v in span["attributes"].items() if k not in CONTENT}
        parent = span["parent_span_id"]
        tree = {"trace": numbers[root_of(span["span_id"])], "span": numbers[span["span_id"]]}
        if parent is not None:
            tree["parent"] = numbers[parent]
        case: dict[str, Any] = {"id": "", "tree": tree, "span": {"name": span["name"], "attributes": attributes}}
        if span["name"].startswith(MODEL_CALL_NAMES):
            case["expected"] = expected(mode, span)
            root = " (root)" if span["parent_span_id"] is None and span["name"].startswith("embeddings ") else ""
            case["id"] = f"{case['expected']['feature']}:{span['name']}{root}"
        else:
            case["skipped"] = "not_model_call"  # the call around the model call, or its step
            feature = (
                attributes.get("feature.name")
                or attributes.get("ai.settings.context.feature")
                or attributes.get("ai.telemetry.metadata.feature")
            )
            case["id"] = f"{feature}:{span['name']}"
        cases.append(case)
    doc = {"resource": {"service.name": "e2e-node-app"}, "scope": "ai", "cases": cases}
    header = (
        f"# Recorded from {SOURCES[mode]},\n"
        f"# on Node against the local OpenAI stand-in (recording/record_ai_sdk_spans.py {mode}).\n"
        "# Message text left out. Expected values are the stand-in's usage.\n"
    )
    print(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120), end="")


if __name__ == "__main__":
    main(sys.argv[1])
