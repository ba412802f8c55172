"""The budget check an app asks before spending: ``GET /v1/budgets/check?customer=…&feature=…``, from memory.

``BudgetStates`` holds every budget's last evaluated status (the ``budget_status`` rows read right after each
``budget_evaluate()`` round of ``serve``, and after every REST change), indexed by customer, so a check is a dict
lookup and never touches the database. How stale it may be: ``as_of`` (the database clock when the rows were
read) lags the truth by at most ``evaluate_interval_s`` plus one evaluation's run time; when rounds fail (the
database is down) ``as_of`` stops moving and the answer says ``stale`` once it is more than twice the interval old.

Which budgets apply to a check of customer C (and feature F): those whose scope names C or no customer, and F or
no feature (without F: only those that name no feature), and neither a provider nor a model (the app asks before
it picks one). The answer's ``state`` is the worst of them, ``exceeded`` > ``critical`` > ``warning`` > ``unknown``
(a budget whose spend needs an exchange rate there is none of) > ``ok``; ``none`` when no budget applies, which
is also what an unknown customer gets (a customer only exists as spend). The thresholds are the budget's own, as
evaluated by ``budget_state()`` in SQL (default 75 / 90 / 100 %).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from otel_margin_backend.budgets import store
from otel_margin_backend.pipeline.errors import PermanentError, RetryableError
from otel_margin_backend.storage.database import AsyncConn

log = logging.getLogger(__name__)

PARAMETERS = ("customer", "feature")
"""The check's query parameters."""
RANK = {"exceeded": 5, "critical": 4, "warning": 3, "unknown": 2, "ok": 1}
"""Check states, worst first; a budget's ``no_fx_rate`` is ``unknown`` here."""
STALE_AFTER_ROUNDS = 2
"""``stale`` once the state is older than this many evaluation intervals (a round, or more, has failed)."""


@dataclass(frozen=True, slots=True)
class CheckedBudget:
    """One budget as a check shows it, made once per refresh so that answering is a lookup."""

    name: str
    customer: str | None
    feature: str | None
    rank: int
    percent_used: Decimal | None
    json: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    by_customer: Mapping[str | None, tuple[CheckedBudget, ...]]
    as_of: datetime
    refreshed_s: float
    """``time.monotonic()`` of the refresh."""


