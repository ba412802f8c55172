"""Record the spans the real Vercel AI SDK emits, as testdata for test_genai.py.

Not part of the test run. It drives ``tests/e2e/node/app.mjs`` (packages from its lock: ``scripts/bootstrap.sh
node``) against the OpenAI stand-in with the end-to-end test's usage per case, and writes what the app's
in-memory exporter saw, one case per span. Run from the repository root with the project's venv:

    PYTHONPATH=. .venv/bin/python tests/backend/normalize/testdata/recording/record_ai_sdk_spans.py otel \\
        > tests/backend/normalize/testdata/recorded_ai_sdk_7_otel.yaml
    (modes: otel, legacy, v6, v5; see app.mjs)

Message text (prompts, answers) is left out; every other attribute is as recorded. The expected values come from
the stand-in's usage (``CALLS``), not from the spans: reasoning and cache counts are subsets of input and output.
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
MODEL_CALL_NAMES = ("ai.generateText.doGenerate", "ai.streamText.doStream", "chat ")


def expected(mode: str, span: dict[str, Any]) -> dict[str, Any]:
    attributes = span["attributes"]
    feature = (
        attributes.get("feature.name")
        or attributes[
            "ai.telemetry.metadata.feature"
            if "ai.telemetry.metadata.feature" in attributes
            else "ai.settings.context.feature"
        ]
    )
    call = reported_call(mode, feature)  # ai 5's generateText spans carry no cache or reasoning count
    return {
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


def main(mode: str) -> None:
    with OpenAIStub(case_usage) as stub, tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "spans.jsonl"
        subprocess.run(["node", "app.mjs", mode, stub.base_url, "-", "-", str(record)], cwd=NODE_APP, check=True)
        spans = [json.loads(line) for line in record.read_text().splitlines() if line]
    cases = []
    for span in spans:
        attributes = {k: v for k, v in span["attributes"].items() if k not in CONTENT}
        case: dict[str, Any] = {"id": "", "span": {"name": span["name"], "attributes": attributes}}
        if span["name"].startswith(MODEL_CALL_NAMES):
            case["expected"] = expected(mode, span)
            case["id"] = f"{case['expected']['feature']}:{span['name']}"
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
