"""Record the spans real OpenAI instrumentations emit, as testdata for test_genai.py.

Not part of the test run (it needs the instrumentation under test, which the backend does not depend on). Run it
in a throwaway venv holding ``openai``, ``opentelemetry-sdk``, ``pyyaml`` and ONE instrumentation:

    python record_openai_spans.py openllmetry > ../recorded_openllmetry_openai.yaml
        # with opentelemetry-instrumentation-openai (OpenLLMetry)
    python record_openai_spans.py genai-openai > ../recorded_genai_openai.yaml
        # with opentelemetry-instrumentation-genai-openai + opentelemetry-util-genai

A local HTTP stub answers like the OpenAI API, with usage counts chosen so every subset (cached, reasoning) is
visible; the expected values in the output come from those counts, not from the spans.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from typing import Any

import yaml
from openai import OpenAI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

CHAT = {
    "id": "chatcmpl-rec1",
    "object": "chat.completion",
    "created": 1763900000,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Thirty days."}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0},
    },
}
RESPONSE = {
    "id": "resp_rec1",
    "object": "response",
    "created_at": 1763900000,
    "status": "completed",
    "model": "gpt-5-2025-08-07",
    "output": [
        {
            "type": "message",
            "id": "msg_rec1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Done.", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 900,
        "input_tokens_details": {"cached_tokens": 512},
        "output_tokens": 100,
        "output_tokens_details": {"reasoning_tokens": 64},
        "total_tokens": 1000,
    },
}
EMBEDDING = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
}
ANSWERS = {"/v1/chat/completions": CHAT, "/v1/responses": RESPONSE, "/v1/embeddings": EMBEDDING}


class Stub(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = json.dumps(ANSWERS[self.path]).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def instrument(which: str, provider: TracerProvider) -> str:
    """Turn on one instrumentation (imported by name: only one of them is installed in a recording venv)."""
    if which == "openllmetry":
        module = importlib.import_module("opentelemetry.instrumentation.openai")
        module.OpenAIInstrumentor().instrument(tracer_provider=provider)
        return f"opentelemetry-instrumentation-openai {version('opentelemetry-instrumentation-openai')}"
    module = importlib.import_module("opentelemetry.instrumentation.genai.openai")
    module.OpenAIInstrumentor().instrument(tracer_provider=provider)
    return (
        f"opentelemetry-instrumentation-genai-openai {version('opentelemetry-instrumentation-genai-openai')}"
        f" + opentelemetry-util-genai {version('opentelemetry-util-genai')}"
    )


def main(which: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    label = instrument(which, provider)
    client = OpenAI(base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="stub", max_retries=0)

    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Refund policy?"}])
    client.responses.create(model="gpt-5", input="Finish the task.")
    client.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="float")
    server.shutdown()

    expected = [
        {
            "provider": "openai",
            "request_model": "gpt-4o",
            "response_model": "gpt-4o-2024-08-06",
            "operation": "chat",
            "input_tokens": 1200,
            "cache_read_tokens": 1024,
            "output_tokens": 300,
            "reasoning_tokens": 192,
        },
        {
            "provider": "openai",
            "request_model": "gpt-5",
            "response_model": "gpt-5-2025-08-07",
            "operation": "responses",
            "input_tokens": 900,
            "cache_read_tokens": 512,
            "output_tokens": 100,
            "reasoning_tokens": 64,
        },
        {
            "provider": "openai",
            "request_model": "text-embedding-3-small",
            "response_model": "text-embedding-3-small",
            "operation": "embeddings",
            "input_tokens": 8,
            "output_tokens": 0,
        },
    ]
    spans = sorted(exporter.get_finished_spans(), key=lambda span: span.start_time or 0)
    cases = []
    calls = ("chat-completions", "responses-api", "embeddings")
    for call, span, want in zip(calls, spans, expected, strict=True):
        attributes = {
            key: list(value) if isinstance(value, tuple) else value for key, value in (span.attributes or {}).items()
        }
        for key, value in attributes.items():  # the stub's port changes from run to run
            if isinstance(value, str):
                attributes[key] = value.replace(f"127.0.0.1:{server.server_port}", "127.0.0.1:8080")
            elif key == "server.port":
                attributes[key] = 8080
        # The operation is whatever the instrumentation declares (OpenLLMetry calls a Responses call "chat").
        want = {**want, "operation": attributes.get("gen_ai.operation.name", want["operation"])}
        cases.append(
            {
                "id": f"recorded-{call}",
                "span": {"name": span.name, "attributes": attributes},
                "expected": want,
            }
        )
    doc = {
        "resource": {"service.name": "recorded-app"},
        "scope": spans[0].instrumentation_scope.name if spans[0].instrumentation_scope else "",
        "cases": cases,
    }
    print(f"# Recorded from {label} with openai {version('openai')} against a local OpenAI-compatible stub")
    print("# (recording/record_openai_spans.py). Expected values are the stub's usage counts.")
    print(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120), end="")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "openllmetry")
