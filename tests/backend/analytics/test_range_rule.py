"""The one range rule, through every surface: ``--from``/``--to`` are UTC days, both included, and a range that
reaches today stops at the end of the current UTC hour. The CLI, ``GET /v1/pnl`` and the Grafana overview's cost
stat (with the time picker set to the same days: Grafana ends a past day at 23:59:59.999 and "today so far" at
now, and costs are kept per hour) give the same figures.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

from tests.backend.cli.test_main import otel_margin
from tests.dashboards.macros import QueryContext, expand
from tests.dashboards.seed import Seeder
from tests.dashboards.test_overview_pnl import one, panel_sql
from tests.support.backend import running_backend

MS = timedelta(milliseconds=1)
ORG_COST_STAT = 2  # the overview's "AI cost" stat panel


def _costs(url: str, data_dir: Path, first: date, last: date, *, at_end: datetime) -> Decimal:
    """CLI, REST and Grafana's organization cost for ``--from first --to last`` (Grafana: ``[first, at_end]``)."""
    env = {"OTEL_MARGIN_DATABASE_URL": url}
    cli = otel_margin("pnl", "--from", f"{first}", "--to", f"{last}", "--by", "organization", "--format", "json",
                      env=env)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    cli_cost = Decimal(json.loads(cli.stdout)["rows"][0]["cost"])
    with running_backend(url, data_dir) as backend:
        rest = httpx.get(f"{backend.http_url}/v1/pnl", params={"from": f"{first}", "to": f"{last}",
                                                              "by": "organization"}).json()  # fmt: skip
    rest_cost = Decimal(rest["rows"][0]["cost"])
    start = datetime.combine(first, datetime.min.time(), UTC)
    with psycopg.connect(url) as conn:
        grafana = one(conn, expand(panel_sql("otel-margin-overview", ORG_COST_STAT), QueryContext(start, at_end)))
    assert cli_cost == rest_cost == grafana, (cli_cost, rest_cost, grafana)
    return cli_cost


def test_a_past_range_includes_its_whole_last_day(db_url: str, tmp_path: Path) -> None:
    seeder = Seeder(db_url)
    day = datetime(2026, 11, 10, tzinfo=UTC)
    seeder.costs(
        [
            ("acme", "chat", "1.00", day - MS),
            ("acme", "chat", "2.00", day),
            ("acme", "chat", "4.00", day + timedelta(days=2) - MS),
            ("acme", "chat", "8.00", day + timedelta(2)),
        ]
    )
    last = day.date() + timedelta(days=1)
    assert _costs(db_url, tmp_path, day.date(), last, at_end=day + timedelta(days=2) - MS) == Decimal("6.00")


def test_a_range_ending_today_stops_at_the_end_of_this_hour(db_url: str, tmp_path: Path) -> None:
    seeder = Seeder(db_url)
    now = seeder.now()
    today = datetime.combine(now.date(), datetime.min.time(), UTC)
    earlier_today = today + (now - today) / 2
    # A clock-skewed host's call in an hour that has not begun: still today unless this is the day's last hour.
    later_today = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1, minutes=1)
    yesterday = today - timedelta(hours=12)
    seeder.costs([("acme", "chat", "1.00", yesterday), ("acme", "chat", "2.00", earlier_today),
                  ("acme", "chat", "40.00", later_today)])  # fmt: skip
    assert _costs(db_url, tmp_path, yesterday.date(), now.date(), at_end=datetime.now(UTC)) == Decimal("3.00")
