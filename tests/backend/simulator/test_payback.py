"""Payback of a swap: one SQL definition (``swap_payback()``, migration 0076) behind the CLI, REST and Grafana.

The reference: a suggestion saving $240.00 a month, 16 engineering hours at $150/h, pays back in 10.0 months.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.simulator import SimulatorConfig, create
from otel_margin_backend.simulator.config import MAX_ENGINEERING_HOURS
from otel_margin_backend.simulator.params import build_request, parse_amount
from otel_margin_backend.simulator.render import to_csv
from otel_margin_backend.simulator.results import save_run
from otel_margin_backend.simulator.routes import routes
from tests.backend.cli.test_simulate import invoke
from tests.backend.simulator.calls import AT, BOOK, call
from tests.dashboards.files import dashboards, panels
from tests.support.events import run, write
from tests.support.stores import READER_ROLE

MINI = "openai/gpt-4.1-mini"
SIMULATOR = create(SimulatorConfig(candidates=(MINI,)), BOOK)
"""The documented defaults: 16 engineering hours at $150/h."""
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
"""November: a 30-day range, so its savings are its monthly savings."""
QUERY = {"feature": "digest", "from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "candidates": MINI}


def seed(url: str) -> None:
    """100 calls on gpt-4.1 ($2 / $8 per Mtok) of 1M input and 125k output tokens: $3.00 each, $0.60 on
    gpt-4.1-mini ($0.4 / $1.6): $240.00 saved over November."""
    run(write(url, [call((1_000_000, 0, 0, 125_000, 0), feature="digest", provider="openai", model="gpt-4.1")
                    for _ in range(100)]))  # fmt: skip


def payback(url: str, savings: str | None, days: float, hours: str, rate: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT * FROM swap_payback(%s, %s, %s, %s, %s)",
            (None if savings is None else Decimal(savings), START, START + timedelta(days=days), Decimal(hours),
             Decimal(rate)),
        ).fetchone()  # fmt: skip
    assert row is not None
    return tuple(row)


@pytest.mark.store
def test_the_sql_definition(db_url: str) -> None:
    assert payback(db_url, "240.00", 30, "16", "150") == (Decimal(2400), Decimal("240.00"), Decimal("10.0"))
    # A 15-day range saving $120.00 saves $240.00 a month; 7 days saving $10.00: $42.857... -> $42.86.
    assert payback(db_url, "120.00", 15, "16", "150") == (Decimal(2400), Decimal("240.00"), Decimal("10.0"))
    assert payback(db_url, "10", 7, "8", "120") == (Decimal(960), Decimal("42.86"), Decimal("22.4"))
    # No saving, a loss, a saving under half a cent a month, no price: no payback.
    assert payback(db_url, "0", 30, "16", "150") == (Decimal(2400), Decimal("0.00"), None)
    assert payback(db_url, "-8.965", 30, "16", "150") == (Decimal(2400), Decimal("-8.97"), None)
    assert payback(db_url, "0.004", 30, "16", "150") == (Decimal(2400), Decimal("0.00"), None)
    assert payback(db_url, None, 30, "16", "150") == (Decimal(2400), None, None)
    # Free engineering pays back at once.
    assert payback(db_url, "240", 30, "0", "150") == (Decimal(0), Decimal("240.00"), Decimal("0.0"))


def _served(url: str, params: dict[str, str]) -> httpx.Response:
    answers: list[httpx.Response] = []

    async def main() -> None:
        pool = AsyncConnectionPool(url, min_size=0, max_size=2, open=False, kwargs={"autocommit": True})
        async with pool as opened:
            app = Starlette(routes=routes(opened, SIMULATOR))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                answers.append(await client.get("/v1/simulate", params=params))

    asyncio.run(main())
    return answers[0]


def _figures(group: dict[str, Any]) -> tuple[Any, ...]:
    return group["suggested"], group["savings"], group["monthly_savings"], group["migration_cost"], \
        group["payback_months"]  # fmt: skip


@pytest.mark.store
def test_cli_rest_and_grafana_show_payback_10_months(db_url: str) -> None:
    seed(db_url)
    expected = (MINI, "240", "240.00", "2400", "10.0")  # savings exact, monthly to the cent

    cli = invoke(db_url, ["--feature", "digest", "--candidates", MINI, "--from", QUERY["from"], "--to", QUERY["to"],
                          "--engineering-hours", "16", "--hourly-rate", "150", "--format", "json"])  # fmt: skip
    assert cli.exit_code == 0, cli.output
    (cli_group,) = json.loads(cli.stdout)["groups"]
    assert _figures(cli_group) == expected

    rest = _served(db_url, QUERY)
    assert rest.status_code == 200, rest.text
    body = rest.json()
    assert (body["engineering_hours"], body["hourly_rate"]) == ("16", "150")
    (rest_group,) = body["groups"]
    assert _figures(rest_group) == expected
    assert rest_group["candidates"][0]["payback_months"] == "10.0"

    # Grafana: the scheduler's run at the default settings, read by the dashboard's own SQL as the reader role.
    with psycopg.connect(db_url, autocommit=True) as conn:
        simulation = SIMULATOR.simulate(conn, build_request(feature="digest", start=QUERY["from"], end=QUERY["to"]),
                                        at=AT)  # fmt: skip
        save_run(conn, simulation, keep_runs=5)
        (panel,) = [p for p in panels(dashboards()["otel-margin-simulator"]) if p["title"].startswith("Payback")]
        conn.execute(f"SET ROLE {READER_ROLE}")
        with conn.cursor() as cur:
            cur.execute(panel["targets"][0]["rawSql"])
            columns = [c.name for c in cur.description or []]
            (row,) = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
    assert (row["candidate"], row["savings"], row["monthly_savings"], row["migration_cost"],
            row["payback_months"]) == (MINI, Decimal("240.00"), Decimal("240.00"), Decimal(2400),
                                       Decimal("10.0"))  # fmt: skip
    assert (row["engineering_hours"], row["hourly_rate"]) == (Decimal(16), Decimal(150))


@pytest.mark.store
def test_the_cli_table_and_csv_show_it_and_options_override_the_settings(db_url: str) -> None:
    seed(db_url)
    common = ["--feature", "digest", "--candidates", MINI, "--from", QUERY["from"], "--to", QUERY["to"]]

    table = invoke(db_url, [*common, "--engineering-hours", "40", "--hourly-rate", "90"])
    assert table.exit_code == 0, table.output
    assert "15.0 mo" in table.stdout  # 40 h x $90 = $3,600.00 over $240.00 a month
    assert "40 engineering hours at $90.00/h = $3,600.00" in " ".join(table.stdout.split())

    with psycopg.connect(db_url) as conn:
        simulation = SIMULATOR.simulate(conn, build_request(feature="digest", start=QUERY["from"], end=QUERY["to"]))
    header, row = to_csv(simulation).splitlines()
    assert header.endswith(",migration_cost,monthly_savings,payback_months")
    assert row.endswith(",2400,240.00,10.0")

    loss = invoke(db_url, [*common, "--format", "json", "--candidates", "openai/gpt-5.4"])
    (group,) = json.loads(loss.stdout)["groups"]
    (candidate,) = group["candidates"]
    # gpt-5.4 costs more ($781.25 against $300.00, long-context rates above 272k input): a loss never pays back.
    assert (group["suggested"], candidate["monthly_savings"], candidate["payback_months"]) == (None, "-481.25", None)
    assert "keep current" in invoke(db_url, [*common, "--candidates", "openai/gpt-5.4"]).stdout


@pytest.mark.store
def test_bad_hours_and_rates_are_named(db_url: str) -> None:
    cli = invoke(db_url, ["--engineering-hours", "two days"])
    assert cli.exit_code == 1
    assert "engineering_hours: 'two days' is not a number from 0 to 100000" in cli.output
    answers = {name: _served(db_url, {name: value}) for name, value in (("hourly_rate", "-150"),
                                                                         ("engineering_hours", "nan"))}  # fmt: skip
    assert {k: r.status_code for k, r in answers.items()} == {"hourly_rate": 400, "engineering_hours": 400}
    assert answers["hourly_rate"].json()["error"]["message"] == "hourly_rate: '-150' is not a number from 0 to 100000"
    assert answers["engineering_hours"].json()["error"]["message"] == (
        "engineering_hours: 'nan' is not a number from 0 to 100000"
    )


@settings(max_examples=80, deadline=None)
@given(st.one_of(st.text(max_size=12), st.decimals(allow_nan=True, allow_infinity=True).map(str)))
def test_an_amount_parses_within_its_bounds_or_is_refused_by_name(text: str) -> None:
    try:
        value = parse_amount(text, name="engineering_hours", most=MAX_ENGINEERING_HOURS)
    except PermanentError as exc:
        assert str(exc).startswith("engineering_hours: ")
    else:
        assert value is None or 0 <= value <= MAX_ENGINEERING_HOURS
