"""The rollout gate: each customer's cost (and margin) in a range against the user's own estimate, within a tolerance.

The actual figures are ``pnl()``'s (the P&L every surface reads). The rules, which docs/rollout.md repeats:

- The relative difference is ``|actual - expected| / |expected|``, in percent, rounded to 0.01 % half to even;
  it passes when it is at most the tolerance (what the table shows is what was judged). Its sign is kept for
  reading (``+6.00 %``: otel-margin counts more than the estimate).
- An expected 0 has no relative difference: it passes only when the actual figure rounds to 0 in the currency's
  minor unit (under half a cent).
- Cost is always checked; the margin when the estimate gives revenue or a margin.
- A customer in the estimate fails when the range has no usage and no revenue for it, when any of its calls is
  unpriced (the cost is incomplete), when an amount could not be converted to the reporting currency, or, for the
  margin, when no revenue is booked for it.
- A customer with figures but not in the estimate is listed as ``not in estimate`` and does not fail the gate,
  unless ``strict`` (then it does: every customer must be estimated, the unattributed bucket too).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from rich.table import Table
from rich.text import Text

from otel_margin_backend.analytics.estimate import Estimate, EstimateLine
from otel_margin_backend.analytics.pnl import PERCENT_PLACES, Period, PnlRow, decimal_text
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.money import NONE_TEXT, UNPRICED, exponent, money

Result = Literal["pass", "fail", "not in estimate"]
Figure = Literal["cost", "margin"]
_TOLERANCE = re.compile(r"(\d{1,3}(?:\.\d{1,4})?)\s*%?")
_HALF_UNIT = Decimal("0.5")
"""Under half the currency's minor unit (half a cent) an amount rounds to 0: what an expected 0 must meet."""


@dataclass(frozen=True, slots=True)
class FigureCheck:
    """One figure of one customer: expected, actual, their relative difference and whether it is within."""

    figure: Figure
    expected: Decimal | None
    """None for a customer not in the estimate."""
    actual: Decimal | None
    """None when unknown (unpriced cost, no revenue for a margin, no data)."""
    difference_pct: Decimal | None
    """``(actual - expected) / |expected| * 100`` to 0.01; None when expected is 0 or either side unknown."""
    passed: bool


@dataclass(frozen=True, slots=True)
class CustomerCheck:
    """A customer's verdict, its figures, and why it failed (empty when it passed)."""

    customer: str
    result: Result
    figures: tuple[FigureCheck, ...]
    note: str
    unpriced_calls: int = 0


@dataclass(frozen=True, slots=True)
class Verification:
    """The gate's answer: every customer checked (estimate order), then those not in the estimate."""

    span: Period
    estimate: str
    tolerance_pct: Decimal
    strict: bool
    currency: str
    customers: tuple[CustomerCheck, ...]

    @property
    def passed(self) -> bool:
        """True when no customer failed (under ``strict``, one not in the estimate fails)."""
        return all(c.result != "fail" for c in self.customers)

    def count(self, result: Result) -> int:
        """How many customers got ``result``."""
        return sum(c.result == result for c in self.customers)


def parse_tolerance(text: str) -> Decimal:
    """``5%``, ``5 %``, ``5`` or ``2.5%`` as percent; 0 to 100.

    Raises:
        PermanentError: anything else.
    """
    match = _TOLERANCE.fullmatch(text.strip())
    if not match or Decimal(match[1]) > 100:
        raise PermanentError(f"--tolerance {text[:20]!r}: give a percentage from 0 to 100, like 5% or 2.5")
    return Decimal(match[1])


