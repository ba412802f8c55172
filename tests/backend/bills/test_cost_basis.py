"""``pnl --cost-basis billed``: each day x provider x model's cost scaled to the bill; the default stays computed."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.backend.bills import scenario as sc
from tests.backend.cli.test_main import otel_margin

RANGE = ("--from", "2026-11-01", "--to", "2026-11-30")


def _cost(url: str, *extra: str) -> dict[str, Decimal]:
    result = otel_margin("pnl", *RANGE, "--by", "model", "--format", "json", *extra,
                         env={"OTEL_MARGIN_DATABASE_URL": url})  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rows = {r["key"]: Decimal(r["cost"]).quantize(Decimal("0.000001")) for r in data["rows"]}
    rows["organization"] = Decimal(data["organization"][0]["cost"]).quantize(Decimal("0.000001"))
    return rows


def test_the_billed_basis_puts_the_bills_money_on_the_calls(db_url: str, tmp_path: Path) -> None:
    sc.seed(db_url, tmp_path)
    assert _cost(db_url) == {sc.GPT4O: Decimal("21.15"), sc.MINI: Decimal("1.215"), "organization": Decimal("22.365")}
    billed = _cost(db_url, "--cost-basis", "billed")
    assert billed == {sc.GPT4O: Decimal("24.00"), sc.MINI: Decimal("1.35"), "organization": Decimal("25.35")}
    bad = otel_margin("pnl", "--cost-basis", "invoice", env={"OTEL_MARGIN_DATABASE_URL": db_url})
    assert bad.returncode == 2 and "use computed or billed" in bad.stderr
