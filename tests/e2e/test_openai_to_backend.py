"""End to end: the real ``openai`` client, a real GenAI instrumentation and the otel_margin SDK export over OTLP
(gRPC or HTTP) to the real backend; the stored rows hold the exact token counts, customer and feature.

The OpenAI API is a local stub that answers like it (usage with cached and reasoning tokens): chat 1200 input
(1024 cached) / 300 output (128 reasoning); Responses 900 (512 cached) / 210 (64 reasoning); embeddings 8.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from otel_margin_backend.demo.openai_stub import OpenAIStub
from tests.sdk.instrumentors import LEGACY_V2, OPENLLMETRY, SUCCESSOR
from tests.sdk.scripts import OTEL_VARIABLES
from tests.support.backend import TOKEN, BackendThread, running_backend
from tests.support.stores import Server

ROOT = Path(__file__).resolve().parents[2]
SUCCESSOR_PYTHON = ROOT / ".venv-genai-openai" / "bin" / "python"

CHAT = (1200, 1024, 300, 128)
CHAT_NO_REASONING = (1200, 1024, 300, 0)
RESPONSES = (900, 512, 210, 64)
EMBEDDINGS = (8, 0, 0, 0)
# feature -> (model stored, input, cache read, output, reasoning), per instrumentation
EXPECTED = {
    OPENLLMETRY: {
        "chat": ("gpt-4o-mini-2024-07-18", *CHAT),
        "chat-stream": ("gpt-4o-mini-2024-07-18", *CHAT_NO_REASONING),  # OpenLLMetry drops it when streaming
        "chat-async": ("gpt-4o-mini-2024-07-18", *CHAT),
        "embeddings": ("text-embedding-3-small", *EMBEDDINGS),
        "responses": ("o4-mini-2025-04-16", *RESPONSES),
        "responses-stream": ("o4-mini-2025-04-16", *RESPONSES),
    },
    LEGACY_V2: {  # reports no cache or reasoning counts, and no Responses API spans (see docs/instrument.md)
        "chat": ("gpt-4o-mini-2024-07-18", 1200, 0, 300, 0),
        "chat-stream": ("gpt-4o-mini-2024-07-18", 1200, 0, 300, 0),
        "chat-async": ("gpt-4o-mini-2024-07-18", 1200, 0, 300, 0),
        "embeddings": ("text-embedding-3-small", *EMBEDDINGS),
    },
    SUCCESSOR: {
        "chat": ("gpt-4o-mini-2024-07-18", *CHAT),
        "chat-stream": ("gpt-4o-mini-2024-07-18", *CHAT),
        "chat-async": ("gpt-4o-mini-2024-07-18", *CHAT),
        "embeddings": ("text-embedding-3-small", *EMBEDDINGS),
        "responses": ("o4-mini-2025-04-16", *RESPONSES),
        "responses-stream": ("o4-mini-2025-04-16", *RESPONSES),
    },
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


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


@pytest.mark.parametrize(
    ("distribution", "protocol", "opt_in"),
    [
        (OPENLLMETRY, "grpc", False),
        (OPENLLMETRY, "http/protobuf", False),
        (LEGACY_V2, "http/protobuf", False),
        (LEGACY_V2, "grpc", True),  # contrib openai-v2 with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental
        (SUCCESSOR, "grpc", False),
    ],
)
def test_spans_reach_the_backend_with_exact_tokens_customer_and_feature(
    distribution: str, protocol: str, opt_in: bool, backend: BackendThread, stub: OpenAIStub, tsdb_url: str
) -> None:
    python = str(SUCCESSOR_PYTHON) if distribution == SUCCESSOR else sys.executable
    if distribution == SUCCESSOR and not SUCCESSOR_PYTHON.exists():
        pytest.fail("run scripts/bootstrap.sh genai-openai (the successor needs its own venv)", pytrace=False)
    endpoint = f"http://127.0.0.1:{backend.grpc_port if protocol == 'grpc' else backend.http_port}"
    env = {k: v for k, v in os.environ.items() if k not in OTEL_VARIABLES}
    env["PYTHONPATH"] = str(ROOT)
    if opt_in:
        env["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    result = subprocess.run(
        [python, "-W", "error", "-m", "tests.e2e.instrumented_app", distribution, stub.base_url, endpoint, TOKEN,
         protocol],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    with psycopg.connect(tsdb_url) as conn:
        rows = conn.execute(
            "SELECT feature, customer_id, model, input_tokens, cache_read_tokens, output_tokens, reasoning_tokens,"
            " service, status FROM usage_events ORDER BY feature"
        ).fetchall()
    assert {r[0]: r[2:7] for r in rows} == EXPECTED[distribution]
    assert {(r[1], r[7]) for r in rows} == {("acct_42", "e2e-app")}
    assert all(status == "priced" for *_, status in rows), rows
