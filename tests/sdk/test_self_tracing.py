"""Clients that trace themselves, checked against the real package: ``anthropic`` 2.x in ``.venv-genai``.

The ``anthropic`` client emits one ``anthropic.messages.create`` span per call to the global tracer provider. So
``instrument()`` turns on no Anthropic instrumentation when it reports to that provider; it does when the client's
spans cannot reach its provider (another provider, or ``ANTHROPIC_OPEN_TELEMETRY=false``); and an instrumentation
named explicitly is turned on with a warning that each call then has two spans.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sdk.scripts import run_python
from tests.support.provider_stubs import ProviderStub

ROOT = Path(__file__).resolve().parents[2]
GENAI_PYTHON = ROOT / ".venv-genai" / "bin" / "python"
OPENLLMETRY_ANTHROPIC = "opentelemetry-instrumentation-anthropic"

SNIPPET = """
import json, logging
import anthropic
from importlib.metadata import version
from opentelemetry.sdk.trace import TracerProvider
import otel_margin
from tests.sdk.instrumentors import instrumented

messages = []
class Keep(logging.Handler):
    def emit(self, record):
        messages.append((record.levelname, record.getMessage()))
logger = logging.getLogger("otel_margin")
logger.addHandler(Keep())
logger.setLevel(logging.INFO)

exporter = otel_margin.InMemoryExporter()
provider = otel_margin.instrument(
    exporter=exporter, instrumentations={instrumentations!r}, tracer_provider={tracer_provider}
)
client = anthropic.Anthropic(base_url={base_url!r}, api_key="sk-ant-test")
client.messages.create(model="claude-sonnet-4-5", max_tokens=200, messages=[{{"role": "user", "content": "hi"}}])
provider.force_flush()
print(json.dumps({{
    "version": version("anthropic"),
    "on": [name for name in ("opentelemetry-instrumentation-genai-anthropic", {openllmetry!r}) if instrumented(name)],
    "spans": sorted(span.name for span in exporter.get_finished_spans()),
    "logs": [m for m in messages if "anthropic" in m[1]],
}}))
"""


@pytest.fixture
def stub() -> Iterator[ProviderStub]:
    with ProviderStub() as server:
        yield server


def _run(stub: ProviderStub, instrumentations: object = "auto", tracer_provider: str = "None", **env: str) -> dict:
    if not GENAI_PYTHON.exists():
        pytest.fail("run scripts/bootstrap.sh genai (the anthropic client lives in .venv-genai)", pytrace=False)
    code = SNIPPET.format(
        instrumentations=instrumentations,
        tracer_provider=tracer_provider,
        base_url=stub.base_url,
        openllmetry=OPENLLMETRY_ANTHROPIC,
    )
    result: dict = json.loads(run_python(code, python=str(GENAI_PYTHON), PYTHONPATH=str(ROOT), **env))
    return result


def test_auto_turns_no_instrumentation_on_for_the_anthropic_client_that_traces_itself(stub: ProviderStub) -> None:
    out = _run(stub)
    assert out["version"] == "2.17.0"
    assert out["on"] == []
    assert out["spans"] == ["anthropic.messages.create"]
    assert out["logs"] == [["INFO", "anthropic 2.17.0 traces itself; no instrumentation turned on for it"]]


def test_a_named_anthropic_instrumentation_is_turned_on_with_a_warning_about_two_spans(stub: ProviderStub) -> None:
    out = _run(stub, [OPENLLMETRY_ANTHROPIC])
    assert out["on"] == [OPENLLMETRY_ANTHROPIC]
    assert out["spans"] == ["anthropic.chat", "anthropic.messages.create"]
    assert out["logs"] == [
        [
            "WARNING",
            f"anthropic 2.17.0 traces itself and {OPENLLMETRY_ANTHROPIC} reports the same calls: two spans per call, "
            "booked once when both are in one trace (inside an enclosing span; without one they start two traces "
            "and are booked twice); set ANTHROPIC_OPEN_TELEMETRY=false to keep only the instrumentation's",
        ],
        ["INFO", f"instrumented anthropic with {OPENLLMETRY_ANTHROPIC}"],
    ]


@pytest.mark.parametrize(
    ("tracer_provider", "env"),
    [
        ("None", {"ANTHROPIC_OPEN_TELEMETRY": "false"}),  # the client's own spans are off
        ("TracerProvider()", {}),  # they go to the global provider, not to this one
    ],
)
def test_auto_instruments_anthropic_when_its_own_spans_cannot_reach_the_provider(
    stub: ProviderStub, tracer_provider: str, env: dict[str, str]
) -> None:
    out = _run(stub, tracer_provider=tracer_provider, **env)
    assert out["on"] == [OPENLLMETRY_ANTHROPIC]
    assert out["spans"] == ["anthropic.chat"]
    assert out["logs"] == [["INFO", f"instrumented anthropic with {OPENLLMETRY_ANTHROPIC}"]]
