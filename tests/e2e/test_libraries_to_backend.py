"""End to end, per Python GenAI library: the real client and its real instrumentation, in the library's own venv,
export over OTLP to the real backend; the stored rows are one per provider call, with the exact token split, the
customer found with the default customer keys, and a cost equal to ``genai_prices.calc_price`` on the usage the
stand-in returned.

The providers are local stand-ins answering in their own wire format (``OpenAIStub``; ``ProviderStub`` for
Anthropic, whose ``input_tokens`` excludes cache tokens, and Gemini, whose candidate count excludes thoughts).
Where an instrumentation itself reports a wrong number, the expected row says so by name (``UPSTREAM_*``) and
docs/instrument.md lists it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest
from genai_prices import Usage, calc_price

from otel_margin_backend.demo.openai_stub import OpenAIStub
from tests.sdk.scripts import OTEL_VARIABLES
from tests.support.backend import TOKEN, BackendThread, running_backend
from tests.support.provider_stubs import ProviderStub
from tests.support.stores import Server

ROOT = Path(__file__).resolve().parents[2]


class Row(NamedTuple):
    """One stored call: what is compared, in ``usage_events`` column order."""

    customer: str
    provider: str
    model: str
    input: int
    cache_read: int
    cache_write: int
    output: int
    reasoning: int


# The usage each stand-in returned, in OTel meaning (input includes cache, output includes reasoning).
OPENAI_CHAT = (1200, 1024, 0, 300, 128)  # prompt 1200 (1024 cached), completion 300 (128 reasoning)
ANTHROPIC = (1524, 1024, 200, 150, 60)  # input 300 + cache read 1024 + cache write 200; output 150 (60 thinking)
GEMINI = (1200, 1024, 0, 428, 128)  # prompt 1200 (1024 cached); candidates 300 + thoughts 128

# Upstream behaviour, named so that a version that fixes it fails here and is noticed (docs/instrument.md lists each).
UPSTREAM_OPENLLMETRY_ANTHROPIC_STREAM_OUTPUT = 151
"""OpenLLMetry's Anthropic instrumentation 0.62.4, streaming: adds message_delta's cumulative output count (150) to
message_start's placeholder 1. In a trace shared with the client's own span it loses (the client's reports reasoning
too, so it is more detailed) and the stored row is exact; alone in its trace it is stored as is."""
UPSTREAM_OPENLLMETRY_ANTHROPIC_REASONING = 0
"""OpenLLMetry's Anthropic instrumentation 0.62.4 reports no reasoning (thinking) count."""
UPSTREAM_OPENLLMETRY_OPENAI_STREAM_REASONING = 0
"""OpenLLMetry's OpenAI instrumentation 0.62.4 (under LangChain here) reports no reasoning count for streamed chat."""
UPSTREAM_OPENLIT_CHAT_REASONING = 0
"""OpenLIT 1.45 reads reasoning tokens for the Responses API only, not for Chat Completions."""
UPSTREAM_LITELLM_STREAM_FEATURE = "litellm_request"
"""LiteLLM 1.110 makes the span of a streamed call on its logging thread after the stream ends, outside the app's
context: no baggage reaches it, so the feature falls back to the span's own name (the customer, from ``user=``, is an
attribute and still arrives)."""
UPSTREAM_LITELLM_STREAM_MODEL = "gpt-4o-mini"
"""... and that span names no response model, so the row names the requested alias (priced the same)."""
UPSTREAM_TWO_TRACES_PER_ANTHROPIC_CALL = 2
"""Rows per call without an enclosing span: OpenLLMetry's Anthropic span and the client's own span each start a
trace of their own, so nothing ties them (a call is one trace and one response id) and both are stored."""