def verify(estimate: Estimate, rows: Sequence[PnlRow], *, span: Period, tolerance_pct: Decimal,
           customers: Sequence[str] = (), strict: bool = False, currency: str = "USD") -> Verification:  # fmt: skip
    """Compare the P&L rows by customer of ``span`` with the estimate.

    Args:
        estimate: The user's estimate.
        rows: ``read_pnl(conn, span, "customer")``.
        span: The range the rows are of.
        tolerance_pct: The largest relative difference that passes, in percent.
        customers: Check only these (each must be in the estimate); the others are left out altogether.
        strict: A customer with figures but not in the estimate fails.
        currency: The reporting currency (for a range with no rows).

    Returns:
        The verdicts.

    Raises:
        PermanentError: a customer asked for is not in the estimate.
    """
    by_key = {row.key: row for row in rows}
    wanted = {line.customer: line for line in estimate.lines}
    if customers:
        absent = [c for c in customers if c not in wanted]
        if absent:
            raise PermanentError(f"--customer {', '.join(absent)}: not in {estimate.path}; add a line for it")
        wanted = {c: wanted[c] for c in dict.fromkeys(customers)}
    checks = [_check(line, by_key.get(line.customer), span, tolerance_pct) for line in wanted.values()]
    if not customers:
        for row in rows:
            if row.key not in wanted:
                cost = FigureCheck("cost", None, row.cost, None, not strict)
                note = "not in the estimate (--strict)" if strict else ""
                checks.append(CustomerCheck(row.key, "fail" if strict else "not in estimate", (cost,), note,
                                            row.unpriced_calls))  # fmt: skip
    if rows:
        currency = rows[0].reporting_currency
    return Verification(span, estimate.path, tolerance_pct, strict, currency, tuple(checks))


def _check(line: EstimateLine, row: PnlRow | None, span: Period, tolerance: Decimal) -> CustomerCheck:
    if row is None:
        figures = [FigureCheck("cost", line.cost, None, None, False)]
        if line.margin is not None:
            figures.append(FigureCheck("margin", line.margin, None, None, False))
        note = f"no usage or revenue in {span.label}: is {line.customer!r} the customer.id on its spans?"
        return CustomerCheck(line.customer, "fail", tuple(figures), note)
    notes: list[str] = []
    zero = _HALF_UNIT / 10 ** exponent(row.reporting_currency)
    figures = [_figure("cost", line.cost, row.cost, tolerance, zero)]
    if row.cost is None:
        notes.append(f"cost unknown: none of its {row.unpriced_calls:,} call(s) could be priced "
                     "(otel-margin prices show MODEL)")  # fmt: skip
    elif row.unpriced_calls:
        figures[0] = FigureCheck("cost", line.cost, row.cost, figures[0].difference_pct, False)
        notes.append(f"{row.unpriced_calls:,} unpriced call(s): the cost is incomplete (otel-margin prices show MODEL)")
    if line.margin is not None:
        figures.append(_figure("margin", line.margin, row.margin, tolerance, zero))
        if row.revenue is None:
            notes.append(f"no revenue booked in {span.label}, so no margin")
    if row.unconverted:
        figures = [FigureCheck(f.figure, f.expected, f.actual, f.difference_pct, False) for f in figures]
        notes.append(f"amounts in {', '.join(row.unconverted)} not converted (otel-margin fx import)")
    outside = [f.figure for f in figures if f.difference_pct is not None and abs(f.difference_pct) > tolerance]
    if outside:
        notes.insert(0, f"{' and '.join(outside)} outside ±{_pct(tolerance)} %")
    notes += [f"{f.figure} estimated at 0 but is not 0.00" for f in figures
              if f.expected == 0 and f.actual is not None and not f.passed]  # fmt: skip
    passed = all(f.passed for f in figures)
    return CustomerCheck(line.customer, "pass" if passed else "fail", tuple(figures), "; ".join(notes),
                         row.unpriced_calls)  # fmt: skip


def _figure(figure: Figure, expected: Decimal, actual: Decimal | None, tolerance: Decimal,
            zero: Decimal) -> FigureCheck:  # fmt: skip
    if actual is None:
        return FigureCheck(figure, expected, None, None, False)
    if expected == 0:
        return FigureCheck(figure, expected, actual, None, abs(actual) < zero)
    difference = ((actual - expected) / abs(expected) * 100).quantize(PERCENT_PLACES, ROUND_HALF_EVEN)
    return FigureCheck(figure, expected, actual, difference, abs(difference) <= tolerance)


