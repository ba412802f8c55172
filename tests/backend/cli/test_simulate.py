"""``otel-margin simulate`` through typer's CliRunner, on real databases via ``OTEL_MARGIN_DATABASE_URL``."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator, Sequence

import pytest
import typer
from typer.testing import CliRunner, Result

from otel_margin_backend.cli.simulate import simulate
from tests.backend.simulator.calls import Vector, call
from tests.support.events import run, write

app = typer.Typer()
app.command()(simulate)


@app.callback()
def _group() -> None:
    """A command group, as in ``otel_margin_backend.cli.main``."""


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The command configures logging to the runner's stream; put the test session's handlers back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def invoke(url: str, args: Sequence[str]) -> Result:
    env = {"OTEL_MARGIN_DATABASE_URL": url, "OTEL_MARGIN_LOG_FORMAT": "console", "COLUMNS": "240"}
    return CliRunner().invoke(app, ["simulate", *args], env=env)


def seed(url: str) -> None:
    small, large = (10_000, 0, 0, 1_000, 0), (290_000, 0, 0, 1_000, 0)
    vectors: list[Vector] = [small] * 10 + [large] * 10
    events = [call(v, feature="digest", provider="openai", model="gpt-4.1") for v in vectors]
    events += [call((3_000, 2_000, 0, 400, 0), feature="chat", provider="anthropic", model="claude-sonnet-4-20250514",
                    customer="acct_2")]  # fmt: skip
    run(write(url, events))


RANGE = ["--from", "2026-11-01", "--to", "2026-11-30"]


@pytest.mark.store
def test_json_has_exact_figures(db_url: str) -> None:
    seed(db_url)

    result = invoke(db_url, ["--feature", "digest", "--candidates", "openai/gpt-5.4,openai/gpt-4.1-mini", "--format",
                             "json", *RANGE])  # fmt: skip

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["from"], body["to"], body["feature"]) == ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00",
                                                           "digest")  # fmt: skip
    (digest,) = body["groups"]
    assert (digest["events"], digest["cost"], digest["current_cost"]) == (20, "6.160", "6.16")
    by_name = {c["candidate"]: c for c in digest["candidates"]}
    assert by_name["openai/gpt-5.4"]["simulated_cost"] == "15.125"
    assert by_name["openai/gpt-5.4"]["savings"] == "-8.965"
    # gpt-4.1-mini ($0.4 / $1.6): 10 * (0.004 + 0.0016) + 10 * (0.116 + 0.0016) = 0.056 + 1.176
    assert by_name["openai/gpt-4.1-mini"]["simulated_cost"] == "1.232"
    assert by_name["openai/gpt-4.1-mini"]["savings_percent"] == "80.00"
    assert digest["suggested"] == "openai/gpt-4.1-mini" and digest["quality_difference"] == "-1.3"


@pytest.mark.store
def test_table_and_csv(db_url: str) -> None:
    seed(db_url)

    table = invoke(db_url, ["--candidates", "openai/gpt-4.1-mini,openai/gpt-5.4", *RANGE])
    assert table.exit_code == 0, table.output
    assert "Current model" in table.stdout and "Savings (%)" in table.stdout and "Quality Δ" in table.stdout
    digest_line = next(line for line in table.stdout.splitlines() if "digest" in line)
    assert "openai/gpt-4.1" in digest_line and "$6.16" in digest_line and "$1.23" in digest_line
    assert "80.00%" in digest_line and "openai/gpt-4.1-mini" in digest_line and "-1.3 gpqa_diamond" in digest_line

    only_acct_2 = invoke(db_url, ["--customer", "acct_2", "--candidates", "openai/gpt-4.1-mini", "--format", "csv",
                                  *RANGE])  # fmt: skip
    assert only_acct_2.exit_code == 0, only_acct_2.output
    rows = list(csv.DictReader(io.StringIO(only_acct_2.stdout)))
    assert [(r["feature"], r["model"], r["candidate"], r["events"]) for r in rows] == [
        ("chat", "claude-sonnet-4-20250514", "openai/gpt-4.1-mini", "1")
    ]
    assert rows[0]["suggested"] in ("true", "false") and rows[0]["quality_current"] == "75.4"


@pytest.mark.store
def test_errors_are_one_line(db_url: str) -> None:
    seed(db_url)

    unknown = invoke(db_url, ["--candidates", "openai/gpt-4.1-mni"])
    assert unknown.exit_code == 1
    assert "error: candidate 'openai/gpt-4.1-mni' is not in the price book" in unknown.output
    assert "Traceback" not in unknown.output

    bad_date = invoke(db_url, ["--from", "last week"])
    assert bad_date.exit_code == 1
    assert "error: from: 'last week' is not a date (2026-11-01) or date-time (2026-11-01T12:00:00Z)" in bad_date.output

    bad_format = invoke(db_url, ["--format", "xml"])
    assert bad_format.exit_code == 2
    assert "use table, json or csv" in bad_format.output

    empty = invoke(db_url, ["--feature", "nothing-here", *RANGE])
    assert empty.exit_code == 0 and "No model calls in the range." in empty.stdout


@pytest.mark.store
def test_the_quality_drop_limit_defaults_to_10_points_and_has_a_flag(db_url: str) -> None:
    seed(db_url)
    args = ["--feature", "digest", "--candidates", "openai/gpt-4.1-mini,openai/gpt-4.1-nano", "--format", "json",
            *RANGE]  # fmt: skip

    def suggested(*extra: str) -> tuple[str | None, str | None]:
        result = invoke(db_url, [*args, *extra])
        assert result.exit_code == 0, result.output
        (digest,) = json.loads(result.stdout)["groups"]
        return digest["suggested"], digest["quality_difference"]

    # gpt-4.1 scores 66.3 (GPQA), gpt-4.1-mini 65.0, gpt-4.1-nano 50.3 at a quarter of mini's price: nano has the
    # best quality per dollar but loses 16 points, over the default limit of 10.
    assert suggested() == ("openai/gpt-4.1-mini", "-1.3")
    assert suggested("--max-quality-drop", "none") == ("openai/gpt-4.1-nano", "-16.0")
    assert suggested("--max-quality-drop", "1") == (None, None)
    bad = invoke(db_url, [*args, "--max-quality-drop", "-3"])
    assert bad.exit_code == 2 and "give a number of points >= 0, or none" in bad.output
