"""``otel-margin verify``: the rollout gate, each customer's cost (and margin) against the user's own estimate.

Register with ``app.command()(verify)`` in ``otel_margin_backend/cli/main.py``. Exit status, for cron and CI:
0 every customer checked is within the tolerance, 1 one is not (or the database could not be read), 2 the input
is bad (the estimate file, the tolerance, the range, an option). The rules are in ``analytics/verify.py`` and
docs/rollout.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from otel_margin_backend.cli.common import console, err, fail, load_settings, user_errors

FORMATS = ("table", "json", "csv")
MAX_PROBLEMS_SHOWN = 20
BAD_INPUT = 2
"""The exit status of bad input, typer's own for a bad option."""


def verify(
    estimate: Annotated[
        Path, typer.Option("--estimate", help="Your estimate CSV: customer_id,cost[,revenue][,margin] (a header row).")
    ],
    tolerance: Annotated[str, typer.Option(help="Largest relative difference that passes: 5% or 2.5.")] = "5%",
    month: Annotated[str | None, typer.Option(help="Calendar month, e.g. 2026-11 (default: this month).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First UTC day, e.g. 2026-11-01 (included).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last UTC day, included.")] = None,
    customer: Annotated[
        list[str] | None, typer.Option("--customer", help="Check only this customer; repeat for several (a canary).")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on customers with figures not in the estimate.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Check each customer's cost (and margin) in a range against your estimate: exit 0 pass, 1 fail, 2 bad input."""
    from otel_margin_backend.analytics import verify as gate
    from otel_margin_backend.analytics.estimate import EstimateError, read_estimate
    from otel_margin_backend.analytics.pnl import period, read_pnl
    from otel_margin_backend.pipeline.errors import PermanentError
    from otel_margin_backend.storage.database import Store

    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r}: use table, json or csv", param_hint="--format")
    try:
        tolerance_pct = gate.parse_tolerance(tolerance)
        span = period(month=month, start=start, end=end)
    except PermanentError as exc:
        raise fail(str(exc), code=BAD_INPUT) from None
    settings = load_settings()
    currency = settings.revenue.reporting_currency
    try:
        sheet = read_estimate(estimate, currency)
    except EstimateError as exc:
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            err.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
        if len(exc.problems) > MAX_PROBLEMS_SHOWN:
            err.print(f"... and {len(exc.problems) - MAX_PROBLEMS_SHOWN} more", highlight=False)
        raise fail(f"{len(exc.problems)} problem(s) in {estimate}: fix them and run verify again",
                   code=BAD_INPUT) from None  # fmt: skip
    except PermanentError as exc:  # not text: binary, not UTF-8, unreadable (the message never quotes the file)
        raise fail(str(exc), code=BAD_INPUT) from None
    if sheet.ignored_columns:
        err.print(f"warning: ignored column(s) of {escape(str(estimate))}: {escape(', '.join(sheet.ignored_columns))}",
                  highlight=False, soft_wrap=True)  # fmt: skip
    with user_errors(), Store(settings.storage) as store, store.connection() as conn:
        rows = read_pnl(conn, span, "customer")
    try:
        result = gate.verify(sheet, rows, span=span, tolerance_pct=tolerance_pct, customers=customer or (),
                             strict=strict, currency=currency)  # fmt: skip
    except PermanentError as exc:
        raise fail(str(exc), code=BAD_INPUT) from None
    if fmt == "json":
        console.print_json(gate.verify_json(result))
    elif fmt == "csv":
        console.out(gate.verify_csv(result), end="")
    else:
        console.print(gate.verify_table(result))
        for note in gate.verify_notes(result):
            console.print(note, highlight=False, markup=False, soft_wrap=True)
        console.print(gate.summary(result), style="green" if result.passed else "bold red", highlight=False,
                      markup=False, soft_wrap=True)  # fmt: skip
    if not result.passed:
        raise typer.Exit(1)
