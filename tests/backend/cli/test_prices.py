"""``otel-margin prices …`` through typer's CliRunner, on real databases via ``OTEL_MARGIN_DATABASE_URL``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from otel_margin_backend.cli.prices import prices_app
from tests.backend.pricing.stored import SMALL, SMALL_VERSION, active_version, attempts, scalar, usage
from tests.backend.storage.test_writer import mismatched
from tests.support.events import run, write
from tests.support.pgcluster import free_port

pytestmark = pytest.mark.store

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.add_typer(prices_app, name="prices")

OVERRIDES = """\
version: 1
discounts:
  - provider: openai
    percent: 20
    effective_from: 2026-01-01
models:
  - model: my-private-model
    input_mtok: 0.5
    output_mtok: 1.5
"""


def invoke(url: str, *args: str, overrides: Path | None = None) -> Result:
    env = {
        "OTEL_MARGIN_DATABASE_URL": url,
        "OTEL_MARGIN_LOG_FORMAT": "console",
        "OTEL_MARGIN_LOG_LEVEL": "WARNING",
        "OTEL_MARGIN_PRICE_OVERRIDES_FILE": str(overrides) if overrides else None,
        "COLUMNS": "220",
    }
    return CliRunner().invoke(app, ["prices", *args], env=env)


def table_rows(output: str) -> list[list[str]]:
    """The cells of each body row of rich tables in ``output``."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if line.startswith("│")]


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def seed(url: str) -> None:
    run(write(url, [
        usage(1, "acct_1", "gpt-4o", "2026-11-03T10:15", input_tokens=1_000, output=200),
        usage(2, "acct_1", "gpt-4o", "2026-11-03T10:45", input_tokens=2_000, cache_read=1_000, output=100),
        usage(3, "acct_2", "o3", "2026-11-03T11:30", input_tokens=10_000, output=1_000, reported_cost="0.02",
              reported_source="operation.cost"),
        usage(4, "acct_3", "my-private-model", "2026-11-04T09:00", input_tokens=1_000_000, output=1_000_000),
    ]))  # fmt: skip


def test_show_o3_has_the_old_range_closed_and_the_new_open(db_url: str) -> None:
    result = invoke(db_url, "show", "o3")

    assert result.exit_code == 0, result.output
    assert "o3 resolves to data openai/o3" in result.stdout
    assert "• provider 'openai' inferred from the model name" in result.stdout
    assert "Price version genai-prices 0.2.3; overrides none" in result.stdout
    rows = table_rows(result.stdout)
    assert ["data", "input_mtok", "standard", "—", "2025-06-10", "10", "10", ""] in rows
    assert ["data", "input_mtok", "standard", "2025-06-10", "open", "2", "2", ""] in rows
    assert ["data", "output_mtok", "standard", "—", "2025-06-10", "40", "40", ""] in rows
    assert ["data", "output_mtok", "standard", "2025-06-10", "open", "8", "8", ""] in rows
    assert ["data", "input_mtok", "service_tier=flex", "2026-10-12", "open", "1", "1", ""] in rows


def test_show_applies_the_overrides(db_url: str, tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(OVERRIDES)

    result = invoke(db_url, "show", "gpt-4o-2024-08-06", "--provider", "openai", overrides=overrides)
    custom = invoke(db_url, "show", "my-private-model", overrides=overrides)

    assert result.exit_code == 0, result.output
    assert "gpt-4o-2024-08-06 resolves to data openai/gpt-4o" in result.stdout
    rows = table_rows(result.stdout)
    assert ["data", "input_mtok", "standard", "—", "2026-01-01", "2.5", "2.5", ""] in rows
    assert ["data", "input_mtok", "standard", "2026-01-01", "open", "2", "2.5", "20"] in rows
    assert ["data", "output_mtok", "processing=batch", "2026-10-14", "open", "4", "5", "20"] in rows
    assert custom.exit_code == 0, custom.output
    assert "my-private-model resolves to custom (any provider)/my-private-model" in custom.stdout
    assert "• custom model 'my-private-model' from the overrides file" in custom.stdout
    assert ["custom", "input_mtok", "standard", "—", "open", "0.5", "—", ""] in table_rows(custom.stdout)


def test_show_an_unknown_model_is_one_clear_line(db_url: str) -> None:
    line = one_error_line(invoke(db_url, "show", "no-such-model", "--provider", "openai"))

    assert line == ("error: no price for model 'no-such-model' (provider 'openai'): no model in the price data matches")


def test_list_shows_current_prices(db_url: str) -> None:
    result = invoke(db_url, "list", "--provider", "openai")

    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert ["openai", "o3", "2", "0.5", "—", "8", "200,000"] in rows
    assert ["openai", "gpt-4o", "2.5", "1.25", "—", "10", "128,000"] in rows
    assert all(row[0] == "openai" for row in rows)


def test_list_an_unknown_provider_is_one_clear_line(db_url: str) -> None:
    line = one_error_line(invoke(db_url, "list", "--provider", "nobody"))

    assert line == "error: no provider 'nobody' in price version genai-prices 0.2.3"


def test_sync_a_file(db_url: str) -> None:
    result = invoke(db_url, "sync", "--source", str(SMALL))
    again = invoke(db_url, "sync", "--source", str(SMALL))

    assert result.exit_code == 0, result.output
    assert f"Stored price version {SMALL_VERSION} from {SMALL} (1 provider, 2 models); it is now active." in (
        result.stdout.replace("\n", " ")
    )
    assert again.exit_code == 0, again.output
    assert f"Price data from {SMALL} is unchanged: {SMALL_VERSION} stays active." in again.stdout.replace("\n", " ")
    assert active_version(db_url) == SMALL_VERSION


def test_sync_a_truncated_file_fails_cleanly(db_url: str, tmp_path: Path) -> None:
    invoke(db_url, "sync", "--source", str(SMALL))
    truncated = tmp_path / "data.json"
    truncated.write_bytes(SMALL.read_bytes()[:100])

    line = one_error_line(invoke(db_url, "sync", "--source", str(truncated)))

    assert line.startswith(f"error: {truncated}: price data is not JSON: ")
    assert active_version(db_url) == SMALL_VERSION
    assert [a[1] for a in attempts(db_url)] == ["ok", "failed"]


def test_sync_a_missing_file_fails_cleanly(db_url: str, tmp_path: Path) -> None:
    line = one_error_line(invoke(db_url, "sync", "--source", str(tmp_path / "nope.json")))

    assert line == f"error: {tmp_path / 'nope.json'}: cannot read price data: No such file or directory"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01", "--to", "2026-11-30"],
         "error: --from: '2026-13-01' is not a date; use YYYY-MM-DD, e.g. 2026-11-01"),
        (["--from", "2026-11-01", "--to", "yesterday"],
         "error: --to: 'yesterday' is not a date; use YYYY-MM-DD, e.g. 2026-11-01"),
        (["--from", "2026-11-05", "--to", "2026-11-01"], "error: --to 2026-11-01 is before --from 2026-11-05"),
    ],
)  # fmt: skip
def test_reprice_bad_dates_are_one_clear_line(db_url: str, args: list[str], message: str) -> None:
    assert one_error_line(invoke(db_url, "reprice", *args)) == message


