"""Evaluating budgets: record each threshold crossing once per period, resolve what no longer holds.

The work is one SQL function, ``budget_evaluate()`` (migration 0051), so an evaluation is atomic, safe to run
from several processes at once (it takes ``budget_lock()``) and idempotent: running it again with nothing
changed records nothing. ``serve`` runs it on a schedule (``run_evaluations``); ``budgets apply`` and the REST
API run it after every change. Each of ``serve``'s rounds (``evaluate_round``) also refreshes the budget states
that ``GET /v1/budgets/check`` answers from (``check.BudgetStates``), so they are never older than one interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from otel_margin_backend.pipeline.errors import OtelMarginError
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors

if TYPE_CHECKING:  # the CLI imports this module; it needs neither the pool nor httpx
    from psycopg_pool import AsyncConnectionPool

    from otel_margin_backend.budgets.check import BudgetStates
    from otel_margin_backend.budgets.config import WebhookConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What one evaluation recorded."""

    crossed: int
    """Thresholds newly reached (one alert and one queued notification each)."""
    resolved: int
    """Open alerts resolved (one queued notification each)."""


async def evaluate(conn: AsyncConn, *, at: datetime | None = None) -> Evaluation:
    """Evaluate every budget once.

    Args:
        conn: An open connection (in autocommit mode, or inside the caller's transaction).
        at: Evaluate as of this time: its periods are current, and it is the time recorded on crossings.
            Default: the database's clock once the evaluation holds its lock (one clock for every process).

    Returns:
        How many crossings were recorded and alerts resolved.
    """
    cur = await conn.execute("SELECT crossed, resolved FROM budget_evaluate(%s::timestamptz)", (at,))
    row = await cur.fetchone()
    assert row is not None
    return Evaluation(crossed=int(row[0]), resolved=int(row[1]))


async def evaluate_round(
    pool: AsyncConnectionPool[AsyncConn], *, states: BudgetStates | None = None, evaluate_budgets: bool = True
) -> Evaluation:
    """One round of ``serve``'s evaluation: evaluate every budget, then refresh the in-memory states from it.

    Args:
        pool: The service's open connection pool.
        states: The states ``/v1/budgets/check`` answers from. Default: none to refresh.
        evaluate_budgets: False for a ``serve`` worker that is not the primary: only refresh the states (the
            ``budget_status`` view is computed when read, so they are as current as the primary's).

    Returns:
        What the evaluation recorded.

    Raises:
        OtelMarginError: the database failed (translated by ``db_errors``); the states are left as they were.
    """
    with db_errors():
        async with pool.connection() as conn:
            result = await evaluate(conn) if evaluate_budgets else Evaluation(crossed=0, resolved=0)
            if states is not None:
                await states.refresh(conn)
    return result


async def run_evaluations(
    pool: AsyncConnectionPool[AsyncConn],
    interval_s: float,
    *,
    webhook: WebhookConfig | None = None,
    metrics: Metrics = NOOP,
    states: BudgetStates | None = None,
    ready: asyncio.Event | None = None,
    evaluate: bool = True,
) -> None:
    """Evaluate every ``interval_s`` until cancelled; with a webhook, also deliver its notifications.

    Never raises for a failed evaluation or delivery (the database may be down for a while): the failure is
    logged and the next round tries again. Cancel the task to stop; a delivery in flight is abandoned and
    retried by the next run, so nothing is lost.

    Args:
        pool: The service's open connection pool.
        interval_s: Seconds between evaluations.
        webhook: Where to post crossings and resolutions. Default: none, or one without a URL (they stay queued in
            the outbox).
        metrics: Where the evaluation's lag (seconds since the last completed one) and webhook failures go.
        states: Refreshed after every evaluation, for ``/v1/budgets/check``. Default: none.
        ready: Set once the first round has finished (whether it succeeded or not), so ``serve`` can start
            answering checks with a state. Default: none.
        evaluate: False for a ``serve`` worker that is not the primary: the rounds only refresh ``states``, and
            nothing is delivered (the primary evaluates and sends the webhooks).
    """
    from otel_margin_backend.budgets.webhook import run_deliveries, target

    if webhook is not None and (webhook.url is None or not evaluate):
        webhook = None
    wake = asyncio.Event()
    started = time.time()
    last_done: list[float] = []
    # Lag counts from start until the first evaluation completes, so a database down from the start shows too.
    metrics.watch("budget_lag", lambda: time.time() - (last_done[-1] if last_done else started))
    log.info(
        "budget evaluation started" if evaluate else "budget states followed (another worker evaluates)",
        extra={"interval_s": interval_s, "webhook": target(webhook.url) if webhook and webhook.url else None},
    )
    try:
        async with asyncio.TaskGroup() as tasks:
            if webhook is not None:
                tasks.create_task(run_deliveries(pool, webhook, wake=wake, metrics=metrics), name="budget-webhook")
            while True:
                try:
                    result = await evaluate_round(pool, states=states, evaluate_budgets=evaluate)
                except OtelMarginError as exc:  # the database failed (translated): the next round tries again
                    log.warning("budget evaluation failed; retrying next round", extra={"error": str(exc)})
                except Exception:
                    log.exception("budget evaluation failed unexpectedly; retrying next round")
                else:
                    last_done[:] = [time.time()]
                    if result.crossed or result.resolved:
                        log.info("budget thresholds changed", extra={"crossed": result.crossed,
                                                                      "resolved": result.resolved})  # fmt: skip
                        wake.set()
                if ready is not None:
                    ready.set()
                await asyncio.sleep(interval_s)
    finally:
        log.info("budget evaluation stopped")
