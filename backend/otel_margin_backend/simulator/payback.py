"""Payback of a swap: each candidate's migration cost, monthly savings and payback months, from SQL.

The figures come from ``swap_payback()`` (migration 0076), the function the Grafana simulator dashboard reads
through ``simulator_latest_payback``, so the CLI, REST and Grafana share one definition: migration cost =
engineering hours x hourly rate; monthly savings = the range's savings x 30 days / the range's length, to the
cent; payback = migration cost / monthly savings, to 0.1 month, and none when the monthly savings are not above 0.
One query per run, however many candidates.
"""

from __future__ import annotations

from dataclasses import replace

from otel_margin_backend.simulator.report import CandidateResult, GroupResult, Payback, Simulation
from otel_margin_backend.storage.database import AsyncConn, Conn
from otel_margin_backend.storage.exchange import Statement, Steps, arun, exchange, run

PAYBACK_SQL = """
SELECT p.migration_cost, p.monthly_savings, p.payback_months
FROM unnest(%s::numeric[]) WITH ORDINALITY AS s(savings, position)
CROSS JOIN LATERAL swap_payback(s.savings, %s, %s, %s, %s) p
ORDER BY s.position
"""


@exchange()
def _payback(simulation: Simulation) -> Steps[Simulation]:
    candidates = [c for g in simulation.groups for c in g.candidates]
    if not candidates:
        return simulation
    params = (
        [c.savings for c in candidates],
        simulation.start,
        simulation.end,
        simulation.engineering_hours,
        simulation.hourly_rate,
    )
    rows = iter((yield Statement(PAYBACK_SQL, params)))
    groups: list[GroupResult] = []
    for g in simulation.groups:
        ranked: list[CandidateResult] = [replace(c, payback=Payback(*next(rows))) for c in g.candidates]
        groups.append(replace(g, candidates=tuple(ranked)))
    return replace(simulation, groups=tuple(groups))


def fetch_payback(conn: Conn, simulation: Simulation) -> Simulation:
    """The simulation with every candidate's payback at its engineering hours and rate.

    Args:
        conn: A connection to a migrated database (0076 or later).
        simulation: The run.

    Returns:
        The same run, each ``CandidateResult.payback`` set.
    """
    return run(conn, _payback(simulation))


async def afetch_payback(conn: AsyncConn, simulation: Simulation) -> Simulation:
    """``fetch_payback`` on an async connection."""
    return await arun(conn, _payback(simulation))