def test_reprice_dry_run_shows_the_difference_and_changes_nothing(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(OVERRIDES)
    before = scalar(db_url, "SELECT sum(cost_total) FROM usage_events")

    result = invoke(db_url, "reprice", "--from", "2026-11-01", "--to", "2026-11-30", "--dry-run", overrides=overrides)

    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows == [
        ["acct_3", "1", "1", "0", "2", "+2", "1 → 0"],
        ["acct_2", "1", "1", "0.028", "0.0224", "-0.0056", "0 → 0"],
        ["acct_1", "2", "2", "0.00925", "0.0074", "-0.00185", "0 → 0"],
        ["total", "4", "4", "0.03725", "2.0298", "+1.99255", "1 → 0"],
    ]
    assert "Re-price 2026-11-01 to 2026-11-30 (UTC) with genai-prices 0.2.3" in result.stdout
    assert "Dry run: 4 calls would change; nothing was written." in result.stdout
    assert scalar(db_url, "SELECT sum(cost_total) FROM usage_events") == before


def test_reprice_applies_with_rollups_corrected(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(OVERRIDES)

    result = invoke(db_url, "reprice", "--from", "2026-11-01", "--to", "2026-11-30", overrides=overrides)

    assert result.exit_code == 0, result.output
    assert (
        "Applied: 4 calls updated, 3 hourly rollup groups recomputed and their daily totals corrected."
        in result.stdout.replace("\n", " ")
    )
    assert scalar(db_url, "SELECT sum(cost_total) FROM usage_events") == Decimal("2.02980")
    assert scalar(db_url, "SELECT sum(cost) FROM usage_hourly") == Decimal("2.02980")
    assert scalar(db_url, "SELECT sum(cost) FROM usage_daily") == Decimal("2.02980")
    assert mismatched(db_url) == []


def test_reprice_an_empty_range(db_url: str) -> None:
    result = invoke(db_url, "reprice", "--from", "2020-01-01", "--to", "2020-01-31")

    assert result.exit_code == 0, result.output
    assert "No usage with token counts from 2020-01-01 to 2020-01-31 (UTC)." in result.stdout


def test_reconcile_lists_the_largest_gaps(db_url: str) -> None:
    seed(db_url)

    result = invoke(db_url, "reconcile", "--from", "2026-11-01", "--to", "2026-11-30")
    empty = invoke(db_url, "reconcile", "--from", "2020-01-01", "--to", "2020-01-02")

    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == [
        ["openai", "o3", "acct_2", "1", "0.028", "0.02", "-0.008", "-28.57", "", "operation.cost"],
    ]
    assert "No calls with a provider-reported cost from 2020-01-01 to 2020-01-02 (UTC)." in empty.stdout
    assert one_error_line(invoke(db_url, "reconcile", "--from", "11/01/2026")) == (
        "error: --from: '11/01/2026' is not a date; use YYYY-MM-DD, e.g. 2026-11-01"
    )


def test_an_unreachable_database_is_one_clear_line() -> None:
    port = free_port()

    line = one_error_line(invoke(f"postgresql://app:hunter2@127.0.0.1:{port}/margin", "show", "o3"))

    assert line.startswith(f"error: cannot connect to PostgreSQL at 127.0.0.1:{port}/margin")
    assert "hunter2" not in line
