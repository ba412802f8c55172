"""End to end from Node: the Vercel AI SDK (``ai`` with ``@ai-sdk/openai``) exports OTLP/HTTP JSON to the real
backend, which stores one priced row per model call with the exact token split, customer and feature.

The app (``tests/e2e/node/app.mjs``, packages pinned in its ``package-lock.json``, installed by
``scripts/bootstrap.sh node``) calls ``generateText`` and ``streamText`` on Chat Completions and on the Responses
API (``@ai-sdk/openai``'s default), with a cached prompt and a reasoning model, four ways: ai 7 with
``@ai-sdk/otel``'s ``OpenTelemetry`` and ``LegacyOpenTelemetry``, and ai 6's and ai 5's built-in telemetry. The
OpenAI API
is the local stand-in of ``otel_margin_backend.demo.openai_stub``; each call's prompt names its case, and the
stand-in answers with that case's usage in OpenAI's own shape (streamed chat: usage in the last chunk). The
expected cost is ``genai_prices.calc_price`` on exactly that usage.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
from genai_prices import Usage, calc_price

from otel_margin_backend.demo.openai_stub import SNAPSHOTS, OpenAIStub
from tests.support.backend import TOKEN, BackendThread, running_backend
from tests.support.stores import Server

ROOT = Path(__file__).resolve().parents[2]
NODE_APP = ROOT / "tests" / "e2e" / "node"
CUSTOMER = "acct_node_7"


class Call(NamedTuple):
    """What the stand-in answers for one case: OpenAI's counts (input and output include cache and reasoning)."""

    endpoint: str
    model: str
    input: int
    cached: int
    output: int
    reasoning: int


CALLS = {
    "chat": Call("chat", "gpt-4o-mini", 1000, 0, 200, 0),
    "chat-stream": Call("chat", "gpt-4o-mini", 1100, 0, 220, 0),
    "chat-cached": Call("chat", "gpt-4o-mini", 2048, 1536, 50, 0),
    "chat-reasoning": Call("chat", "o4-mini", 500, 0, 900, 640),
    "responses": Call("responses", "gpt-4o-mini", 1300, 1024, 120, 0),
    "responses-stream-reasoning": Call("responses", "o4-mini", 700, 0, 400, 256),
    "embed": Call("embeddings", "text-embedding-3-small", 8, 0, 0, 0),
}


AI_SDK_5_GENERATE_TEXT_DROPS_CACHE_AND_REASONING = frozenset({"chat", "chat-cached", "chat-reasoning", "responses"})
"""ai 5.0.285's ``generateText`` spans (``ai.generateText.doGenerate`` and its parent) carry only
``ai.usage.promptTokens``/``completionTokens`` and ``gen_ai.usage.input/output_tokens``: no cache or reasoning
count reaches the backend, so cached input is priced as uncached (its ``streamText`` spans carry both). Upstream,
not guessed around: docs/instrument.md lists it."""


AI_SDK_7_OTEL_CHAT_SPANS_CARRY_NO_RUNTIME_CONTEXT = "(unattributed)"
"""``@ai-sdk/otel`` 1.0.185 ``OpenTelemetry({runtimeContext: true})`` puts ``ai.settings.context.*`` on the
``invoke_agent`` and ``step`` spans only, never on the ``chat`` span that is priced: without ``enrichSpan`` every
text call lands on the unattributed customer and its feature is the root span's name (embedding spans carry the
context; docs/instrument.md)."""


def reported_call(mode: str, feature: str) -> Call:
    """What the app's spans report for a case: the stand-in's usage, less what the AI SDK version drops."""
    call = CALLS[feature]
    if mode == "v5" and feature in AI_SDK_5_GENERATE_TEXT_DROPS_CACHE_AND_REASONING:
        return call._replace(cached=0, reasoning=0)
    if mode == "otel-default":  # reasoning counts only with OpenTelemetry({usage: true})
        return call._replace(reasoning=0)
    return call