CLAUDE = "claude-sonnet-4-5"
GPT = "gpt-4o-mini-2024-07-18"
GEMINI_FLASH = "gemini-2.5-flash"
ANTHROPIC_OPENLLMETRY = (*ANTHROPIC[:4], UPSTREAM_OPENLLMETRY_ANTHROPIC_REASONING)
ANTHROPIC_STREAM_OPENLLMETRY = (*ANTHROPIC[:3], UPSTREAM_OPENLLMETRY_ANTHROPIC_STREAM_OUTPUT, 0)


class Case(NamedTuple):
    venv: str
    expected: dict[str, list[Row]]
    """feature -> the rows stored for it; each is priced at genai_prices.calc_price of its counts."""


def _rows(customer: str, provider: str, model: str, usage: tuple[int, int, int, int, int], n: int = 1) -> list[Row]:
    return [Row(customer, provider, model, *usage)] * n


def _no_reasoning(usage: tuple[int, int, int, int, int], reasoning: int) -> tuple[int, int, int, int, int]:
    return (*usage[:4], reasoning)


CASES: dict[str, Case] = {
    # anthropic 2.x tracing itself; instrument() turns no Anthropic instrumentation on.
    "anthropic-self": Case(
        "genai",
        {
            "messages": _rows("acct_anthropic", "anthropic", CLAUDE, ANTHROPIC),
            "messages-stream": _rows("acct_anthropic", "anthropic", CLAUDE, ANTHROPIC),
        },
    ),
    # OpenLLMetry's Anthropic instrumentation as well, under a request span: two spans per call, one row.
    "anthropic-openllmetry": Case(
        "genai",
        {
            "messages": _rows("acct_anthropic", "anthropic", CLAUDE, ANTHROPIC),
            "messages-stream": _rows("acct_anthropic", "anthropic", CLAUDE, ANTHROPIC),  # the client's span wins
        },
    ),
    # The same without an enclosing span: OpenLLMetry's span and the client's are in two traces, both stored.
    "anthropic-openllmetry-no-parent": Case(
        "genai",
        {
            "messages": [
                Row("acct_anthropic", "anthropic", CLAUDE, *ANTHROPIC_OPENLLMETRY),
                Row("acct_anthropic", "anthropic", CLAUDE, *ANTHROPIC),
            ],
            "messages-stream": [
                Row("acct_anthropic", "anthropic", CLAUDE, *ANTHROPIC_STREAM_OPENLLMETRY),
                Row("acct_anthropic", "anthropic", CLAUDE, *ANTHROPIC),
            ],
        },
    ),
    "openinference-openai": Case(
        "genai",
        {
            "chat": _rows("acct_openinference", "openai", GPT, OPENAI_CHAT),
            "chat-stream": _rows("acct_openinference", "openai", GPT, OPENAI_CHAT),
        },
    ),
    "google-genai": Case(
        "genai",
        {
            "generate": _rows("acct_gemini", "gcp.gemini", GEMINI_FLASH, GEMINI),
            "generate-stream": _rows("acct_gemini", "gcp.gemini", GEMINI_FLASH, GEMINI),
        },
    ),
    # An agent with one tool: two model calls per run. On Anthropic the client's own span is a child of
    # pydantic-ai's chat span: still one row per call.
    "pydantic-ai": Case(
        "genai",
        {
            "agent-anthropic": _rows("acct_pydantic", "anthropic", CLAUDE, ANTHROPIC, 2),
            "agent-openai": _rows("acct_pydantic", "openai", GPT, OPENAI_CHAT, 2),
        },
    ),
    "langchain": Case(
        "langchain",
        {
            "chain": _rows("acct_langchain", "openai", GPT, OPENAI_CHAT),
            "chain-stream": _rows(
                "acct_langchain",
                "openai",
                GPT,
                _no_reasoning(OPENAI_CHAT, UPSTREAM_OPENLLMETRY_OPENAI_STREAM_REASONING),
            ),
        },
    ),
    "openlit": Case(
        "openlit",
        {
            "chat": _rows("acct_openlit", "openai", GPT, _no_reasoning(OPENAI_CHAT, UPSTREAM_OPENLIT_CHAT_REASONING)),
            "chat-stream": _rows(
                "acct_openlit", "openai", GPT, _no_reasoning(OPENAI_CHAT, UPSTREAM_OPENLIT_CHAT_REASONING)
            ),
        },
    ),
    # Cached and reasoning counts only in metadata.usage_object; the customer from OpenAI's `user` (llm.user).
    "litellm": Case(
        "litellm",
        {
            "completion": _rows("acct_litellm", "openai", GPT, OPENAI_CHAT),
            "completion-anthropic": _rows("acct_litellm", "anthropic", CLAUDE, ANTHROPIC),
            UPSTREAM_LITELLM_STREAM_FEATURE: _rows(
                "acct_litellm", "openai", UPSTREAM_LITELLM_STREAM_MODEL, OPENAI_CHAT
            ),
        },
    ),
}


