"""``otel-margin simulate``: the model-swap cost simulator from the command line.

Register with ``app.command()(simulate)`` in ``otel_margin_backend/cli/main.py``. The database comes from the usual
``OTEL_MARGIN_*`` settings, and the prices are the book ``serve`` prices with (the active stored price version, or
the bundled data, plus the overrides file); errors are one red line and exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from otel_margin_backend.cli.common import console, load_settings, user_errors

FORMATS = ("table", "json", "csv")


def simulate(
    feature: Annotated[str | None, typer.Option(help="Only this feature (default: every feature).")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's calls (default: every customer).")] = None,
    candidates: Annotated[
        str | None,
        typer.Option(help="Candidate models, comma-separated provider/model (default: the curated list)."),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="First day or instant, e.g. 2026-11-01 (default: 30 days ago).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (inclusive) or end instant (default: now).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    quality_file: Annotated[
        Path | None, typer.Option(help="YAML extending the bundled quality table (your own eval scores).")
    ] = None,
) -> None:
    """Re-price each feature's recent calls on candidate models at current prices; rank by quality per dollar."""
    from otel_margin_backend.modelinfo.quality import QualityTable
    from otel_margin_backend.pricedata.store import book_in_force
    from otel_margin_backend.simulator.params import build_request
    from otel_margin_backend.simulator.render import table, to_csv, to_json
    from otel_margin_backend.simulator.simulator import Simulator
    from otel_margin_backend.storage.database import Store

    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r}: use table, json or csv", param_hint="--format")
    settings = load_settings()
    with user_errors():
        request = build_request(feature=feature, customer=customer, candidates=candidates, start=start, end=end)
        pricing = settings.pricing
        quality = QualityTable.load(quality_file or pricing.quality_file)
        with Store(settings.storage) as store, store.connection() as conn:
            simulator = Simulator(settings.simulator, book_in_force(conn, pricing), quality)
            simulation = simulator.simulate(conn, request)
    if fmt == "json":
        typer.echo(json.dumps(to_json(simulation), indent=2))
    elif fmt == "csv":
        typer.echo(to_csv(simulation), nl=False)
    elif not simulation.groups:
        console.print("No model calls in the range.")
    else:
        console.print(table(simulation))
