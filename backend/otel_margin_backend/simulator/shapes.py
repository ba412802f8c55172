"""The observed token shape of each feature's calls, read from ``usage_events`` in one aggregate query.

What the simulator needs from every call is its token vector (input, cache read, cache write, output,
reasoning). It does not need the calls one by one: at fixed prices a call's cost is an affine function of its
token vector *within one long-context tier* (``repricing.py``), so the exact cost of many calls is the cost of
their summed vector plus one per-call term, tier by tier. The query therefore groups calls by feature, model and
*input-tier interval* (between consecutive long-context thresholds found anywhere in the price data) and sums
each token kind: a histogram of input sizes at exactly the resolution pricing depends on. Nothing is rounded or
sampled, and 10M calls are one parallel scan.

Calls left out, and counted as skipped: ``missing_usage`` calls (no token counts) and calls whose counts
contradict each other (more cache tokens than input tokens, or more reasoning than output tokens), which the
price book refuses to price for any model that prices those kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import sql

from otel_margin_backend.storage.database import AsyncConn, Conn
from otel_margin_backend.storage.exchange import Statement, Steps, arun, exchange, run

TokenSums = tuple[int, int, int, int, int]
"""Summed (input, cache read, cache write, output, reasoning) tokens, in the price book's usage order."""


@dataclass(frozen=True, slots=True)
class TierSlice:
    """The calls of one feature and model whose input falls in one long-context tier interval."""

    index: int
    """Interval number: 0 is ``input <= tier_starts[0]``; ``i`` is ``tier_starts[i-1] < input <= tier_starts[i]``."""
    events: int
    """Calls in the interval."""
    tokens: TokenSums
    """Their summed token vector."""


@dataclass(frozen=True, slots=True)
class ShapeGroup:
    """Every simulated call of one feature on one model, as sufficient statistics for exact re-pricing."""

    feature: str
    provider: str
    model: str
    slices: tuple[TierSlice, ...]
    """Non-empty tier intervals, lowest first."""
    recorded_cost: Decimal
    """Sum of the stored ``cost_total`` of these calls (the price in force when each ran); unpriced calls add 0."""
    unpriced_events: int
    """Calls among them stored unpriced."""
    max_input_tokens: int
    """The largest input of any call (for the context-window check)."""
    embeddings_only: bool
    """True when every call was an ``embeddings`` operation."""
    skipped_events: int = 0
    """Calls of this feature and model left out (missing usage, contradictory counts)."""

    @property
    def events(self) -> int:
        """Calls simulated."""
        return sum(s.events for s in self.slices)

    @property
    def tokens(self) -> TokenSums:
        """The summed token vector of every simulated call."""
        sums = [0, 0, 0, 0, 0]
        for s in self.slices:
            for k in range(5):
                sums[k] += s.tokens[k]
        return (sums[0], sums[1], sums[2], sums[3], sums[4])


@dataclass(frozen=True, slots=True)
class ShapeQuery:
    """Which calls to read."""

    start: datetime
    """First instant included."""
    end: datetime
    """First instant excluded."""
    feature: str | None = None
    """Only this feature, or all."""
    customer: str | None = None
    """Only this customer's calls, or all."""


_SELECT = """
SELECT feature, provider, model,
       CASE WHEN status <> 'missing_usage'
                 AND cache_read_tokens + cache_write_tokens <= input_tokens
                 AND reasoning_tokens <= output_tokens
            THEN width_bucket(input_tokens - 1, {tiers})
            ELSE -1
       END AS tier,
       count(*),
       sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens),
       max(input_tokens),
       count(*) FILTER (WHERE status = 'unpriced'),
       coalesce(sum(cost_total), 0),
       bool_and(coalesce(operation = 'embeddings', false))
FROM usage_events
WHERE {where}
GROUP BY 1, 2, 3, 4
"""
"""Tier ``-1`` collects the calls left out. The planner cannot estimate how few groups there are (it guesses
hundreds of thousands from the expression), so ``_PLANNER`` steers it to a parallel hash aggregate and keeps JIT
compilation, which costs more than it saves on a per-chunk plan, out of the way: 4x faster on 1M calls."""

