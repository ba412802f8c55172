"""Materialized runs: a simulation written to ``simulator_runs`` / ``simulator_results`` for dashboards.

Each run is written in one transaction (the ``simulator_latest`` view never shows half a run), and runs
beyond ``keep_runs`` are deleted in the same transaction, oldest first.
"""

from __future__ import annotations

from typing import Any

from otel_margin_backend.simulator.report import Simulation
from otel_margin_backend.storage.database import AsyncConn, Conn
from otel_margin_backend.storage.exchange import Statement, Steps, arun, exchange, run

_INSERT_RUN = """
INSERT INTO simulator_runs (computed_at, period_start, period_end, price_version, override_version, candidates, groups,
                            engineering_hours, hourly_rate)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING run_id
"""

RESULT_COLUMNS = (
    "run_id", "computed_at", "feature", "provider", "model", "candidate", "candidate_model", "events",
    "skipped_events", "cost", "current_cost", "simulated_cost", "savings", "savings_percent", "benchmark",
    "quality_current", "quality_candidate", "quality_per_dollar", "max_input_tokens", "context_window",
    "excluded_reason", "rank", "suggested",
)  # fmt: skip
"""Columns of ``simulator_results``, in the order ``result_rows`` fills them."""

_INSERT_RESULT = (
    f"INSERT INTO simulator_results ({', '.join(RESULT_COLUMNS)}) VALUES ({', '.join(['%s'] * len(RESULT_COLUMNS))})"
)

_PRUNE = """
DELETE FROM simulator_runs
WHERE run_id IN (SELECT run_id FROM simulator_runs ORDER BY computed_at DESC, run_id DESC OFFSET %s)
"""


def result_rows(simulation: Simulation, run_id: int | None = None) -> list[tuple[Any, ...]]:
    """One row per feature, current model and candidate, in ``RESULT_COLUMNS`` order.

    Args:
        simulation: The run.
        run_id: The run's id (None for a CSV export, which has no run).

    Returns:
        The rows.
    """
    rows = []
    for g in simulation.groups:
        for c in g.candidates:
            rows.append(
                (
                    run_id, simulation.computed_at, g.feature, g.provider, g.model, c.candidate, c.model, g.events,
                    g.skipped_events, g.cost, g.current_cost, c.simulated_cost, c.savings, c.savings_percent,
                    g.benchmark, g.quality, c.quality, c.quality_per_dollar, g.max_input_tokens, c.context_window,
                    c.excluded, c.rank, c.suggested,
                )
            )  # fmt: skip
    return rows


def _run_row(simulation: Simulation) -> tuple[Any, ...]:
    return (
        simulation.computed_at,
        simulation.start,
        simulation.end,
        simulation.price_version,
        simulation.override_version,
        list(simulation.candidates),
        len(simulation.groups),
        simulation.engineering_hours,
        simulation.hourly_rate,
    )


@exchange(transaction=True)
def _save(simulation: Simulation, keep_runs: int) -> Steps[int]:
    (row,) = yield Statement(_INSERT_RUN, _run_row(simulation))
    run_id = int(row[0])
    yield Statement(_INSERT_RESULT, each=result_rows(simulation, run_id))
    yield Statement(_PRUNE, (keep_runs,))
    return run_id


def save_run(conn: Conn, simulation: Simulation, *, keep_runs: int) -> int:
    """Write a run and prune old ones, in one transaction.

    Args:
        conn: A connection to a migrated database.
        simulation: The run.
        keep_runs: Runs to keep, this one included.

    Returns:
        The new run's id.
    """
    return run(conn, _save(simulation, keep_runs))


async def asave_run(conn: AsyncConn, simulation: Simulation, *, keep_runs: int) -> int:
    """``save_run`` on an async connection (the scheduler)."""
    return await arun(conn, _save(simulation, keep_runs))
