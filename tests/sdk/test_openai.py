"""The real ``openai`` client and each real OpenAI instrumentation, against a local OpenAI-compatible server.

Every call runs under ``otel_margin.customer()`` with its own feature name, so each span says which call made it.
Each instrumentation runs in a fresh interpreter (see ``openai_calls``), against a stub served from this process.
The expected attributes are exactly what each instrumentation version emits: they document which token counts
otel-margin receives from which instrumentation (the cached and reasoning counts differ the most).

The official ``opentelemetry-instrumentation-genai-openai`` and the legacy ``-openai-v2`` need different
``opentelemetry-util-genai`` versions and cannot share an environment: the successor runs in its own venv
(``.venv-genai-openai``, made by ``scripts/bootstrap.sh genai-openai``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_margin_backend.demo.openai_stub import OpenAIStub
from tests.sdk.instrumentors import LEGACY_V2, OPENLLMETRY, SUCCESSOR, installed
from tests.sdk.scripts import run_python

ROOT = Path(__file__).resolve().parents[2]
SCOPE = {"customer.id": "acct_42"}


def _chat(usage: dict[str, int]) -> dict[str, Any]:
    return {
        **SCOPE,
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        **{f"gen_ai.usage.{key}": value for key, value in usage.items()},
    }


def _embeddings(usage: dict[str, int]) -> dict[str, Any]:
    return {
        **SCOPE,
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.response.model": "text-embedding-3-small",
        **{f"gen_ai.usage.{key}": value for key, value in usage.items()},
    }


def _responses(usage: dict[str, int]) -> dict[str, Any]:
    return {
        **_chat(usage),
        "gen_ai.request.model": "o4-mini",
        "gen_ai.response.model": "o4-mini-2025-04-16",
    }


IN_OUT = {"input_tokens": 1200, "output_tokens": 300}
CHAT_SPEC = {**IN_OUT, "cache_read.input_tokens": 1024, "reasoning.output_tokens": 128}
CHAT_OPENLLMETRY = {**IN_OUT, "total_tokens": 1500, "cache_read.input_tokens": 1024, "reasoning_tokens": 128}
RESPONSES_IN_OUT = {"input_tokens": 900, "output_tokens": 210}
RESPONSES_SPEC = {**RESPONSES_IN_OUT, "cache_read.input_tokens": 512, "reasoning.output_tokens": 64}
RESPONSES_OPENLLMETRY = {
    **RESPONSES_IN_OUT,
    "total_tokens": 1110,
    "cache_read.input_tokens": 512,
    "reasoning_tokens": 64,
}

# feature name of the call -> (span name, the span's customer, operation, models and every gen_ai.usage.* attribute)
EXPECTED: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    # 1.3b0: spec names, cache and reasoning counts on every call, the Responses API included.
    SUCCESSOR: {
        "chat": ("chat gpt-4o-mini", _chat(CHAT_SPEC)),
        "chat-stream": ("chat gpt-4o-mini", _chat(CHAT_SPEC)),
        "chat-async": ("chat gpt-4o-mini", _chat(CHAT_SPEC)),
        "embeddings": ("embeddings text-embedding-3-small", _embeddings({"input_tokens": 8})),
        "responses": ("chat o4-mini", _responses(RESPONSES_SPEC)),
        "responses-stream": ("chat o4-mini", _responses(RESPONSES_SPEC)),
    },
    # 2.4b0 with util-genai 1.1b0: input and output only, and no span at all for the Responses API.
    LEGACY_V2: {
        "chat": ("chat gpt-4o-mini", _chat(IN_OUT)),
        "chat-stream": ("chat gpt-4o-mini", _chat(IN_OUT)),
        "chat-async": ("chat gpt-4o-mini", _chat(IN_OUT)),
        "embeddings": ("embeddings text-embedding-3-small", _embeddings({"input_tokens": 8})),
    },
    # 0.62.4: the spec's cache name, its own `reasoning_tokens` (missing on streamed chat), and a total.
    OPENLLMETRY: {
        "chat": ("openai.chat", _chat(CHAT_OPENLLMETRY)),
        "chat-stream": ("openai.chat", _chat({k: v for k, v in CHAT_OPENLLMETRY.items() if k != "reasoning_tokens"})),
        "chat-async": ("openai.chat", _chat(CHAT_OPENLLMETRY)),
        "embeddings": (
            "openai.embeddings",
            _embeddings({"input_tokens": 8, "total_tokens": 8, "cache_read.input_tokens": 0}),
        ),
        "responses": ("openai.response", _responses(RESPONSES_OPENLLMETRY)),
        "responses-stream": ("openai.response", _responses(RESPONSES_OPENLLMETRY)),
    },
}


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


SUCCESSOR_VENV = ROOT / ".venv-genai-openai" / "bin" / "python"


def _python_for(distribution: str) -> str:
    """The interpreter whose environment has ``distribution``: this one, or the successor's own venv."""
    if installed(distribution):
        return sys.executable
    if distribution == SUCCESSOR:
        if SUCCESSOR_VENV.exists():
            return str(SUCCESSOR_VENV)
        pytest.fail(
            f"{distribution} needs its own venv (its util-genai conflicts with {LEGACY_V2}): "
            "run scripts/bootstrap.sh genai-openai",
            pytrace=False,
        )
    pytest.fail(
        f"{distribution} is not installed: run scripts/bootstrap.sh test "
        "(pip install -e '.[grpc]' -e './backend[test]')",
        pytrace=False,
    )


@pytest.mark.parametrize("distribution", [SUCCESSOR, LEGACY_V2, OPENLLMETRY])
def test_model_call_spans_carry_customer_feature_and_exact_token_counts(distribution: str, stub: OpenAIStub) -> None:
    out = run_python(
        f"from tests.sdk.openai_calls import main; main({distribution!r}, {stub.base_url!r})",
        python=_python_for(distribution),
        PYTHONPATH=str(ROOT),
    )

    expected = {
        feature: {"span": name, "attributes": {**attributes, "feature.name": feature}}
        for feature, (name, attributes) in EXPECTED[distribution].items()
    }
    assert json.loads(out) == expected
    # the stub saw every call, the streamed chat asking for its usage chunk
    assert [request.path for request in stub.requests] == [
        "/v1/chat/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/responses", "/v1/responses",
        "/v1/chat/completions",
    ]  # fmt: skip
    assert stub.requests[1].body["stream_options"] == {"include_usage": True}