class BudgetStates:
    """The budget states ``serve`` keeps in memory for ``/v1/budgets/check``; refreshed by the evaluation loop."""

    def __init__(self, interval_s: float) -> None:
        """Start empty: checks answer 503 until the first refresh.

        Args:
            interval_s: Seconds between evaluations (``evaluate_interval_s``): the staleness bound answers state.
        """
        self.interval_s = interval_s
        self._snapshot: _Snapshot | None = None

    @property
    def as_of(self) -> datetime | None:
        """When the state in memory was computed (the database clock), or None before the first refresh."""
        return self._snapshot.as_of if self._snapshot else None

    async def refresh(self, conn: AsyncConn) -> None:
        """Read every budget's current status (``budget_status``) and make it the state checks answer from.

        Args:
            conn: An open connection.
        """
        statuses = await store.read_status(conn)
        if statuses:
            as_of = statuses[0].as_of  # the view's now(): every row is computed at it
        else:
            cur = await conn.execute("SELECT now()")
            row = await cur.fetchone()
            assert row is not None
            as_of = row[0]
        self.load(statuses, as_of=as_of)

    async def refresh_after_change(self, conn: AsyncConn) -> None:
        """``refresh`` after a change the caller has committed: a failure is logged, never raised (the change
        stands, and the next evaluation round refreshes).

        Args:
            conn: An open connection.
        """
        try:
            await self.refresh(conn)
        except Exception as exc:
            log.warning("budget states not refreshed after a change; the next evaluation round will",
                        extra={"error": str(exc)})  # fmt: skip

    def load(self, statuses: Sequence[store.BudgetStatus], *, as_of: datetime) -> None:
        """Replace the state with these rows (one swap: a check sees the old state or the new, never a mix).

        Args:
            statuses: ``budget_status`` rows.
            as_of: When they were computed.
        """
        by_customer: defaultdict[str | None, list[CheckedBudget]] = defaultdict(list)
        for status in statuses:
            if "provider" in status.scope or "model" in status.scope:
                continue
            checked = _checked(status)
            by_customer[checked.customer].append(checked)
        self._snapshot = _Snapshot({k: tuple(v) for k, v in by_customer.items()}, as_of, time.monotonic())

    def check(self, customer: str, feature: str | None = None) -> dict[str, Any]:
        """The answer of ``/v1/budgets/check`` for a customer (and feature).

        Args:
            customer: The customer id, as the spans carry it.
            feature: The feature, or None.

        Returns:
            The JSON answer (see ``budgets/README.md#checks-before-spending``).

        Raises:
            RetryableError: no state yet (the first evaluation has not finished): retry in a second.
        """
        snapshot = self._snapshot
        if snapshot is None:
            raise RetryableError("budget states are not computed yet (the first evaluation is running); retry",
                                 retry_after_s=1)  # fmt: skip
        found = [
            b
            for b in (*snapshot.by_customer.get(customer, ()), *snapshot.by_customer.get(None, ()))
            if b.feature is None or b.feature == feature
        ]
        found.sort(key=lambda b: (-b.rank, -(b.percent_used if b.percent_used is not None else -1), b.name))
        worst = found[0].json if found else None
        age_s = time.monotonic() - snapshot.refreshed_s
        return {
            "customer": customer,
            "feature": feature,
            "state": worst["state"] if worst else "none",
            "budget": worst["budget"] if worst else None,
            "spend": worst["spend"] if worst else None,
            "limit": worst["limit"] if worst else None,
            "percent_used": worst["percent_used"] if worst else None,
            "currency": worst["currency"] if worst else None,
            "period": worst["period"] if worst else None,
            "as_of": snapshot.as_of.isoformat(),
            "stale": age_s > STALE_AFTER_ROUNDS * self.interval_s,
            "evaluate_interval_s": self.interval_s,
            "budgets": [b.json for b in found],
        }


def parse_query(params: Mapping[str, str], multi: Sequence[tuple[str, str]]) -> tuple[str, str | None]:
    """The customer and feature of a check's query.

    Args:
        params: The query parameters.
        multi: Every (name, value) pair, repeats included.

    Returns:
        The customer and the feature (None when not given).

    Raises:
        PermanentError: an unknown or repeated parameter, or no customer; the message names the parameter.
    """
    names = [name for name, _ in multi]
    for name in names:
        if name not in PARAMETERS:
            shown = repr(name[:40]) if name.isprintable() else "(unprintable)"
            raise PermanentError(f"unknown query parameter {shown}; use {' and '.join(PARAMETERS)}")
        if names.count(name) > 1:
            raise PermanentError(f"query parameter {name!r} is given {names.count(name)} times; give it once")
    customer = params.get("customer", "")
    if not customer.strip():
        raise PermanentError("query parameter 'customer' is required: the customer id your spans carry, "
                             "e.g. /v1/budgets/check?customer=acct_123")  # fmt: skip
    feature = params.get("feature")
    if feature is not None and not feature.strip():
        raise PermanentError("query parameter 'feature' is empty: leave it out, or name the feature")
    return customer, feature


def _checked(status: store.BudgetStatus) -> CheckedBudget:
    state = "unknown" if status.state == "no_fx_rate" else status.state
    return CheckedBudget(
        name=status.budget,
        customer=status.scope.get("customer"),
        feature=status.scope.get("feature"),
        rank=RANK.get(state, RANK["unknown"]),
        percent_used=status.percent_used,
        json={
            "budget": status.budget,
            "scope": status.scope,
            "state": state,
            "spend": _text(status.spend),
            "limit": _text(status.limit_amount),
            "percent_used": _text(status.percent_used),
            "currency": status.currency,
            "period": {
                "kind": status.period,
                "start": status.period_start.isoformat(),
                "end": status.period_end.isoformat(),
            },
        },
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
