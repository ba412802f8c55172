"""``bills reconcile`` on the scenario month: JSON exact, the table readable whole at 80 columns, the uninstrumented
service named; ``bills imports`` lists what was imported."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from otel_margin_backend.cli.bills import usd_text
from tests.backend.bills import scenario as sc
from tests.backend.cli.test_main import otel_margin
from tests.support.narrow import WIDTH, assert_lossless

RANGE = ("--from", "2026-11-01", "--to", "2026-11-30")


def _run(url: str, mapping: Path, *args: str) -> str:
    env = {"OTEL_MARGIN_DATABASE_URL": url, "COLUMNS": str(WIDTH), "OTEL_MARGIN_BILLS_MAPPING_FILE": str(mapping)}
    result = otel_margin(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_reconcile_by_model_json_and_a_narrow_table(db_url: str, tmp_path: Path) -> None:
    sc.seed(db_url, tmp_path)
    mapping = tmp_path / "bills-mapping.yaml"
    data = json.loads(_run(db_url, mapping, "bills", "reconcile", *RANGE, "--format", "json"))
    assert data["by"] == "model" and [r["model"] for r in data["rows"]] == [sc.GPT4O, sc.MINI]
    gpt = data["rows"][0]
    assert (gpt["billed"], gpt["gap"], gpt["unseen"], gpt["unpriced"], gpt["price_diff"]) == (
        "24", "2.85", "1.5", "1.35", "0")  # fmt: skip
    assert (gpt["coverage_pct"], gpt["missing_from"], gpt["gap_alert"]) == ("84.38", "batch-worker", True)
    table = _run(db_url, mapping, "bills", "reconcile", *RANGE)
    assert all(len(line) <= WIDTH for line in table.splitlines())
    assert "…" not in table
    rows = data["rows"]
    assert_lossless(table, {
        "model": [f"{r['provider']}{r['model']}" for r in rows],
        "billed": [usd_text(Decimal(r["billed"])) for r in rows],
        "computed": [usd_text(Decimal(r["computed"])) for r in rows],
        "gap": [f"{usd_text(Decimal(r['gap']))}{Decimal(r['gap_pct']):.2f}%" for r in rows],
        "unseen": [usd_text(Decimal(r["unseen"])) for r in rows],
        "covered": [f"{Decimal(r['coverage_pct']):.2f}%" for r in rows],
    })  # fmt: skip
    assert "come from: batch-worker (instrument them)" in " ".join(table.split())
    csv_text = _run(db_url, mapping, "bills", "reconcile", *RANGE, "--by", "day", "--format", "csv")
    assert csv_text.splitlines()[0].startswith("day,provider,model,billed,computed,gap,gap_pct")
    assert len(csv_text.splitlines()) == 31
    projects = _run(db_url, mapping, "bills", "reconcile", *RANGE, "--by", "project")
    assert_lossless(projects, {"project": ["proj_shop", "proj_batch"], "service": ["checkout", "batch-worker"],
                               "unseen": ["0", "1.50"]})  # fmt: skip
    listed = _run(db_url, mapping, "bills", "imports")
    assert "2026-11-01 to 2026-11-30" in listed.replace("\n", " ") or "2026-11-01" in listed


def test_reconcile_refuses_a_bad_grouping_saying_what_to_use(db_url: str, tmp_path: Path) -> None:
    result = otel_margin("bills", "reconcile", "--by", "customer", env={"OTEL_MARGIN_DATABASE_URL": db_url})
    assert result.returncode == 1
    assert "by='customer': use one of model, day, provider, detail, project" in result.stderr
