"""Showing P&L rows to people: a rich table, JSON or CSV; the table's money via ``pipeline.money`` (display only)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from rich.table import Table
from rich.text import Text

from otel_margin_backend.analytics.pnl import (
    PERCENT_PLACES,
    DataQuality,
    GroupBy,
    PnlRow,
    Projection,
    as_json,
    decimal_text,
)
from otel_margin_backend.pipeline.money import UNPRICED, cost_text, money


def percent(value: Decimal | None) -> str:
    """A percentage for tables, two decimals, or a dash when there is none."""
    return "—" if value is None else f"{value:.2f} %"


def pnl_table(rows: Sequence[PnlRow], *, by: GroupBy, title: str) -> Table:
    """The P&L rows as a table; unprofitable groups in red."""
    with_revenue = by in ("customer", "organization")
    table = Table(title=title, title_justify="left")
    table.add_column(by.capitalize())
    if with_revenue:
        table.add_column("Revenue", justify="right")
    table.add_column("AI cost", justify="right")
    if with_revenue:
        table.add_column("Margin", justify="right")
        table.add_column("Margin %", justify="right")
    else:
        table.add_column("Share of cost", justify="right")
    table.add_column("Calls", justify="right")
    table.add_column("Tokens in / out", justify="right")
    for row in rows:
        style = "red" if row.unprofitable else ""
        cells: list[str | Text] = [Text(row.key, style=style)]
        if with_revenue:
            cells.append(money(row.revenue, row.reporting_currency))
        cells.append(cost_text(row.cost, row.unpriced_calls, row.reporting_currency))
        if with_revenue:
            margin = (
                UNPRICED if row.cost is None and row.revenue is not None else money(row.margin, row.reporting_currency)
            )
            cells.append(Text(margin, style=style))
            cells.append(Text(percent(row.margin_pct), style=style))
        else:
            cells.append(percent(row.cost_share_pct))
        cells.append(f"{row.calls:,}")
        cells.append(f"{row.input_tokens:,} / {row.output_tokens:,}")
        table.add_row(*cells)
    return table


def quality_line(quality: DataQuality) -> str:
    """One line on the unattributed and unpriced shares under the table."""
    return (
        f"Unattributed cost: {percent(quality.unattributed_cost_pct)} · unpriced calls: {quality.unpriced_calls:,} "
        f"({percent(quality.unpriced_calls_pct)}) · estimated: {quality.estimated_calls:,} · missing usage: "
        f"{quality.missing_usage_calls:,}"
    )


def projection_line(p: Projection) -> str:
    """One line with the month-end projection."""
    return (
        f"{p.month:%Y-%m} is {p.elapsed_pct} % through: cost so far {money(p.cost_to_date)}, projected "
        f"{money(p.projected_cost)}; projected margin {money(p.projected_margin)} ({percent(p.projected_margin_pct)})"
    )


def to_json(rows: Sequence[PnlRow], **extra: object) -> str:
    """The P&L rows (and any extra keys) as JSON, money as exact strings."""
    return json.dumps({**extra, "rows": [as_json(r) for r in rows]}, indent=2)


def _csv_cell(value: object) -> object:
    # Spreadsheets and CSV readers take true/false (Python's True/False is neither); lists as a;b.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(map(str, value))
    return "" if value is None else value


def month_row_json(row: Any) -> dict[str, object]:
    """A month row (a dataclass) as JSON-ready values: money as exact strings, ``*_pct`` to two places, the month
    as YYYY-MM."""
    out: dict[str, object] = {}
    for key, value in dataclasses.asdict(row).items():
        if isinstance(value, Decimal):
            value = decimal_text(value.quantize(PERCENT_PLACES) if key.endswith("_pct") else value)
        elif isinstance(value, date):
            value = f"{value:%Y-%m}"
        out[key] = value
    return out


def csv_text(columns: Sequence[str], dicts: Sequence[dict[str, object]]) -> str:
    """Rows (as their JSON dicts) as CSV with a header line: true/false, a;b lists, empty cells for unknown."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for d in dicts:
        writer.writerow([_csv_cell(d[c]) for c in columns])
    return out.getvalue()


def to_csv(rows: Sequence[PnlRow]) -> str:
    """The P&L rows as CSV with a header line."""
    return csv_text(list(PnlRow.__dataclass_fields__), [as_json(r) for r in rows])
