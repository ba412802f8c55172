"""``otel-margin budgets`` through typer's CliRunner, against real TimescaleDB and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from otel_margin_backend.budgets.definition import BudgetConfig, LimitConfig
from otel_margin_backend.budgets.store import put_budget
from otel_margin_backend.cli.budgets import budgets_app
from tests.backend.budgets.helpers import IMAGE_BUDGET, call, connect, spend
from tests.support.events import run
from tests.support.stores import Server

BAD = """\
version: 1
budgets:
  - name: image-generation
    period: month
    limt:
      amount: 600
"""


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The CLI points the root logger at the runner's stderr, closed afterwards; later tests must not log there."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def invoke(url: str, *args: str) -> Result:
    # Mounted as the main command will mount it.
    root = typer.Typer()
    root.add_typer(budgets_app, name="budgets")
    env = {"OTEL_MARGIN_DATABASE_URL": url, "OTEL_MARGIN_LOG_FORMAT": "console", "COLUMNS": "200"}
    return CliRunner().invoke(root, ["budgets", *args], env=env)


@pytest.fixture
def budgets_file(tmp_path: Path) -> Path:
    path = tmp_path / "budgets.yaml"
    path.write_text(IMAGE_BUDGET)
    return path


def test_apply_is_idempotent_and_status_shows_the_view(db_url: str, budgets_file: Path) -> None:
    run(spend(db_url, call(1, "460", time=datetime.now(UTC))))
    first = invoke(db_url, "apply", str(budgets_file))
    assert first.exit_code == 0, first.output
    assert "image-generation │ created" in first.output
    assert "1 created, 0 updated, 0 removed, 0 unchanged. Evaluated: 1 threshold(s) newly crossed, 0 resolved." in (
        first.output.replace("\n", " ")
    )
    second = invoke(db_url, "apply", str(budgets_file))
    assert second.exit_code == 0
    assert "image-generation │ unchanged" in second.output
    assert "0 created, 0 updated, 0 removed, 1 unchanged. Evaluated: 0 threshold(s) newly crossed, 0 resolved." in (
        second.output.replace("\n", " ")
    )

    table = invoke(db_url, "status")
    assert table.exit_code == 0, table.output
    [row] = [line for line in table.output.splitlines() if "image-generation" in line]
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[0:2] == ["image-generation", "feature=image_generation"]
    assert cells[3:6] == ["460.00 USD", "600.00 USD", "76.66 %"]
    assert cells[7] == "warning"

    as_json = invoke(db_url, "status", "--format", "json")
    [status] = json.loads(as_json.output)["budgets"]
    assert (status["spend"], status["limit_amount"], status["percent_used"], status["state"]) == (
        "460", "600", "76.66", "warning",
    )  # fmt: skip

    alerts = invoke(db_url, "alerts")
    assert "warning (75 %)" in alerts.output and "open" in alerts.output


def test_status_at_another_time(db_url: str, budgets_file: Path) -> None:
    run(spend(db_url, call(1, "599.99")))  # 2026-11-03
    assert invoke(db_url, "apply", str(budgets_file)).exit_code == 0
    result = invoke(db_url, "status", "--at", "2026-11-30T23:00:00")
    assert "Budgets as of 2026-11-30 23:00 UTC" in result.output
    [row] = [line for line in result.output.splitlines() if "image-generation" in line]
    assert "599.99 USD" in row and "99.99 %" in row and "critical" in row


def test_a_bad_file_names_the_line_and_changes_nothing(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(BAD)
    result = invoke(db_url, "apply", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {path}:3: budgets[0].limit: missing key 'limit'",
        f"{path}:5: budgets[0].limt: unknown key 'limt'",
    ]
    assert "Traceback" not in result.output
    assert "No budgets." in invoke(db_url, "list").output


def test_list_delete_and_dry_run(db_url: str, budgets_file: Path) -> None:
    dry = invoke(db_url, "apply", "--dry-run", str(budgets_file))
    assert "Dry run: 1 created, 0 updated, 0 removed, 0 unchanged. Nothing was changed." in dry.output
    assert "No budgets." in invoke(db_url, "list").output
    assert invoke(db_url, "apply", str(budgets_file)).exit_code == 0

    async def put() -> None:
        async with connect(db_url) as conn:
            budget = BudgetConfig(name="from-rest", period="day", limit=LimitConfig(amount=Decimal("2.5")))
            await put_budget(conn, budget)

    run(put())
    listing = invoke(db_url, "list").output
    assert "from-rest" in listing and "2.50 USD" in listing and "api" in listing
    assert "warning 75 % / critical 90 % / exceeded 100 %" in listing

    refused = invoke(db_url, "delete", "image-generation")
    assert refused.exit_code == 1
    assert "budget 'image-generation' is managed by the budgets file" in refused.stderr
    assert invoke(db_url, "delete", "from-rest").output.strip() == "Removed budget from-rest."
    missing = invoke(db_url, "delete", "from-rest")
    assert (missing.exit_code, missing.stderr.strip()) == (1, "error: no budget named 'from-rest'")


@pytest.fixture
def unmigrated_url(any_server: Server) -> Iterator[str]:
    url, janitor = any_server.empty_database()
    yield url
    janitor.drop()


def test_an_unmigrated_database_says_what_to_run(unmigrated_url: str) -> None:
    result = invoke(unmigrated_url, "status")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: the database has no budgets yet (")
    assert result.stderr.rstrip().endswith("run `otel-margin migrate`")