_PLANNER = ("SET LOCAL jit = off", "SET LOCAL enable_sort = off")


def build_query(query: ShapeQuery, tier_starts: Sequence[int]) -> tuple[sql.Composed, dict[str, Any]]:
    """The aggregate SQL and its parameters.

    Args:
        query: The calls to read.
        tier_starts: Ascending long-context thresholds (a call is in a higher tier when ``input > start``).

    Returns:
        The statement and its parameters.
    """
    where = [sql.SQL("time >= %(start)s"), sql.SQL("time < %(end)s")]
    params: dict[str, Any] = {"start": query.start, "end": query.end, "tiers": list(tier_starts)}
    if query.feature is not None:
        where.append(sql.SQL("feature = %(feature)s"))
        params["feature"] = query.feature
    if query.customer is not None:
        where.append(sql.SQL("customer_id = %(customer)s"))
        params["customer"] = query.customer
    statement = sql.SQL(_SELECT).format(tiers=sql.SQL("%(tiers)s::bigint[]"), where=sql.SQL(" AND ").join(where))
    return statement, params


@exchange(transaction=True)
def shapes_exchange(query: ShapeQuery, tier_starts: Sequence[int]) -> Steps[list[ShapeGroup]]:
    """Read the shape of every feature and model in range: the one exchange behind both fetch functions.

    Args:
        query: The calls to read.
        tier_starts: Ascending long-context thresholds.

    Yields:
        The planner settings (``SET LOCAL``, hence the transaction), then the aggregate query.

    Returns:
        One group per (feature, provider, model) with at least one call, skipped calls included.
    """
    statement, params = build_query(query, tier_starts)
    for setting in _PLANNER:
        yield Statement(setting)
    return collect((yield Statement(statement, params)))


def fetch_shapes(conn: Conn, query: ShapeQuery, tier_starts: Sequence[int]) -> list[ShapeGroup]:
    """``shapes_exchange`` on a sync connection (the CLI)."""
    return run(conn, shapes_exchange(query, tier_starts))


async def afetch_shapes(conn: AsyncConn, query: ShapeQuery, tier_starts: Sequence[int]) -> list[ShapeGroup]:
    """``shapes_exchange`` on an async connection (REST and the scheduler)."""
    return await arun(conn, shapes_exchange(query, tier_starts))


@dataclass(slots=True)
class _Group:
    """A group being folded from the query's rows."""

    slices: list[TierSlice]
    cost: Decimal = Decimal(0)
    unpriced: int = 0
    max_input: int = 0
    embeddings: bool = True
    skipped: int = 0


def collect(rows: Sequence[tuple[Any, ...]]) -> list[ShapeGroup]:
    """Fold the query's rows (one per group and tier; tier -1 holds the calls left out) into groups.

    Args:
        rows: The aggregate query's rows.

    Returns:
        The groups, in (feature, provider, model) order.
    """
    groups: dict[tuple[str, str, str], _Group] = {}
    for (feature, provider, model, tier, events, s_in, s_cr, s_cw, s_out, s_rs,
         max_input, unpriced, cost, embeddings) in rows:  # fmt: skip
        group = groups.setdefault((feature, provider, model), _Group([]))
        if tier < 0:
            group.skipped += events
            continue
        group.slices.append(TierSlice(tier, events, (int(s_in), int(s_cr), int(s_cw), int(s_out), int(s_rs))))
        group.cost += cost
        group.unpriced += unpriced
        group.max_input = max(group.max_input, max_input)
        group.embeddings = group.embeddings and embeddings
    return [
        ShapeGroup(
            feature=feature,
            provider=provider,
            model=model,
            slices=tuple(sorted(g.slices, key=lambda s: s.index)),
            recorded_cost=g.cost,
            unpriced_events=g.unpriced,
            max_input_tokens=g.max_input,
            embeddings_only=bool(g.slices) and g.embeddings,
            skipped_events=g.skipped,
        )
        for (feature, provider, model), g in sorted(groups.items())
    ]
