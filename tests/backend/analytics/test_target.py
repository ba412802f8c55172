"""Margin-target pricing: the revenue that reaches a target margin at the last full month's cost, and the price
change it implies; exact cents from ``customer_target_pricing()``, which the CLI, REST and Grafana all read.

Reference (November, target 60 %): Plexo Health's $277.20 cost needs $693.00 (277.20 / 0.4), +197.11 % against its
$233.25; Helix Robotics' $127.31 needs $318.28 (318.275 rounded up to the cent), +137.01 % against $134.29.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_margin_backend.analytics.pnl import period
from otel_margin_backend.analytics.target import TargetRow, parse_target, read_target, trailing_month
from otel_margin_backend.pipeline.errors import PermanentError
from tests.backend.analytics.test_pnl import seed_reference
from tests.backend.cli.test_main import otel_margin
from tests.dashboards.files import dashboards, panels
from tests.dashboards.macros import QueryContext, Variable, expand
from tests.support.backend import AUTH, running_backend
from tests.support.events import event, run, write
from tests.support.seed import costs, revenue
from tests.support.zones import ZONES, in_zone

NOV = period(month="2026-11")
REFERENCE = {  # customer: (required revenue, price change %) at 60 %
    "plexo-health": (Decimal("693.00"), Decimal("197.11")),
    "helix-robotics": (Decimal("318.28"), Decimal("137.01")),
    "acme": (Decimal("11087.50"), Decimal("81.39")),  # 4435.00 / 0.4 against 6112.46
    "northwind": (Decimal("8751.23"), Decimal("45.85")),  # 3500.49 / 0.4 = 8751.225, up to the cent
}


def target(url: str, pct: str, month: str = "2026-11") -> dict[str, TargetRow]:
    with psycopg.connect(url) as conn:
        return {row.customer: row for row in read_target(conn, Decimal(pct), period(month=month))}


@pytest.mark.parametrize("zone", ZONES)
def test_reference_figures_to_the_cent(zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed_reference(db_url)
    rows = target(db_url, "60")
    plexo = rows["plexo-health"]
    assert (plexo.month, plexo.revenue, plexo.cost, plexo.margin_pct, plexo.target_margin_pct) == (
        NOV.start.date(), Decimal("233.25"), Decimal("277.20"), Decimal("-18.84"), Decimal(60))  # fmt: skip
    assert {c: (r.required_revenue, r.price_change_pct) for c, r in rows.items()} == REFERENCE
    assert list(rows) == ["plexo-health", "helix-robotics", "acme", "northwind"]  # the largest rise first
    assert {r.note for r in rows.values()} == {None}
    # Another target: 0 % is break-even (revenue = cost); -20 % accepts a loss (cost / 1.2).
    assert target(db_url, "0")["plexo-health"].required_revenue == Decimal("277.20")
    assert target(db_url, "0")["acme"].price_change_pct == Decimal("-27.44")  # acme could charge less
    assert target(db_url, "-20")["plexo-health"].required_revenue == Decimal("231.00")
    assert target(db_url, "99.99")["helix-robotics"].required_revenue == Decimal("1273100.00")


def test_no_revenue_no_cost_and_unpriced_are_said_not_divided(db_url: str) -> None:
    costs(db_url, [("freebie", "chat", "9.00", datetime(2026, 11, 5, tzinfo=UTC))])
    revenue(db_url, "prepaid", "2026-11", "50.00")
    run(write(db_url, [event(7, customer="mystery-co", model="mystery", cost=None,
                             time=datetime(2026, 11, 4, tzinfo=UTC))]))  # fmt: skip
    rows = target(db_url, "60")
    assert (rows["freebie"].revenue, rows["freebie"].required_revenue, rows["freebie"].price_change_pct,
            rows["freebie"].note) == (None, Decimal("22.50"), None, "no revenue")  # fmt: skip
    assert (rows["prepaid"].required_revenue, rows["prepaid"].price_change_pct, rows["prepaid"].note) == (
        Decimal("0.00"), None, "no cost")  # fmt: skip
    assert (rows["mystery-co"].cost, rows["mystery-co"].required_revenue, rows["mystery-co"].note) == (
        None, None, "unpriced")  # fmt: skip


def test_the_sql_refuses_a_target_it_cannot_price(db_url: str) -> None:
    seed_reference(db_url)
    for pct in ("100", "-100", "250"):
        assert {(r.required_revenue, r.note) for r in target(db_url, pct).values()} == {(None, "target out of range")}


def test_the_trailing_month_is_the_last_full_utc_month() -> None:
    assert trailing_month(now=datetime(2026, 12, 7, 14, tzinfo=UTC)) == NOV
    assert trailing_month(now=datetime(2026, 12, 1, tzinfo=UTC)) == NOV
    assert trailing_month(now=datetime(2027, 1, 1, 0, 30, tzinfo=UTC)) == period(month="2026-12")
    assert trailing_month("2026-10", now=datetime(2026, 12, 7, tzinfo=UTC)) == period(month="2026-10")
    with pytest.raises(PermanentError, match="month 2026-12 is not over yet"):
        trailing_month("2026-12", now=datetime(2026, 12, 7, tzinfo=UTC))


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=12), st.decimals(allow_nan=True, allow_infinity=True).map(str)))
def test_a_target_parses_strictly_inside_the_range_or_is_refused_naming_it(text: str) -> None:
    try:
        value = parse_target(text)
    except PermanentError as exc:
        assert str(exc).startswith(f"--target-margin {text[:40]!r}: give a margin in percent above -100")
    else:
        assert Decimal(-100) < value < Decimal(100)


def test_the_cli_table_json_and_csv(db_url: str) -> None:
    seed_reference(db_url)
    env = {"OTEL_MARGIN_DATABASE_URL": db_url}
    args = ("pnl", "--target-margin", "60", "--month", "2026-11")
    table = otel_margin(*args, env=env)
    assert table.returncode == 0, table.stderr
    assert "Revenue for a 60 % margin at the cost of 2026-11" in table.stdout
    plexo = next(line for line in table.stdout.splitlines() if "plexo-health" in line)
    assert all(text in plexo for text in ("$233.25", "$277.20", "-18.84 %", "$693.00", "+197.11 %")), plexo

    body = json.loads(otel_margin(*args, "--format", "json", env=env).stdout)
    assert (body["month"], body["target_margin_pct"]) == ("2026-11", "60")
    by = {r["customer"]: r for r in body["rows"]}
    assert (by["plexo-health"]["required_revenue"], by["plexo-health"]["price_change_pct"]) == ("693.00", "197.11")
    assert by["helix-robotics"]["required_revenue"] == "318.28" and by["helix-robotics"]["note"] is None

    out = otel_margin("pnl", "--target-margin", "60%", "--month", "2026-11", "--format", "csv", env=env).stdout
    rows = {r["customer"]: r for r in csv.DictReader(io.StringIO(out))}
    assert (rows["northwind"]["required_revenue"], rows["northwind"]["price_change_pct"]) == ("8751.23", "45.85")


@pytest.mark.parametrize("value", ["100", "-100", "sixty", "nan"])
def test_a_bad_target_is_one_line_naming_the_value(value: str, db_url: str) -> None:
    result = otel_margin("pnl", "--target-margin", value, env={"OTEL_MARGIN_DATABASE_URL": db_url})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"--target-margin '{value}': give a margin in percent above -100 and below 100, e.g. 60" in result.stderr


def test_the_cli_refuses_a_range_and_a_running_month(db_url: str) -> None:
    env = {"OTEL_MARGIN_DATABASE_URL": db_url}
    ranged = otel_margin("pnl", "--target-margin", "60", "--from", "2026-11-01", "--to", "2026-11-05", env=env)
    assert ranged.returncode == 1 and "drop --from/--to and --by" in ranged.stderr
    running = otel_margin("pnl", "--target-margin", "60", "--month", f"{datetime.now(UTC):%Y-%m}", env=env)
    assert running.returncode == 1 and "is not over yet" in running.stderr


def test_rest_target_margin(db_url: str, tmp_path: Path) -> None:
    seed_reference(db_url)
    url = "/v1/pnl/target-margin"
    with running_backend(db_url, tmp_path) as backend:
        get = lambda **params: httpx.get(f"{backend.http_url}{url}", params=params, headers=AUTH)  # noqa: E731
        ok = get(target="60", month="2026-11")
        answers = {"high": get(target="100"), "low": get(target="-100.5"), "text": get(target="lots"),
                   "none": get(month="2026-11")}  # fmt: skip
        unauthenticated = httpx.get(f"{backend.http_url}{url}", params={"target": "60"})
    assert ok.status_code == 200, ok.text
    by = {r["customer"]: r for r in ok.json()["rows"]}
    assert {c: (Decimal(r["required_revenue"]), Decimal(r["price_change_pct"])) for c, r in by.items()} == REFERENCE
    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 400)
    assert answers["high"].json()["error"]["message"] == (
        "target '100': give a margin in percent above -100 and below 100, e.g. 60"
    )
    assert answers["none"].json()["error"]["message"] == "target: give the margin to reach in percent, e.g. target=60"
    assert unauthenticated.status_code == 401


GRAFANA_RANGES = {  # Grafana range -> the month whose cost is priced
    "november": (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC) - timedelta(milliseconds=1),
                 "2026-11"),
    "first days of december": (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC), "2026-11"),
    "first days of november": (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 6, tzinfo=UTC), "2026-10"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(GRAFANA_RANGES))
@pytest.mark.parametrize("zone", ZONES)
def test_the_grafana_panel_equals_the_cli(name: str, zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed_reference(db_url)
    revenue(db_url, "plexo-health", "2026-10", "100.00")
    costs(db_url, [("plexo-health", "chat", "150.00", datetime(2026, 10, 12, tzinfo=UTC))], start_n=900)
    start, end, month = GRAFANA_RANGES[name]
    (panel,) = [p for p in panels(dashboards()["otel-margin-customer-pnl"]) if p["title"] == "Price for the target "
                "margin"]  # fmt: skip
    ctx = QueryContext(start=start, end=end, variables={"target_margin": Variable("60")})
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(expand(panel["targets"][0]["rawSql"], ctx)).fetchall()
        expected = read_target(conn, Decimal(60), period(month=month))
    assert rows == [(r.customer, r.month, r.revenue, r.cost, r.margin_pct, r.target_margin_pct, r.required_revenue,
                     r.price_change_pct, r.note, r.reporting_currency) for r in expected]  # fmt: skip
    if month == "2026-11":
        assert {r[0]: (r[6], r[7]) for r in rows} == REFERENCE
    else:  # October: $150.00 / 0.4 against $100.00
        assert [(r[0], r[6], r[7]) for r in rows] == [("plexo-health", Decimal("375.00"), Decimal("275.00"))]
