"""A simulation of calls none of which was priced shows their cost as unpriced (null in JSON, empty in CSV), never
0.00, in the CLI and ``GET /v1/simulate``; a partly priced group carries its unpriced count."""

from __future__ import annotations

import csv
import io
import json
import re

import httpx
import pytest

from tests.backend.cli.test_simulate import invoke
from tests.backend.simulator.calls import call
from tests.backend.simulator.test_routes import serve
from tests.support.events import run, write

ZERO = re.compile(r"(?<![\d,])0\.00(?!\d)")
"""A zero amount (``0.00``, ``$0.00``), not ``100.00``."""
RANGE = ["--from", "2026-11-01", "--to", "2026-11-30"]


def seed(url: str) -> None:
    """``mystery-co``: two chat calls of a model no price book knows."""
    run(write(url, [call((1_000, 0, 0, 200, 0), feature="chat", provider="openai", model="mystery-model",
                         customer="mystery-co") for _ in range(2)]))  # fmt: skip


@pytest.mark.store
def test_cli_table_json_and_csv_say_unpriced(db_url: str) -> None:
    seed(db_url)
    table = invoke(db_url, ["--customer", "mystery-co", "--candidates", "openai/gpt-4.1-mini", *RANGE])
    assert table.exit_code == 0, table.output
    (row,) = [line for line in table.output.splitlines() if "mystery-model" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells == ["chat", "openai/mystery-model", "2", "unpriced", "—", "—", "—", "—",
                     "(current model has no price)", "—", "—"]  # fmt: skip
    as_json = invoke(db_url, ["--customer", "mystery-co", "--candidates", "openai/gpt-4.1-mini", "--format", "json",
                              *RANGE])  # fmt: skip
    (group,) = json.loads(as_json.output)["groups"]
    assert (group["cost"], group["current_cost"], group["unpriced_events"], group["events"]) == (None, None, 2, 2)
    as_csv = invoke(db_url, ["--customer", "mystery-co", "--candidates", "openai/gpt-4.1-mini", "--format", "csv",
                             *RANGE])  # fmt: skip
    (line,) = csv.DictReader(io.StringIO(as_csv.output))
    assert (line["cost"], line["current_cost"], line["events"]) == ("", "", "2")
    for text in (table.output, as_json.output, as_csv.output):
        assert not ZERO.search(text), text


@pytest.mark.store
def test_rest_gives_null(db_url: str) -> None:
    seed(db_url)
    responses: list[httpx.Response] = []

    async def body(client: httpx.AsyncClient) -> None:
        responses.append(await client.get("/v1/simulate", params={"customer": "mystery-co", "from": "2026-11-01",
                                                                  "to": "2026-11-30"}))  # fmt: skip

    serve(db_url, body)
    (response,) = responses
    assert response.status_code == 200, response.text
    (group,) = response.json()["groups"]
    assert (group["cost"], group["current_cost"], group["unpriced_events"]) == (None, None, 2)
    assert not ZERO.search(response.text), response.text