def case_usage(endpoint: str, body: dict[str, Any], model: str) -> dict[str, Any]:
    """The usage object of the case the prompt names, in the endpoint's wire shape."""
    text = repr(body)
    feature = max((name for name in CALLS if f"case:{name} " in text), key=len)
    call = CALLS[feature]
    assert call.endpoint == endpoint, (feature, endpoint)
    if endpoint == "embeddings":
        return {"prompt_tokens": call.input, "total_tokens": call.input}
    if endpoint == "responses":
        return {
            "input_tokens": call.input, "input_tokens_details": {"cached_tokens": call.cached},
            "output_tokens": call.output, "output_tokens_details": {"reasoning_tokens": call.reasoning},
            "total_tokens": call.input + call.output,
        }  # fmt: skip
    return {
        "prompt_tokens": call.input, "completion_tokens": call.output, "total_tokens": call.input + call.output,
        "prompt_tokens_details": {"cached_tokens": call.cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": call.reasoning, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }  # fmt: skip


def expected_cost(call: Call, at: datetime) -> Decimal:
    usage = Usage(
        input_tokens=call.input,
        cache_read_tokens=call.cached,
        output_tokens=call.output,
        output_reasoning_tokens=call.reasoning,
    )
    return calc_price(usage, SNAPSHOTS[call.model], provider_id="openai", genai_request_timestamp=at).total_price


@pytest.fixture
def tsdb_url(timescale_server: Server) -> Iterator[str]:
    url, janitor = timescale_server.new_database()
    yield url
    janitor.drop()


@pytest.fixture
def backend(tsdb_url: str, tmp_path: Path) -> Iterator[BackendThread]:
    with running_backend(tsdb_url, tmp_path) as running:
        yield running


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(case_usage) as server:
        yield server


def run_node_app(mode: str, base_url: str, endpoint: str, *extra: str) -> None:
    """Run the app; fails (never skips) when Node or its packages are missing, saying what to run."""
    node = shutil.which("node")
    if node is None or not (NODE_APP / "node_modules" / "ai" / "package.json").exists():
        pytest.fail("run scripts/bootstrap.sh node (Node.js and the app's locked npm packages)", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [node, "app.mjs", mode, base_url, endpoint, TOKEN, *extra],
        env=env, capture_output=True, text=True, timeout=120, cwd=NODE_APP,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("mode", ["otel", "legacy", "v6", "v5"])
def test_ai_sdk_calls_are_stored_once_each_with_exact_tokens_customer_and_cost(
    mode: str, backend: BackendThread, stub: OpenAIStub, tsdb_url: str
) -> None:
    run_node_app(mode, stub.base_url, f"http://127.0.0.1:{backend.http_port}")

    with psycopg.connect(tsdb_url) as conn:
        rows = conn.execute(
            "SELECT feature, customer_id, provider, model, input_tokens, cache_read_tokens, cache_write_tokens,"
            " output_tokens, reasoning_tokens, status, cost_total, time, service FROM usage_events ORDER BY feature"
        ).fetchall()
    # One row per provider call: the ai.generateText / ai.streamText (legacy, v6) and invoke_agent / step (otel)
    # spans around each call carry the same usage and stay unpriced.
    assert [r[0] for r in rows] == sorted(CALLS)
    assert len(stub.requests) == len(CALLS)
    for feature, customer, provider, model, inp, cache_read, cache_write, out, reasoning, status, cost, at, svc in rows:
        call = reported_call(mode, feature)
        assert (customer, provider, model, svc, status) == (CUSTOMER, "openai", SNAPSHOTS[call.model], "e2e-node-app",
                                                           "priced"), feature  # fmt: skip
        assert (inp, cache_read, cache_write, out, reasoning) == (call.input, call.cached, 0, call.output,
                                                                  call.reasoning), feature  # fmt: skip
        assert cost == expected_cost(call, at), feature


def test_ai_sdk_7_otel_as_registered_by_the_ai_sdk_docs_names_no_customer_on_priced_spans(
    backend: BackendThread, stub: OpenAIStub, tsdb_url: str
) -> None:
    run_node_app("otel-default", stub.base_url, f"http://127.0.0.1:{backend.http_port}")

    with psycopg.connect(tsdb_url) as conn:
        rows = conn.execute(
            "SELECT input_tokens, customer_id, feature, model, cache_read_tokens, output_tokens, reasoning_tokens,"
            " status, cost_total, time FROM usage_events ORDER BY input_tokens"
        ).fetchall()
    features = {call.input: name for name, call in CALLS.items()}  # every case's input count is its own
    assert [r[0] for r in rows] == sorted(features)
    for inp, customer, feature, model, cache_read, out, reasoning, status, cost, at in rows:
        call = reported_call("otel-default", features[inp])
        if call.endpoint == "embeddings":  # its embedding spans do carry runtimeContext: the default keys find it
            assert (customer, feature) == (CUSTOMER, "embed")
        else:  # the root span's name is the feature fallback
            assert (customer, feature) == (
                AI_SDK_7_OTEL_CHAT_SPANS_CARRY_NO_RUNTIME_CONTEXT,
                f"invoke_agent {call.model}",
            )
        assert (model, cache_read, out, reasoning, status) == (SNAPSHOTS[call.model], call.cached, call.output,
                                                               call.reasoning, "priced")  # fmt: skip
        # No money is lost without the reasoning count: OpenAI bills reasoning as output, which includes it.
        assert cost == expected_cost(call, at) == expected_cost(CALLS[features[inp]], at)


def test_ai_sdk_5_generate_text_overbills_cached_input_because_it_reports_no_cache_count() -> None:
    # What the gap costs on the cached case: the whole prompt at the uncached rate.
    call = CALLS["chat-cached"]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert expected_cost(reported_call("v5", "chat-cached"), at) > expected_cost(call, at)
