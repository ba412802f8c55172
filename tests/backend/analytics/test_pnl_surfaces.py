"""The P&L as users see it: ``otel-margin pnl`` and ``GET /v1/pnl`` read the same SQL as Grafana."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest

from tests.backend.analytics.test_pnl import seed_reference
from tests.backend.cli.test_main import otel_margin
from tests.support.backend import AUTH, running_backend
from tests.support.zones import ZONES, in_zone


@pytest.mark.parametrize("zone", ZONES)
def test_the_cli_table_json_and_csv(zone: str, db_url: str) -> None:
    in_zone(db_url, zone)
    seed_reference(db_url)
    env = {"OTEL_MARGIN_DATABASE_URL": db_url}
    table = otel_margin("pnl", "--month", "2026-11", env=env)
    assert table.returncode == 0, table.stderr
    plexo = next(line for line in table.stdout.splitlines() if "plexo-health" in line)
    assert "$233.25" in plexo and "$277.20" in plexo and "-$43.95" in plexo and "-18.84 %" in plexo
    org = next(line for line in table.stdout.splitlines() if "organization" in line)
    assert "$12,480.00" in org and "$8,340.00" in org and "$4,140.00" in org and "33.17 %" in org

    as_json = json.loads(otel_margin("pnl", "--month", "2026-11", "--format", "json", env=env).stdout)
    helix = next(r for r in as_json["rows"] if r["key"] == "helix-robotics")
    assert (helix["revenue"], helix["cost"], helix["margin_pct"]) == ("134.29", "127.31", "5.20")
    assert as_json["organization"][0]["margin"] == "4140.00"

    rows = list(
        csv.DictReader(io.StringIO(otel_margin("pnl", "--month", "2026-11", "--format", "csv", env=env).stdout))
    )
    assert {r["key"]: r["margin"] for r in rows}["plexo-health"] == "-43.95"
    assert {r["key"]: r["unprofitable"] for r in rows}["plexo-health"] == "true"  # not Python's True
    assert {r["key"]: r["unprofitable"] for r in rows}["helix-robotics"] == "false"

    by_feature = otel_margin("pnl", "--month", "2026-11", "--by", "feature", env=env)
    assert "100.00 %" in by_feature.stdout


def test_bad_cli_input_is_one_line(db_url: str) -> None:
    env = {"OTEL_MARGIN_DATABASE_URL": db_url}
    bad_month = otel_margin("pnl", "--month", "November", env=env)
    assert bad_month.returncode == 1 and "Traceback" not in bad_month.stderr
    assert "error: 'November' is not a month; use YYYY-MM" in bad_month.stderr
    bad_by = otel_margin("pnl", "--by", "planet", env=env)
    assert bad_by.returncode == 2 and "Traceback" not in bad_by.stderr


@pytest.mark.parametrize("zone", ZONES)
def test_rest_pnl(zone: str, db_url: str, tmp_path: Path) -> None:
    in_zone(db_url, zone)
    seed_reference(db_url)
    with running_backend(db_url, tmp_path) as backend:
        body = httpx.get(f"{backend.http_url}/v1/pnl", params={"month": "2026-11"}, headers=AUTH).json()
        org = httpx.get(
            f"{backend.http_url}/v1/pnl", params={"month": "2026-11", "by": "organization"}, headers=AUTH
        ).json()
        bad = httpx.get(f"{backend.http_url}/v1/pnl", params={"from": "2026-11-05"}, headers=AUTH)
    plexo = next(r for r in body["rows"] if r["key"] == "plexo-health")
    assert (plexo["margin"], plexo["margin_pct"], plexo["unprofitable"]) == ("-43.95", "-18.84", True)
    assert org["rows"][0]["revenue"] == "12480.00" and body["period"]["label"] == "2026-11"
    assert bad.status_code == 400
    assert bad.json() == {
        "error": {"code": "INVALID_ARGUMENT", "message": "give both --from and --to (dates like 2026-11-01)"}
    }