def _pct(value: Decimal) -> str:
    return decimal_text(value).removesuffix(".00") if value == value.to_integral_value() else decimal_text(value)


def summary(v: Verification) -> str:
    """The overall line: ``PASS: 4 of 4 customers within ±5 % of estimate.csv (2026-11)`` and what else."""
    checked = sum(c.figures[0].expected is not None for c in v.customers)
    failed = [c.customer for c in v.customers if c.result == "fail"]
    head = "PASS" if v.passed else "FAIL"
    text = f"{head}: {v.count('pass')} of {checked} customer(s) within ±{_pct(v.tolerance_pct)} % of {v.estimate}"
    text += f" ({v.span.label})"
    if failed:
        text += f"; failed: {', '.join(failed)}"
    outside = v.count("not in estimate")
    if outside:
        text += f"; {outside} customer(s) with figures not in the estimate (not checked; --strict fails them)"
    return text


def verify_table(v: Verification) -> Table:
    """One line per figure with its verdict; failed customers in red. Notes follow the table (``verify_notes``)."""
    table = Table(title=f"Verify {v.span.label} against {v.estimate} (±{_pct(v.tolerance_pct)} %)",
                  title_justify="left")  # fmt: skip
    for name in ("Customer", "Figure", "Expected", "Actual", "Diff", "Result"):
        table.add_column(name, justify="right" if name in ("Expected", "Actual", "Diff") else "left")
    for c in v.customers:
        style = "red" if c.result == "fail" else "green" if c.result == "pass" else "dim"
        for n, f in enumerate(c.figures):
            unknown = f.actual is None and f.figure == "cost" and c.unpriced_calls
            actual = UNPRICED if unknown else money(f.actual, v.currency)
            diff = NONE_TEXT if f.difference_pct is None else f"{f.difference_pct:+.2f} %"
            verdict = c.result if c.result == "not in estimate" or f.expected is None else (
                "pass" if f.passed else "fail")  # fmt: skip
            table.add_row(Text(c.customer if n == 0 else "", style=style), f.figure, money(f.expected, v.currency),
                          actual, diff, Text(verdict, style="red" if verdict == "fail" else style))  # fmt: skip
    return table


def verify_notes(v: Verification) -> list[str]:
    """``customer: why it failed`` for each failed customer."""
    return [f"{c.customer}: {c.note}" for c in v.customers if c.note]


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def verify_json(v: Verification) -> str:
    """The verdicts as JSON: money as exact strings, differences to two places, null for unknown."""
    body = {
        "period": v.span.label,
        "estimate": v.estimate,
        "tolerance_pct": _pct(v.tolerance_pct),
        "strict": v.strict,
        "currency": v.currency,
        "passed": v.passed,
        "summary": {"passed": v.count("pass"), "failed": v.count("fail"),
                    "not_in_estimate": v.count("not in estimate")},
        "customers": [
            {"customer": c.customer, "result": c.result, "note": c.note, "figures": [
                {"figure": f.figure, "expected": _amount(f.expected), "actual": _amount(f.actual),
                 "difference_pct": _amount(f.difference_pct), "passed": f.passed} for f in c.figures]}
            for c in v.customers
        ],
    }  # fmt: skip
    return json.dumps(body, indent=2)


def verify_csv(v: Verification) -> str:
    """The verdicts as CSV, one row per figure, with a header line (empty cells for unknown)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["customer", "result", "figure", "expected", "actual", "difference_pct", "passed", "note"])
    for c in v.customers:
        for f in c.figures:
            writer.writerow([c.customer, c.result, f.figure, _amount(f.expected) or "", _amount(f.actual) or "",
                             _amount(f.difference_pct) or "", "true" if f.passed else "false", c.note])  # fmt: skip
    return out.getvalue()
