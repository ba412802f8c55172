"""REST events without ``provider``: the provider comes from the model name through the price book, and the row
says so (``provider_source = 'model'``); ``pnl --by provider`` has no blank row and ``simulate`` names it."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.backend.cli.test_main import otel_margin
from tests.backend.cli.test_simulate import invoke
from tests.backend.receivers.test_rest_usage import event, post
from tests.support.backend import BackendThread


def stored(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT request_id, provider, provider_source, model, status FROM usage_events ORDER BY request_id"
        ).fetchall()


def test_the_provider_is_inferred_from_the_model_and_marked(backend: BackendThread, db_url: str) -> None:
    response = post(backend, [
        event("req-1", provider=None, model_name="gpt-4o"),
        event("req-2", provider=None, model_name="claude-sonnet-4-20250514"),
        event("req-3", provider="openai", model_name="gpt-4o"),
        event("req-4", provider=None, model_name="mystery-model-9"),
    ])  # fmt: skip
    assert response.json() == {"accepted": 4, "duplicates": 0, "differing": [], "rejected": []}
    assert stored(db_url) == [
        ("req-1", "openai", "model", "gpt-4o", "priced"),
        ("req-2", "anthropic", "model", "claude-sonnet-4-20250514", "priced"),
        ("req-3", "openai", None, "gpt-4o", "priced"),
        ("req-4", "", None, "mystery-model-9", "unpriced"),
    ]

    env = {"OTEL_MARGIN_DATABASE_URL": db_url}
    table = otel_margin("pnl", "--month", "2026-11", "--by", "provider", env=env)
    assert table.returncode == 0, table.stderr
    keys = [line.split("│")[1].strip() for line in table.stdout.splitlines()
            if line.startswith("│") and "Provider" not in line]  # fmt: skip
    assert sorted(keys) == ["(unknown)", "anthropic", "openai", "organization"]  # no blank row

    simulated = invoke(db_url, ["--candidates", "openai/gpt-4.1-mini", "--from", "2026-11-01", "--to", "2026-11-30"])
    assert simulated.exit_code == 0, simulated.output
    models = [line.split("│")[2].strip() for line in simulated.output.splitlines() if line.startswith("│")]
    assert sorted(models) == ["anthropic/claude-sonnet-4-20250514", "mystery-model-9", "openai/gpt-4o"]
