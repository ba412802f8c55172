"""Materialized runs: written whole, the latest-run view shows the newest, old runs are pruned."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from otel_margin_backend.simulator import Simulator, SimulatorConfig, create
from otel_margin_backend.simulator.results import save_run
from tests.backend.simulator.calls import AT, BOOK, call
from tests.support.events import run, write
from tests.support.stores import READER_ROLE

CANDIDATES = ("openai/gpt-4.1-mini", "openai/gpt-4o-mini", "openai/gpt-5-mini")


def seed(url: str) -> None:
    events = [call((150_000, 0, 0, 900, 0), feature="contracts", provider="openai", model="gpt-4.1")]
    events += [call((4_000, 1_000, 0, 300, 0), feature="chat", provider="openai", model="gpt-4.1") for _ in range(3)]
    run(write(url, events))


def simulator(**config: object) -> Simulator:
    return create(SimulatorConfig.model_validate({"candidates": CANDIDATES, **config}), BOOK)


def latest(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT feature, candidate, simulated_cost, savings, savings_percent, excluded_reason, rank, suggested,"
            " quality_candidate, computed_at FROM simulator_latest ORDER BY feature, rank NULLS LAST, candidate"
        ).fetchall()


@pytest.mark.store
def test_a_run_is_stored_as_computed_and_the_view_shows_the_latest(db_url: str) -> None:
    seed(db_url)
    sim = simulator()
    with psycopg.connect(db_url, autocommit=True) as conn:
        first = sim.simulate(conn, at=AT)
        first_id = save_run(conn, first, keep_runs=5)
        second = sim.simulate(conn, at=AT + timedelta(hours=1))
        second_id = save_run(conn, second, keep_runs=5)

    assert second_id > first_id
    rows = latest(db_url)
    expected = [
        (g.feature, c.candidate, c.simulated_cost, c.savings, c.savings_percent, c.excluded, c.rank, c.suggested,
         c.quality)
        for g in sorted(second.groups, key=lambda g: g.feature)
        for c in sorted(g.candidates, key=lambda c: (c.rank is None, c.rank or 0, c.candidate))
    ]  # fmt: skip
    assert [r[:-1] for r in rows] == expected
    assert {r[-1] for r in rows} == {AT + timedelta(hours=1)}
    contracts_mini = next(r for r in rows if r[0] == "contracts" and r[1] == "openai/gpt-4o-mini")
    assert contracts_mini[5] == "context window 128,000 < largest input 150,000 tokens"
    assert sum(1 for r in rows if r[7]) == 2  # one suggestion per feature
    assert all(isinstance(r[2], Decimal) for r in rows)


@pytest.mark.store
def test_old_runs_are_pruned(db_url: str) -> None:
    seed(db_url)
    sim = simulator()
    with psycopg.connect(db_url, autocommit=True) as conn:
        ids = [save_run(conn, sim.simulate(conn, at=AT + timedelta(hours=h)), keep_runs=2) for h in range(4)]
        kept = [row[0] for row in conn.execute("SELECT run_id FROM simulator_runs ORDER BY run_id").fetchall()]
        results = conn.execute("SELECT DISTINCT run_id FROM simulator_results ORDER BY 1").fetchall()

    assert kept == ids[-2:]
    assert [r[0] for r in results] == ids[-2:]


@pytest.mark.store
def test_dashboards_can_read_the_results(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT has_table_privilege(%(r)s, 'simulator_latest', 'SELECT'),"
            " has_table_privilege(%(r)s, 'simulator_results', 'SELECT'),"
            " has_table_privilege(%(r)s, 'simulator_runs', 'SELECT'),"
            " has_table_privilege(%(r)s, 'simulator_results', 'INSERT')",
            {"r": READER_ROLE},
        ).fetchone()

    assert row == (True, True, True, False)
