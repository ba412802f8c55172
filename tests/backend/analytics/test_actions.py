"""Customer actions: the reference figures get their action, and two negative months in a row are flagged.

The CLI, REST and the SQL function agree, since the first two only read ``customer_actions()``.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from otel_margin_backend.analytics.actions import ActionRow, read_actions
from otel_margin_backend.analytics.config import DEFAULT_MONITOR_BELOW_PERCENT
from otel_margin_backend.analytics.pnl import period
from tests.backend.analytics.test_pnl import seed_reference
from tests.backend.cli.test_main import otel_margin
from tests.support.backend import AUTH, running_backend
from tests.support.events import event, run, write
from tests.support.seed import costs, revenue
from tests.support.zones import ZONES, in_zone

NOV = period(month="2026-11")
OCT_T = datetime(2026, 10, 12, 8, tzinfo=UTC)


def actions(url: str, floor: Decimal = DEFAULT_MONITOR_BELOW_PERCENT) -> dict[str, ActionRow]:
    with psycopg.connect(url) as conn:
        return {row.customer: row for row in read_actions(conn, NOV, floor)}


def seed_october(url: str) -> None:
    """Plexo Health loses money in October too; Helix Robotics made a profit then."""
    revenue(url, "plexo-health", "2026-10", "100.00")
    revenue(url, "helix-robotics", "2026-10", "100.00")
    costs(url, [("plexo-health", "chat", "150.00", OCT_T), ("helix-robotics", "chat", "20.00", OCT_T)], start_n=50)


@pytest.mark.parametrize("zone", ZONES)
def test_reference_figures_get_their_action(zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed_reference(db_url)
    rows = actions(db_url)
    plexo, helix = rows["plexo-health"], rows["helix-robotics"]
    assert (plexo.revenue, plexo.cost, plexo.margin, plexo.margin_pct, plexo.action) == (
        Decimal("233.25"), Decimal("277.20"), Decimal("-43.95"), Decimal("-18.84"), "reprice or throttle")  # fmt: skip
    assert (helix.revenue, helix.cost, helix.margin_pct, helix.action) == (
        Decimal("134.29"), Decimal("127.31"), Decimal("5.20"), "monitor")  # fmt: skip
    assert {c: r.action for c, r in rows.items() if c not in ("plexo-health", "helix-robotics")} == {
        "northwind": "ok", "acme": "ok"}  # fmt: skip  # 41.66 % and 27.44 %
    assert not plexo.negative_two_months and plexo.previous_margin is None  # no October yet
    assert list(rows) == ["plexo-health", "helix-robotics", "acme", "northwind"]  # the most urgent first


def test_the_floor_is_configurable(db_url: str) -> None:
    seed_reference(db_url)
    assert actions(db_url, Decimal(5))["helix-robotics"].action == "ok"
    assert actions(db_url, Decimal(30))["acme"].action == "monitor"  # 27.44 %


@pytest.mark.parametrize("zone", ZONES)
def test_two_negative_months_in_a_row_are_flagged(zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed_reference(db_url)
    seed_october(db_url)
    rows = actions(db_url)
    assert rows["plexo-health"].negative_two_months and rows["plexo-health"].previous_margin == Decimal("-50.00")
    assert not rows["helix-robotics"].negative_two_months  # thin in November, profitable in October
    assert {c for c, r in rows.items() if r.negative_two_months} == {"plexo-health"}


def test_unknown_cost_and_missing_revenue_are_their_own_actions(db_url: str) -> None:
    revenue(db_url, "mystery-co", "2026-11", "50.00")
    run(
        write(
            db_url,
            [event(1, customer="mystery-co", model="mystery", cost=None, time=datetime(2026, 11, 4, tzinfo=UTC))],
        )
    )
    costs(db_url, [("freebie", "chat", "9.00", datetime(2026, 11, 5, tzinfo=UTC))], start_n=2)
    rows = actions(db_url)
    assert (rows["mystery-co"].cost, rows["mystery-co"].action, rows["mystery-co"].unpriced_calls) == (
        None, "unpriced", 1)  # fmt: skip
    assert (rows["freebie"].revenue, rows["freebie"].action) == (None, "no revenue")


def test_the_cli_table_json_and_csv(db_url: str) -> None:
    seed_reference(db_url)
    seed_october(db_url)
    env = {"OTEL_MARGIN_DATABASE_URL": db_url}
    table = otel_margin("customers", "actions", "--month", "2026-11", env=env)
    assert table.returncode == 0, table.stderr
    plexo = next(line for line in table.stdout.splitlines() if "plexo-health" in line)
    assert "$233.25" in plexo and "$277.20" in plexo and "-18.84 %" in plexo and "reprice or throttle" in plexo
    assert plexo.split("│")[-2].strip() == "yes"  # negative in October too
    helix = next(line for line in table.stdout.splitlines() if "helix-robotics" in line)
    assert "$134.29" in helix and "$127.31" in helix and "5.20 %" in helix and "monitor" in helix

    body = json.loads(otel_margin("customers", "actions", "--month", "2026-11", "--format", "json", env=env).stdout)
    assert body["month"] == "2026-11" and body["monitor_below_percent"] == "10"
    by = {r["customer"]: r for r in body["rows"]}
    assert (by["plexo-health"]["margin_pct"], by["plexo-health"]["action"]) == ("-18.84", "reprice or throttle")
    assert by["plexo-health"]["negative_two_months"] is True and by["plexo-health"]["month"] == "2026-11"

    out = otel_margin("customers", "actions", "--month", "2026-11", "--format", "csv", env=env).stdout
    rows = {r["customer"]: r for r in csv.DictReader(io.StringIO(out))}
    assert (rows["helix-robotics"]["margin_pct"], rows["helix-robotics"]["action"]) == ("5.20", "monitor")
    assert rows["helix-robotics"]["negative_two_months"] == "false"

    thin = otel_margin("customers", "actions", "--month", "2026-11", "--format", "json",
                       env={**env, "OTEL_MARGIN_ACTIONS_MONITOR_BELOW_PERCENT": "5"})  # fmt: skip
    assert {r["customer"]: r["action"] for r in json.loads(thin.stdout)["rows"]}["helix-robotics"] == "ok"


def test_bad_cli_input_is_one_line(db_url: str) -> None:
    env = {"OTEL_MARGIN_DATABASE_URL": db_url}
    bad_month = otel_margin("customers", "actions", "--month", "November", env=env)
    assert bad_month.returncode == 1 and "Traceback" not in bad_month.stderr
    assert "error: 'November' is not a month; use YYYY-MM" in bad_month.stderr
    bad_floor = otel_margin("customers", "actions", env={**env, "OTEL_MARGIN_ACTIONS_MONITOR_BELOW_PERCENT": "-1"})
    assert bad_floor.returncode != 0 and "OTEL_MARGIN_ACTIONS_MONITOR_BELOW_PERCENT" in bad_floor.stderr


def test_rest_actions(db_url: str, tmp_path: Path) -> None:
    seed_reference(db_url)
    seed_october(db_url)
    with running_backend(db_url, tmp_path) as backend:
        body = httpx.get(f"{backend.http_url}/v1/customers/actions", params={"month": "2026-11"}, headers=AUTH)
        bad = httpx.get(f"{backend.http_url}/v1/customers/actions", params={"month": "2026-13"}, headers=AUTH)
    assert body.status_code == 200
    by = {r["customer"]: r for r in body.json()["rows"]}
    assert (by["plexo-health"]["revenue"], by["plexo-health"]["cost"], by["plexo-health"]["margin_pct"]) == (
        "233.25", "277.20", "-18.84")  # fmt: skip
    assert by["plexo-health"]["action"] == "reprice or throttle" and by["plexo-health"]["negative_two_months"]
    assert (by["helix-robotics"]["margin_pct"], by["helix-robotics"]["action"]) == ("5.20", "monitor")
    assert bad.status_code == 400
    assert bad.json() == {
        "error": {"code": "INVALID_ARGUMENT", "message": "'2026-13' is not a month; use YYYY-MM, e.g. 2026-11"}
    }
