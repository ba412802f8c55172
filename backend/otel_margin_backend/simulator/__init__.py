"""The model-swap cost simulator: each feature's real token shape re-priced on candidate models, ranked by
quality per dollar. See ``README.md`` in this folder.

Use ``create`` to build a ``Simulator``; ``cli/simulate.py`` is the ``otel-margin simulate`` command,
``routes.routes`` serves ``GET /v1/simulate`` and ``job.Scheduler`` materializes runs for dashboards.
"""

from __future__ import annotations

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pricing import CurrentPriceBook, PriceBook
from otel_margin_backend.simulator.config import DEFAULT_BENCHMARKS, DEFAULT_CANDIDATES, SimulatorConfig
from otel_margin_backend.simulator.report import CandidateResult, GroupResult, Simulation
from otel_margin_backend.simulator.simulator import SimulationRequest, Simulator

__all__ = [
    "DEFAULT_BENCHMARKS",
    "DEFAULT_CANDIDATES",
    "CandidateResult",
    "GroupResult",
    "Simulation",
    "SimulationRequest",
    "Simulator",
    "SimulatorConfig",
    "create",
]


def create(
    config: SimulatorConfig, book: PriceBook | CurrentPriceBook, quality: QualityTable | None = None
) -> Simulator:
    """The simulator a config describes; validated here, once.

    Args:
        config: The simulator config.
        book: The price book, or the service's live ``CurrentPriceBook``.
        quality: The quality table (bundled plus the user's file). Default: the bundled table.

    Returns:
        The simulator.

    Raises:
        PermanentError: a configured benchmark is not in the quality table.
    """
    return Simulator(config, book, quality)
