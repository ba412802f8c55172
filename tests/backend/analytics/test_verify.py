"""The rollout gate: the seeded November against an estimate CSV passes within 5 % and fails at 6 %, with exit
codes 0 / 1 / 2, on a real database; the rules for zero, missing, unpriced and unlisted customers are exact."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from otel_margin_backend.analytics.estimate import read_estimate
from otel_margin_backend.analytics.pnl import PnlRow, decimal_text, period, read_pnl
from otel_margin_backend.analytics.verify import Verification, verify
from tests.backend.analytics.test_pnl import seed_reference
from tests.backend.cli.test_main import otel_margin
from tests.support.events import event, run, write
from tests.support.seed import revenue

NOV = period(month="2026-11")

# The reference November (test_pnl.py): plexo-health $233.25 revenue, $277.20 cost; helix-robotics $134.29 /
# $127.31; northwind $6,000.00 / $3,500.49; acme $6,112.46 / $4,435.00.
WITHIN = ("customer_id,cost,revenue\n"
          "plexo-health,264.00,\n"           # 277.20 / 264.00 = +5.00 %: at the tolerance, passes
          "helix-robotics,127.00,134.29\n")  # cost +0.24 %; margin 6.98 against 7.29: -4.25 %  # fmt: skip
AT_SIX = "customer_id,cost\nplexo-health,261.51\nhelix-robotics,127.31\n"  # 277.20 / 261.51 = +6.00 %


def _write(tmp_path: Path, text: str, name: str = "estimate.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _gate(url: str, path: Path, tolerance: str = "5", **options: object) -> Verification:
    with psycopg.connect(url) as conn:
        rows = read_pnl(conn, NOV, "customer")
    return verify(read_estimate(path), rows, span=NOV, tolerance_pct=Decimal(tolerance), **options)  # type: ignore[arg-type]


def _text(value: Decimal | None) -> str | None:
    # Equal amounts, one text: pnl()'s margin of prorated revenue carries more zeros (6.9800000000000000000000).
    return None if value is None else decimal_text(value)


def _figures(v: Verification) -> dict[str, list[tuple[str, str | None, str | None, str | None, bool]]]:
    return {c.customer: [(f.figure, _text(f.expected), _text(f.actual), _text(f.difference_pct), f.passed)
                         for f in c.figures] for c in v.customers}  # fmt: skip


def test_within_five_percent_passes(db_url: str, tmp_path: Path) -> None:
    seed_reference(db_url)
    v = _gate(db_url, _write(tmp_path, WITHIN))
    assert v.passed
    assert _figures(v) == {
        "plexo-health": [("cost", "264.00", "277.20", "5.00", True)],
        "helix-robotics": [("cost", "127.00", "127.31", "0.24", True), ("margin", "7.29", "6.98", "-4.25", True)],
        "acme": [("cost", None, "4435.00", None, True)],
        "northwind": [("cost", None, "3500.49", None, True)],
    }
    assert [c.result for c in v.customers] == ["pass", "pass", "not in estimate", "not in estimate"]


def test_six_percent_fails(db_url: str, tmp_path: Path) -> None:
    seed_reference(db_url)
    v = _gate(db_url, _write(tmp_path, AT_SIX))
    assert not v.passed
    plexo, helix = v.customers[:2]
    assert (plexo.result, plexo.figures[0].difference_pct, plexo.note) == ("fail", Decimal("6.00"), "cost outside ±5 %")
    assert (helix.result, helix.figures[0].difference_pct) == ("pass", Decimal("0.00"))
    assert _gate(db_url, _write(tmp_path, AT_SIX), tolerance="6").passed  # the boundary is included


def test_a_margin_off_by_more_than_the_tolerance_fails_while_the_cost_passes(db_url: str, tmp_path: Path) -> None:
    seed_reference(db_url)
    # acme: cost 4435.00 within 5 % of 4300.00 (+3.14 %), margin 1677.46 against 1812.46 is -7.45 %.
    v = _gate(db_url, _write(tmp_path, "customer_id,cost,revenue\nacme,4300.00,6112.46\n"))
    (acme, *_) = v.customers
    assert _figures(v)["acme"] == [("cost", "4300.00", "4435.00", "3.14", True),
                                   ("margin", "1812.46", "1677.46", "-7.45", False)]  # fmt: skip
    assert (acme.result, acme.note, v.passed) == ("fail", "margin outside ±5 %", False)


def test_missing_zero_unpriced_and_unlisted_customers(db_url: str, tmp_path: Path) -> None:
    seed_reference(db_url)
    revenue(db_url, "revenue-only", "2026-11", "50.00")  # no calls: cost 0
    run(write(db_url, [event(90, customer="mystery-co", model="mystery", cost=None,
                             time=datetime(2026, 11, 4, tzinfo=UTC))]))  # fmt: skip
    text = ("customer_id,cost,revenue\nghost-co,10.00,\nrevenue-only,0,50.00\nmystery-co,1.00,\n"
            "helix-robotics,0,\nplexo-health,277.20,233.25\n")  # fmt: skip
    v = _gate(db_url, _write(tmp_path, text))
    by = {c.customer: c for c in v.customers}
    assert by["ghost-co"].result == "fail"
    assert by["ghost-co"].note == "no usage or revenue in 2026-11: is 'ghost-co' the customer.id on its spans?"
    assert _figures(v)["revenue-only"] == [
        ("cost", "0.00", "0.00", None, True),
        ("margin", "50.00", "50.00", "0.00", True),
    ]
    assert (by["mystery-co"].result, by["mystery-co"].note) == (
        "fail", "cost unknown: none of its 1 call(s) could be priced (otel-margin prices show MODEL)")  # fmt: skip
    assert (by["helix-robotics"].result, by["helix-robotics"].figures[0].difference_pct) == (
        "fail",
        None,
    )  # 0 vs 127.31
    assert by["plexo-health"].result == "pass"  # margin -43.95 exactly
    assert {c for c, r in by.items() if r.result == "not in estimate"} == {"acme", "northwind"}
    strict = _gate(db_url, _write(tmp_path, WITHIN), strict=True)
    assert not strict.passed and {c.customer for c in strict.customers if c.result == "fail"} == {
        "acme", "northwind", "revenue-only", "mystery-co"}  # fmt: skip
    canary = _gate(db_url, _write(tmp_path, text), customers=["plexo-health"], strict=True)
    assert canary.passed and [c.customer for c in canary.customers] == ["plexo-health"]


def _cli(url: str, *args: str, columns: str = "200") -> tuple[int, str, str]:
    result = otel_margin("verify", *args, env={"OTEL_MARGIN_DATABASE_URL": url, "COLUMNS": columns})
    assert "Traceback" not in result.stderr + result.stdout
    return result.returncode, result.stdout, result.stderr


def test_the_cli_exit_codes_and_formats(db_url: str, tmp_path: Path) -> None:
    seed_reference(db_url)
    within, at_six = _write(tmp_path, WITHIN, "within.csv"), _write(tmp_path, AT_SIX, "six.csv")
    code, out, _ = _cli(db_url, "--estimate", str(within), "--tolerance", "5%", "--month", "2026-11")
    assert code == 0
    plexo = next(line for line in out.splitlines() if "plexo-health" in line)
    assert "$264.00" in plexo and "$277.20" in plexo and "+5.00 %" in plexo and "pass" in plexo
    assert out.splitlines()[-1] == (f"PASS: 2 of 2 customer(s) within ±5 % of {within} (2026-11); 2 customer(s) "
                                    "with figures not in the estimate (not checked; --strict fails them)")  # fmt: skip

    code, out, _ = _cli(db_url, "--estimate", str(at_six), "--tolerance", "5", "--from", "2026-11-01", "--to",
                        "2026-11-30")  # fmt: skip
    assert code == 1
    assert "plexo-health: cost outside ±5 %" in out
    assert out.splitlines()[-1].startswith("FAIL: 1 of 2 customer(s) within ±5 %") and "failed: plexo-health" in out

    code, out, _ = _cli(db_url, "--estimate", str(at_six), "--month", "2026-11", "--customer", "helix-robotics",
                        "--strict", "--format", "json")  # fmt: skip
    body = json.loads(out)
    assert code == 0 and body["passed"] is True and body["tolerance_pct"] == "5" and body["period"] == "2026-11"
    assert body["customers"] == [
        {
            "customer": "helix-robotics",
            "result": "pass",
            "note": "",
            "figures": [
                {"figure": "cost", "expected": "127.31", "actual": "127.31", "difference_pct": "0.00", "passed": True}
            ],
        }
    ]

    code, out, _ = _cli(db_url, "--estimate", str(at_six), "--month", "2026-11", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1
    assert [(r["customer"], r["result"], r["figure"], r["expected"], r["actual"], r["difference_pct"], r["passed"])
            for r in rows[:2]] == [("plexo-health", "fail", "cost", "261.51", "277.20", "6.00", "false"),
                                  ("helix-robotics", "pass", "cost", "127.31", "127.31", "0.00", "true")]  # fmt: skip


def test_bad_input_is_exit_two_with_a_line_numbered_error(db_url: str, tmp_path: Path) -> None:
    bad = _write(tmp_path, "customer_id,cost\r\nplexo-health,277.20\r\nhelix-robotics,127.31\r\nacme,abc\r\n")
    code, out, err = _cli(db_url, "--estimate", str(bad), "--month", "2026-11")
    assert code == 2 and out == ""
    assert err.splitlines() == [f"error: {bad} line 4: cost 'abc' is not a number; write it like 1234.50",
                                f"error: 1 problem(s) in {bad}: fix them and run verify again"]  # fmt: skip
    good = _write(tmp_path, WITHIN, "good.csv")
    for args, message in [
        (["--tolerance", "five"], "error: --tolerance 'five': give a percentage from 0 to 100, like 5% or 2.5"),
        (["--month", "November"], "error: 'November' is not a month; use YYYY-MM, e.g. 2026-11"),
        (["--customer", "acme"], f"error: --customer acme: not in {good}; add a line for it"),
    ]:
        code, _, err = _cli(db_url, "--estimate", str(good), *args)
        assert (code, err.strip()) == (2, message)
    code, _, err = _cli(db_url, "--estimate", str(tmp_path / "nope.csv"))
    assert code == 2 and "nope.csv:1: cannot read the file" in err
    code, _, err = _cli(db_url, "--estimate", str(good), "--format", "xml")
    assert code == 2 and "'xml': use table, json or csv" in err


def test_the_table_reads_whole_at_80_columns(db_url: str, tmp_path: Path) -> None:
    from otel_margin_backend.pipeline.money import money
    from tests.support.narrow import assert_lossless

    seed_reference(db_url)
    path = _write(tmp_path, WITHIN)
    code, out, _ = _cli(db_url, "--estimate", str(path), "--month", "2026-11", "--format", "json")
    customers = json.loads(out)["customers"]
    code, table, _ = _cli(db_url, "--estimate", str(path), "--month", "2026-11", columns="80")
    assert code == 0
    assert_lossless(table, {
        "Customer": [c["customer"] for c in customers],
        "Actual": [money(Decimal(f["actual"])) for c in customers for f in c["figures"]],
        "Result": [c["result"] for c in customers],
    })  # fmt: skip


def _row(key: str, cost: str | None, *, revenue: str | None = None, unpriced: int = 0,
         unconverted: tuple[str, ...] = ()) -> PnlRow:  # fmt: skip
    amount = None if cost is None else Decimal(cost)
    income = None if revenue is None else Decimal(revenue)
    margin = None if income is None or amount is None else income - amount
    return PnlRow(key, income, amount, margin, None, False, None, 3, 0, 0, 0, 0, unpriced, 0, "USD", list(unconverted))


@pytest.mark.parametrize(("expected", "row", "passed", "note"), [
    ("0", _row("a", "0.004"), True, ""),  # rounds to 0.00
    ("0", _row("a", "0.005"), False, "cost estimated at 0 but is not 0.00"),  # half a cent is not under half a cent
    ("10.00", _row("a", "10.00", unpriced=1), False,
     "1 unpriced call(s): the cost is incomplete (otel-margin prices show MODEL)"),
    ("10.00", _row("a", "10.00", revenue="20.00", unconverted=("EUR",)), False,
     "amounts in EUR not converted (otel-margin fx import)"),
    ("10.00", _row("a", "10.49"), True, ""),  # +4.90 %
    ("10.00", _row("a", "9.50"), True, ""),  # -5.00 %: the boundary, below too
    ("10.00", _row("a", "9.49"), False, "cost outside ±5 %"),  # -5.10 %
])  # fmt: skip
def test_the_rules_for_one_cost(tmp_path: Path, expected: str, row: PnlRow, passed: bool, note: str) -> None:
    estimate = read_estimate(_write(tmp_path, f"customer_id,cost\na,{expected}\n"))
    (check,) = verify(estimate, [row], span=NOV, tolerance_pct=Decimal(5)).customers
    assert (check.result == "pass", check.note) == (passed, note)


def test_a_margin_without_revenue_fails_and_says_why(tmp_path: Path) -> None:
    estimate = read_estimate(_write(tmp_path, "customer_id,cost,revenue\na,10.00,20.00\n"))
    (check,) = verify(estimate, [_row("a", "10.00")], span=NOV, tolerance_pct=Decimal(5)).customers
    assert (check.result, check.note) == ("fail", "no revenue booked in 2026-11, so no margin")
    assert [(f.figure, f.actual, f.passed) for f in check.figures] == [("cost", Decimal("10.00"), True),
                                                                        ("margin", None, False)]  # fmt: skip
