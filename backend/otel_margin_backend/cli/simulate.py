"""``otel-margin simulate``: the model-swap cost simulator from the command line.

Register with ``app.command()(simulate)`` in ``otel_margin_backend/cli/main.py``. The database comes from the usual
``OTEL_MARGIN_*`` settings, and the prices are the book ``serve`` prices with (the active stored price version, or
the bundled data, plus the overrides file); errors are one red line and exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from otel_margin_backend.cli.common import console, load_settings, user_errors

if TYPE_CHECKING:
    from otel_margin_backend.simulator.config import SimulatorConfig

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
    engineering_hours: Annotated[
        str | None,
        typer.Option(help="Engineering hours a swap takes, for its payback (default: the setting, 16)."),
    ] = None,
    hourly_rate: Annotated[
        str | None, typer.Option(help="USD per engineering hour (default: the setting, 150).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    quality_file: Annotated[
        Path | None, typer.Option(help="YAML extending the bundled quality table (your own eval scores).")
    ] = None,
    max_quality_drop: Annotated[
        str | None,
        typer.Option(help="Most benchmark points a suggestion may lose, or none (default: the setting, 10)."),
    ] = None,
) -> None:
    """Re-price each feature's recent calls on candidate models at current prices; rank by quality per dollar.

    Each suggestion shows its payback: engineering hours x hourly rate, over its savings scaled to 30 days.
    """
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
        request = build_request(feature=feature, customer=customer, candidates=candidates, start=start, end=end,
                                engineering_hours=engineering_hours, hourly_rate=hourly_rate)  # fmt: skip
        pricing = settings.pricing
        quality = QualityTable.load(quality_file or pricing.quality_file)
        config = settings.simulator
        if max_quality_drop is not None:
            config = _with_drop(config, max_quality_drop)
        with Store(settings.storage) as store, store.connection() as conn:
            simulator = Simulator(config, book_in_force(conn, pricing), quality)
            simulation = simulator.simulate(conn, request)
    if fmt == "json":
        typer.echo(json.dumps(to_json(simulation), indent=2))
    elif fmt == "csv":
        typer.echo(to_csv(simulation), nl=False)
    elif not simulation.groups:
        console.print("No model calls in the range.")
    else:
        console.print(table(simulation))


def _with_drop(config: SimulatorConfig, value: str) -> SimulatorConfig:
    from pydantic import ValidationError

    from otel_margin_backend.simulator.config import SimulatorConfig

    try:
        return SimulatorConfig.model_validate({**config.model_dump(), "max_quality_drop": value})
    except ValidationError:
        hint = "--max-quality-drop"
        raise typer.BadParameter(f"{value!r}: give a number of points >= 0, or none", param_hint=hint) from None
