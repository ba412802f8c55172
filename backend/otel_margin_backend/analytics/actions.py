"""Customer actions: what to do about each customer's margin in a month, from ``customer_actions()`` (0075).

Rules (in SQL, one place): cost unknown -> ``unpriced``; cost without revenue -> ``no revenue``; negative margin
-> ``reprice or throttle``; margin % below the floor -> ``monitor``; otherwise ``ok``. ``negative_two_months``
flags a margin negative in this month and the one before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from psycopg.rows import class_row
from rich.table import Table
from rich.text import Text

from otel_margin_backend.analytics.pnl import Period
from otel_margin_backend.analytics.render import csv_text, month_row_json
from otel_margin_backend.pipeline.money import UNPRICED, money
from otel_margin_backend.storage.database import AsyncConn, Conn
from otel_margin_backend.storage.exchange import Statement, Steps, arun, exchange, run

ACTIONS_SQL = "SELECT * FROM customer_actions(%s, %s)"


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One customer's month: its figures, the action, and whether its margin was negative two months running."""

    customer: str
    month: date
    revenue: Decimal | None
    cost: Decimal | None
    margin: Decimal | None
    margin_pct: Decimal | None
    previous_margin: Decimal | None
    negative_two_months: bool
    action: str
    unpriced_calls: int
    reporting_currency: str


@exchange()
def _actions(month: date, monitor_below: Decimal) -> Steps[list[ActionRow]]:
    return (yield Statement(ACTIONS_SQL, (month, monitor_below), class_row(ActionRow)))


def read_actions(conn: Conn, span: Period, monitor_below: Decimal) -> list[ActionRow]:
    """The actions of the UTC month ``span`` starts in, with ``monitor_below`` as the margin floor (percent)."""
    return run(conn, _actions(span.start.date(), monitor_below))


async def read_actions_async(conn: AsyncConn, span: Period, monitor_below: Decimal) -> list[ActionRow]:
    """``read_actions`` on an async connection."""
    return await arun(conn, _actions(span.start.date(), monitor_below))


def action_json(row: ActionRow) -> dict[str, object]:
    """A row as JSON-ready values: money as exact strings, the margin % to two places, the month as YYYY-MM."""
    return month_row_json(row)


def actions_table(rows: list[ActionRow], *, title: str) -> Table:
    """The actions as a table; negative margins in red, a second negative month as ``yes`` under ``2 mo``.

    At 80 columns the cells wrap (``reprice or`` over ``throttle``) rather than being cut.
    """
    table = Table(title=title, title_justify="left")
    for name in ("Customer", "Revenue", "AI cost", "Margin %", "Action", "2 mo"):
        table.add_column(name, justify="right" if name in ("Revenue", "AI cost", "Margin %") else "left")
    for row in rows:
        style = "red" if row.action == "reprice or throttle" else ""
        pct = "—" if row.margin_pct is None else f"{row.margin_pct:.2f} %"
        table.add_row(
            Text(row.customer, style=style),
            money(row.revenue, row.reporting_currency),
            UNPRICED if row.cost is None else money(row.cost, row.reporting_currency),
            Text(pct, style=style),
            Text(row.action, style=style),
            "yes" if row.negative_two_months else "",
        )
    return table


def actions_csv(rows: list[ActionRow]) -> str:
    """The actions as CSV with a header line (true/false for the flag, empty for unknown)."""
    return csv_text(list(ActionRow.__dataclass_fields__), [action_json(row) for row in rows])
