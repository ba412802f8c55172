"""``otel-margin replay``: recorded events priced by the pipeline and by the simulator, side by side."""

from __future__ import annotations

import json
from pathlib import Path

from tests.backend.cli.test_main import otel_margin

SAMPLES = [
    {"customer_id": "acct_1", "model_name": "gpt-4o", "prompt_tokens": 12000, "completion_tokens": 800,
     "cached_tokens": 8000, "request_id": "s-1", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai"},
    # o3 before its 2025-06-10 price cut: $10 / $40 per million -> 0.05 + 0.16
    {"customer_id": "acct_2", "model_name": "o3", "prompt_tokens": 5000, "completion_tokens": 4000,
     "reasoning_tokens": 3000, "request_id": "s-2", "timestamp": "2025-06-01T11:00:00Z", "provider": "openai"},
    {"customer_id": "acct_3", "model_name": "my-private-llm", "prompt_tokens": 10, "completion_tokens": 10,
     "request_id": "s-3", "timestamp": "2026-11-20T11:00:00Z"},
]  # fmt: skip


def test_replay_prints_both_costs_and_they_agree(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join(json.dumps(s) for s in SAMPLES) + "\n")
    result = otel_margin("replay", str(samples), env={"OTEL_MARGIN_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("│ s-")}
    assert lines["s-2"].count("$0.21") == 2 and "priced" in lines["s-2"] and "✓" in lines["s-2"]
    # gpt-4o: 4000 uncached x 2.50 + 8000 cached x 1.25 + 800 x 10.00, per million = 0.028
    assert lines["s-1"].count("$0.028") == 2
    assert "unpriced" in lines["s-3"] and lines["s-3"].count("—") == 2
    assert "3 events, total $0.24; pipeline and simulator agree on every event." in result.stdout


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps(SAMPLES[0]) + "\n" + json.dumps({**SAMPLES[1], "prompt_tokens": -1}) + "\n")
    result = otel_margin("replay", str(samples))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: {samples}:2: prompt_tokens: Input should be greater than or equal to 0" in result.stderr
