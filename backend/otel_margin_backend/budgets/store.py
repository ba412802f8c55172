"""Budgets in the database: definitions (apply a file, put, delete), their status and their alerts.

Every change takes ``budget_lock()`` first, as ``budget_evaluate()`` does, and runs in one transaction with the
evaluation that follows it: a budget and the alerts it causes are never seen half-done. Status is read from the
``budget_status`` view (or ``budget_status_at()`` for another time), the same SQL Grafana reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from psycopg import errors as pgerrors
from psycopg import sql

from otel_margin_backend.budgets.definition import BudgetConfig, BudgetsFileConfig
from otel_margin_backend.budgets.errors import BudgetManagedByFile, BudgetNotFound
from otel_margin_backend.budgets.evaluation import Evaluation, evaluate
from otel_margin_backend.pipeline.errors import StoreUnavailable
from otel_margin_backend.storage.database import AsyncConn

ManagedBy = Literal["file", "api"]
Change = Literal["created", "updated", "unchanged"]

_BUDGET_COLUMNS = (
    "name, description, customer_id, feature, provider, model, period, currency, limit_amount, revenue_percent, "
    "warning_percent, critical_percent, exceeded_percent, managed_by, created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class StoredBudget:
    """A budget as stored: its definition and who manages it."""

    config: BudgetConfig
    managed_by: ManagedBy
    """``file`` (``budgets apply``) or ``api`` (REST)."""
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The REST shape of the definition."""
        return {
            **self.config.as_json(),
            "managed_by": self.managed_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One row of ``budget_status``: a budget in its current period."""

    budget: str
    description: str
    scope: dict[str, str]
    scope_label: str
    period: str
    period_start: datetime
    period_end: datetime
    currency: str
    limit_kind: str
    """``amount`` or ``percent_of_revenue``."""
    percent_of_revenue: Decimal | None
    revenue: Decimal | None
    """Net revenue of the period in ``currency`` (percent-of-revenue budgets only)."""
    limit_amount: Decimal
    spend: Decimal | None
    """AI cost of the period in ``currency``; None without an exchange rate."""
    spend_usd: Decimal
    percent_used: Decimal | None
    """Spend / limit x 100, truncated to 2 decimals; None when the limit is 0."""
    forecast: Decimal | None
    """Run-rate spend at period end: spend / elapsed fraction of the period, rounded to 2 decimals."""
    forecast_percent: Decimal | None
    state: str
    """``ok``, ``warning``, ``critical``, ``exceeded`` or ``no_fx_rate``."""
    warning_percent: Decimal | None
    critical_percent: Decimal | None
    exceeded_percent: Decimal
    unpriced_calls: int
    """Calls in scope that could not be priced: the spend leaves them out."""
    managed_by: str
    as_of: datetime

    def as_json(self) -> dict[str, Any]:
        """JSON values; decimals as exact strings, times as ISO 8601."""
        return {k: _json_value(getattr(self, k)) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class Alert:
    """One threshold crossing of ``budget_alerts``."""

    id: int
    budget: str
    scope_label: str
    period: str
    period_start: datetime
    period_end: datetime
    severity: str
    threshold_percent: Decimal
    currency: str
    crossed_at: datetime
    spend_at_crossing: Decimal
    limit_at_crossing: Decimal
    resolved_at: datetime | None
    resolution: str | None
    spend_at_resolution: Decimal | None
    limit_at_resolution: Decimal | None

    def as_json(self) -> dict[str, Any]:
        """JSON values; decimals as exact strings, times as ISO 8601."""
        return {k: _json_value(getattr(self, k)) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class BudgetChanges:
    """What ``apply_budgets`` changed (or, with ``dry_run``, would change)."""

    created: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    evaluation: Evaluation | None
    """The evaluation run after the change; None for a dry run."""

    @property
    def changed(self) -> bool:
        """True when applying the file created, updated or removed a budget."""
        return bool(self.created or self.updated or self.removed)


@asynccontextmanager
async def _migrated() -> AsyncIterator[None]:
    """Turn "no such table/function" into one line telling the user to migrate."""
    try:
        yield
    except (pgerrors.UndefinedTable, pgerrors.UndefinedFunction) as exc:
        reason = str(exc).splitlines()[0]
        raise StoreUnavailable(f"the database has no budgets yet ({reason}): run `otel-margin migrate`") from None


async def list_budgets(conn: AsyncConn) -> list[StoredBudget]:
    """Every budget, by name.

    Args:
        conn: An open connection.

    Returns:
        The budgets.
    """
    async with _migrated():
        cur = await conn.execute(f"SELECT {_BUDGET_COLUMNS} FROM budgets ORDER BY name")
        return [_budget(row) for row in await cur.fetchall()]


async def get_budget(conn: AsyncConn, name: str) -> StoredBudget | None:
    """One budget, or None.

    Args:
        conn: An open connection.
        name: The budget's name.

    Returns:
        The budget, if there is one by that name.
    """
    async with _migrated():
        return await _get(conn, name, lock=False)


async def apply_budgets(
    conn: AsyncConn, file: BudgetsFileConfig, *, dry_run: bool = False, at: datetime | None = None
) -> BudgetChanges:
    """Make the file-managed budgets exactly those of a budgets file, then evaluate.

    Budgets of the file are created or updated (a REST-made budget of the same name is taken over by the file);
    file-managed budgets absent from the file are removed; REST-made budgets are left alone. A budget whose
    scope, period, limit or thresholds change has its open alerts resolved as ``budget_changed``; a removed one
    as ``budget_removed``. Applying the same file again changes nothing.

    Args:
        conn: An open connection in autocommit mode.
        file: The validated file.
        dry_run: Only report what would change.
        at: Evaluate as of this time. Default: now.

    Returns:
        What changed, and the evaluation that followed.
    """
    async with _migrated(), conn.transaction():
        await conn.execute("SELECT budget_lock()")
        existing = {b.config.name: b for b in await _all(conn)}
        created: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        for budget in file.budgets:
            old = existing.get(budget.name)
            if old is None:
                created.append(budget.name)
            elif old.config == budget and old.managed_by == "file":
                unchanged.append(budget.name)
            else:
                updated.append(budget.name)
        wanted = {b.name for b in file.budgets}
        removed = [n for n, b in existing.items() if b.managed_by == "file" and n not in wanted]
        if dry_run:
            return BudgetChanges(tuple(created), tuple(updated), tuple(unchanged), tuple(removed), None)
        for budget in file.budgets:
            if budget.name in created:
                await _insert(conn, budget, "file")
            elif budget.name in updated:
                await _update(conn, existing[budget.name], budget, "file", at)
        for name in removed:
            await _delete(conn, name, at)
        evaluation = await evaluate(conn, at=at)
    return BudgetChanges(tuple(created), tuple(updated), tuple(unchanged), tuple(removed), evaluation)


async def put_budget(conn: AsyncConn, budget: BudgetConfig, *, at: datetime | None = None) -> tuple[Change, Evaluation]:
    """Create or replace a REST-managed budget, then evaluate.

    Args:
        conn: An open connection in autocommit mode.
        budget: The validated definition.
        at: Evaluate as of this time. Default: now.

    Returns:
        ``created``, ``updated`` or ``unchanged``, and the evaluation that followed.

    Raises:
        BudgetManagedByFile: the budget belongs to the budgets file.
    """
    async with _migrated(), conn.transaction():
        await conn.execute("SELECT budget_lock()")
        old = await _get(conn, budget.name, lock=True)
        change: Change
        if old is None:
            await _insert(conn, budget, "api")
            change = "created"
        elif old.managed_by == "file":
            raise BudgetManagedByFile(budget.name)
        elif old.config == budget:
            change = "unchanged"
        else:
            await _update(conn, old, budget, "api", at)
            change = "updated"
        evaluation = await evaluate(conn, at=at)
    return change, evaluation


async def delete_budget(conn: AsyncConn, name: str, *, at: datetime | None = None) -> None:
    """Remove a REST-managed budget; its open alerts are resolved as ``budget_removed``.

    Args:
        conn: An open connection in autocommit mode.
        name: The budget's name.
        at: The time of the resolution. Default: now.

    Raises:
        BudgetNotFound: there is no such budget.
        BudgetManagedByFile: the budget belongs to the budgets file.
    """
    async with _migrated(), conn.transaction():
        await conn.execute("SELECT budget_lock()")
        old = await _get(conn, name, lock=True)
        if old is None:
            raise BudgetNotFound(name)
        if old.managed_by == "file":
            raise BudgetManagedByFile(name)
        await _delete(conn, name, at)


async def read_status(conn: AsyncConn, *, at: datetime | None = None, name: str | None = None) -> list[BudgetStatus]:
    """Rows of ``budget_status`` (or ``budget_status_at(at)``), by budget name.

    Args:
        conn: An open connection.
        at: The time whose periods to show. Default: now (the ``budget_status`` view).
        name: Only this budget. Default: all.

    Returns:
        The status rows.
    """
    source = "budget_status" if at is None else "budget_status_at(%(at)s)"
    query = sql.SQL("SELECT {} FROM " + source + " WHERE %(name)s::text IS NULL OR budget = %(name)s ORDER BY budget")
    columns = sql.SQL(", ").join(sql.Identifier(f) for f in BudgetStatus.__slots__)
    async with _migrated():
        cur = await conn.execute(query.format(columns), {"at": at, "name": name})
        return [BudgetStatus(*row) for row in await cur.fetchall()]


async def read_alerts(
    conn: AsyncConn, *, budget: str | None = None, open_only: bool = False, limit: int = 50
) -> list[Alert]:
    """The latest threshold crossings, newest first.

    Args:
        conn: An open connection.
        budget: Only this budget's. Default: all.
        open_only: Only those not resolved yet.
        limit: At most this many.

    Returns:
        The alerts.
    """
    query = sql.SQL(
        "SELECT {} FROM budget_alerts WHERE (%(budget)s::text IS NULL OR budget = %(budget)s) "
        "AND (NOT %(open_only)s OR resolved_at IS NULL) ORDER BY crossed_at DESC, id DESC LIMIT %(limit)s"
    ).format(sql.SQL(", ").join(sql.Identifier(f) for f in Alert.__slots__))
    async with _migrated():
        cur = await conn.execute(query, {"budget": budget, "open_only": open_only, "limit": limit})
        return [Alert(*row) for row in await cur.fetchall()]


async def _all(conn: AsyncConn) -> list[StoredBudget]:
    cur = await conn.execute(f"SELECT {_BUDGET_COLUMNS} FROM budgets ORDER BY name FOR UPDATE")
    return [_budget(row) for row in await cur.fetchall()]


async def _get(conn: AsyncConn, name: str, *, lock: bool) -> StoredBudget | None:
    query = f"SELECT {_BUDGET_COLUMNS} FROM budgets WHERE name = %s" + (" FOR UPDATE" if lock else "")
    cur = await conn.execute(query, (name,))
    row = await cur.fetchone()
    return _budget(row) if row else None


def _values(budget: BudgetConfig) -> tuple[object, ...]:
    s, lim, t = budget.scope, budget.limit, budget.thresholds
    return (
        budget.description, s.customer, s.feature, s.provider, s.model, budget.period, lim.currency,
        lim.amount, lim.percent_of_revenue, t.warning_percent, t.critical_percent, t.exceeded_percent,
    )  # fmt: skip


async def _insert(conn: AsyncConn, budget: BudgetConfig, managed_by: ManagedBy) -> None:
    await conn.execute(
        "INSERT INTO budgets (name, description, customer_id, feature, provider, model, period, currency, "
        "limit_amount, revenue_percent, warning_percent, critical_percent, exceeded_percent, managed_by) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (budget.name, *_values(budget), managed_by),
    )


async def _update(
    conn: AsyncConn, old: StoredBudget, budget: BudgetConfig, managed_by: ManagedBy, at: datetime | None
) -> None:
    if not old.config.measures_same_as(budget):
        await conn.execute("SELECT budget_resolve_open(%s, 'budget_changed', %s::timestamptz)", (budget.name, at))
    await conn.execute(
        "UPDATE budgets SET description = %s, customer_id = %s, feature = %s, provider = %s, model = %s, "
        "period = %s, currency = %s, limit_amount = %s, revenue_percent = %s, warning_percent = %s, "
        "critical_percent = %s, exceeded_percent = %s, managed_by = %s, updated_at = now() WHERE name = %s",
        (*_values(budget), managed_by, budget.name),
    )


async def _delete(conn: AsyncConn, name: str, at: datetime | None) -> None:
    await conn.execute("SELECT budget_resolve_open(%s, 'budget_removed', %s::timestamptz)", (name, at))
    await conn.execute("DELETE FROM budgets WHERE name = %s", (name,))


def _budget(row: Sequence[Any]) -> StoredBudget:
    (name, description, customer, feature, provider, model, period, currency, amount, percent,
     warning, critical, exceeded, managed_by, created_at, updated_at) = row  # fmt: skip
    config = BudgetConfig.model_validate({
        "name": name,
        "description": description,
        "scope": {"customer": customer, "feature": feature, "provider": provider, "model": model},
        "period": period,
        "limit": {"amount": amount, "percent_of_revenue": percent, "currency": currency},
        "thresholds": {"warning_percent": warning, "critical_percent": critical, "exceeded_percent": exceeded},
    })  # fmt: skip
    return StoredBudget(config, managed_by, created_at, updated_at)


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return value
