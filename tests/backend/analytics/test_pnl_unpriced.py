"""Unpriced is visible: a cost made only of unpriced calls is null (JSON, REST), empty (CSV), ``unpriced`` (tables),
never 0.00; a partly priced cost carries its unpriced count."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

from otel_margin_backend.analytics.pnl import period, read_pnl
from tests.backend.cli.test_main import otel_margin
from tests.support.backend import AUTH, running_backend
from tests.support.events import event, run, write
from tests.support.seed import revenue

NOV_4 = datetime(2026, 11, 4, 5, tzinfo=UTC)
ZERO = re.compile(r"(?<![\d,])0\.00(?!\d)")
"""A zero amount (``0.00``, ``$0.00``), not ``100.00 %``."""


def seed(url: str) -> None:
    """``mystery-co``: two calls of an unknown model, nothing priced, no revenue; ``acme``: $4 priced, one unpriced."""
    revenue(url, "acme", "2026-11", "300.00")
    run(write(url, [
        event(1, customer="mystery-co", model="mystery-model", cost=None, time=NOV_4),
        event(2, customer="mystery-co", model="mystery-model", cost=None, time=NOV_4),
        event(3, customer="acme", model="gpt-4o", cost="4.00", time=NOV_4),
        event(4, customer="acme", model="mystery-model", cost=None, time=NOV_4),
    ]))  # fmt: skip


def only_unpriced(url: str) -> None:
    run(write(url, [event(n, customer="mystery-co", model="mystery-model", cost=None, time=NOV_4) for n in (1, 2)]))


def test_sql_gives_null_cost_and_margin(db_url: str) -> None:
    seed(db_url)
    with psycopg.connect(db_url) as conn:
        rows = {r.key: r for r in read_pnl(conn, period(month="2026-11"), "customer")}
        (feature,) = read_pnl(conn, period(month="2026-11"), "feature")
        by_model = {r.key: r for r in read_pnl(conn, period(month="2026-11"), "model")}
    mystery, acme = rows["mystery-co"], rows["acme"]
    assert (mystery.cost, mystery.margin, mystery.margin_pct, mystery.unprofitable) == (None, None, None, False)
    assert (mystery.calls, mystery.unpriced_calls) == (2, 2)
    assert (acme.cost, acme.margin, acme.unpriced_calls) == (Decimal("4.00"), Decimal("296.00"), 1)
    assert (feature.cost, feature.unpriced_calls) == (Decimal("4.00"), 3)
    assert (by_model["mystery-model"].cost, by_model["mystery-model"].cost_share_pct) == (None, None)
    assert by_model["gpt-4o"].cost_share_pct == Decimal("100.00")


def test_cli_table_json_and_csv(db_url: str) -> None:
    seed(db_url)
    env = {"OTEL_MARGIN_DATABASE_URL": db_url}
    table = otel_margin("pnl", "--month", "2026-11", env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    mystery = next(line for line in lines if "mystery-co" in line)
    acme = next(line for line in lines if "acme" in line)
    cells = [cell.strip() for cell in mystery.split("│")[1:-1]]
    assert cells == ["mystery-co", "—", "unpriced", "—", "—", "2", "2,000 / 400"]
    assert [cell.strip() for cell in acme.split("│")[1:-1]] == [
        "acme", "$300.00", "$4.00 +1 unpriced", "$296.00", "98.67 %", "2", "2,000 / 400"
    ]  # fmt: skip
    assert not ZERO.search(mystery)

    as_json = json.loads(otel_margin("pnl", "--month", "2026-11", "--format", "json", env=env).stdout)
    row = next(r for r in as_json["rows"] if r["key"] == "mystery-co")
    assert (row["cost"], row["margin"], row["margin_pct"], row["unpriced_calls"]) == (None, None, None, 2)

    rows = list(csv.DictReader(io.StringIO(otel_margin("pnl", "--month", "2026-11", "--format", "csv",
                                                       env=env).stdout)))  # fmt: skip
    mystery_csv = next(r for r in rows if r["key"] == "mystery-co")
    assert (mystery_csv["cost"], mystery_csv["margin"], mystery_csv["unpriced_calls"]) == ("", "", "2")


def test_a_customer_with_only_unpriced_calls_shows_no_zero_anywhere(db_url: str, tmp_path: Path) -> None:
    only_unpriced(db_url)
    env = {"OTEL_MARGIN_DATABASE_URL": db_url}
    outputs = [otel_margin("pnl", "--month", "2026-11", *extra, env=env).stdout
               for extra in ([], ["--format", "json"], ["--format", "csv"], ["--by", "organization"])]  # fmt: skip
    with running_backend(db_url, tmp_path) as backend:
        body = httpx.get(f"{backend.http_url}/v1/pnl", params={"month": "2026-11"}, headers=AUTH).json()
    for text in [*outputs, json.dumps(body)]:
        assert "mystery-co" in text or "organization" in text
        assert not ZERO.search(text), text
    (row,) = body["rows"]
    assert (row["key"], row["cost"], row["margin"], row["unpriced_calls"]) == ("mystery-co", None, None, 2)
    assert body["data_quality"]["unpriced_calls"] == 2
