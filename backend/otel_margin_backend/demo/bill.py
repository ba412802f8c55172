"""The demo's provider bill: what OpenAI would have charged for the demo month, with one known gap.

Per UTC day and model the bill holds the demo app's calls exactly as the spans priced them (project
``proj_demo_app``, mapped to service ``demo-app``), plus the calls of a nightly batch job nobody instrumented
(project ``proj_demo_nightly``, mapped to ``nightly-batch``): a twentieth more tokens, billed at the same rate. So
``bills reconcile`` shows a gap of about 4.76 % of the bill, all of it unseen and named ``nightly-batch``.

The bill is derived from the stored spans, so a rerun over the same days is the same bill (its import stores
nothing); ``--reset`` removes it with the demo's other data (imports whose source is ``demo``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from otel_margin_backend.bills import store as bill_store
from otel_margin_backend.bills.lines import BillLine, by_day
from otel_margin_backend.storage.database import Conn

SOURCE = "demo"
STREAM = "demo.invoice"
APP_PROJECT, BATCH_PROJECT = "proj_demo_app", "proj_demo_nightly"
BATCH_SERVICE = "nightly-batch"
BATCH_SHARE = 20
"""The batch job uses a twentieth of the app's tokens (per day and model, rounded down)."""
_PLACES = Decimal("0.0000000001")


def book_bill(conn: Conn, environment: str, start: datetime, end: datetime) -> bill_store.ImportResult | None:
    """Import the demo's bill for the calls of ``environment`` in ``[start, end)``, and map its projects.

    Returns:
        What was stored, or None when there were no priced calls.
    """
    rows = conn.execute(
        "SELECT (time AT TIME ZONE 'UTC')::date, provider, model, count(*), sum(input_tokens), sum(cache_read_tokens),"
        " sum(cache_write_tokens), sum(output_tokens), sum(cost_total)"
        " FROM usage_events WHERE environment = %s AND time >= %s AND time < %s AND status = 'priced'"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        (environment, start, end),
    ).fetchall()
    lines: dict[str, list[BillLine]] = {}
    for day, provider, model, calls, inp, read, write, out, cost in rows:
        app = BillLine(STREAM, day, model=model, project=APP_PROJECT, line_item=f"{model}, tokens", requests=calls,
                       input_tokens=inp, cache_read_tokens=read, cache_write_tokens=write, output_tokens=out,
                       amount=cost)  # fmt: skip
        b_in, b_out = inp // BATCH_SHARE, out // BATCH_SHARE
        batch_amount = (cost * (b_in + b_out) / (inp + out)).quantize(_PLACES) if inp + out else Decimal(0)
        batch = BillLine(STREAM, day, model=model, project=BATCH_PROJECT, line_item=f"{model}, tokens",
                         requests=calls // BATCH_SHARE, input_tokens=b_in, output_tokens=b_out,
                         amount=batch_amount)  # fmt: skip
        lines.setdefault(provider, []).extend([app, batch])
    result = None
    for provider, provider_lines in lines.items():
        first, last = min(x.day for x in provider_lines), max(x.day for x in provider_lines)
        import_id = bill_store.begin(conn, provider, SOURCE, first, last, "cli")
        result = bill_store.store(conn, import_id, provider, by_day(provider_lines, [STREAM], first, last))
        for project, service, env in ((APP_PROJECT, "demo-app", environment), (BATCH_PROJECT, BATCH_SERVICE, None)):
            conn.execute(
                "INSERT INTO bill_mappings (provider, kind, external_id, service, environment)"
                " VALUES (%s, 'project', %s, %s, %s) ON CONFLICT DO NOTHING",
                (provider, project, service, env),
            )
    return result


def remove_bill(conn: Conn) -> int:
    """Delete the demo's bill imports (their days and lines go with them) and its project mappings."""
    removed = conn.execute("DELETE FROM bill_imports WHERE source = %s", (SOURCE,)).rowcount
    conn.execute("DELETE FROM bill_mappings WHERE kind = 'project' AND external_id IN (%s, %s)",
                 (APP_PROJECT, BATCH_PROJECT))  # fmt: skip
    return removed