@pytest.fixture
def tsdb_url(timescale_server: Server) -> Iterator[str]:
    url, janitor = timescale_server.new_database()
    yield url
    janitor.drop()


@pytest.fixture
def backend(tsdb_url: str, tmp_path: Path) -> Iterator[BackendThread]:
    with running_backend(tsdb_url, tmp_path) as running:
        yield running


def _run_app(scenario: str, venv: str, openai_url: str, provider_url: str, endpoint: str) -> None:
    python = ROOT / f".venv-{venv}" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"run scripts/bootstrap.sh {venv} (the {scenario} app runs in .venv-{venv})", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k not in OTEL_VARIABLES and not k.startswith("TRACELOOP_")}
    env.update(PYTHONPATH=str(ROOT), LITELLM_LOCAL_MODEL_COST_MAP="True", TRACELOOP_TRACE_CONTENT="false")
    result = subprocess.run(
        [str(python), "-m", "tests.e2e.library_app", scenario, openai_url, provider_url, endpoint, TOKEN],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]


def _stored(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT feature, customer_id, provider, coalesce(response_model, request_model), input_tokens,"
            " cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_total, status"
            " FROM usage_events ORDER BY feature, time"
        ).fetchall()


_PRICE_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "gcp.gemini": "google", "gcp.gen_ai": "google"}


def _price(provider: str, model: str, usage: tuple[int, int, int, int, int]) -> Decimal:
    input_, cache_read, cache_write, output, _reasoning = usage
    tokens = Usage(input_tokens=input_, cache_read_tokens=cache_read, cache_write_tokens=cache_write,
                   output_tokens=output)  # fmt: skip
    return Decimal(calc_price(tokens, model, provider_id=_PRICE_PROVIDER[provider]).total_price)


@pytest.mark.parametrize("scenario", list(CASES))
def test_one_row_per_call_exact_tokens_default_customer_and_price(
    scenario: str, backend: BackendThread, tsdb_url: str
) -> None:
    case = CASES[scenario]
    endpoint = f"http://127.0.0.1:{backend.http_port}"
    with OpenAIStub() as openai_stub, ProviderStub() as provider_stub:
        _run_app(scenario, case.venv, openai_stub.base_url, provider_stub.base_url, endpoint)

    stored = _stored(tsdb_url)
    by_feature: dict[str, list[Row]] = {}
    for feature, *values, _cost, _status in stored:
        by_feature.setdefault(str(feature), []).append(Row(*values))  # type: ignore[arg-type]
    assert by_feature == case.expected
    if scenario == "anthropic-openllmetry-no-parent":
        assert {len(rows) for rows in by_feature.values()} == {UPSTREAM_TWO_TRACES_PER_ANTHROPIC_CALL}
    for feature, _customer, provider, model, *counts, cost, status in stored:
        assert status == "priced", (feature, status)
        assert cost == _price(str(provider), str(model), tuple(counts)), feature  # type: ignore[arg-type]
