"""Errors of the budgets component.

OtelMarginError                       (pipeline/errors.py)
└── PermanentError
    └── BudgetError                   a budget request cannot be carried out as asked
        ├── BudgetFileError           a budgets file (or REST body) broke the schema; every problem has a line
        ├── BudgetNotFound            no budget has that name                       (also a NotFound: 404)
        └── BudgetManagedByFile       the budget belongs to the budgets file; edit it (also a Conflict: 409)

The REST answers follow from these classes through ``web/status.py``; nothing here names a status.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from otel_margin_backend.pipeline.errors import Conflict, NotFound, PermanentError
from otel_margin_backend.pricing.errors import Problem

__all__ = ["BudgetError", "BudgetFileError", "BudgetManagedByFile", "BudgetNotFound", "Problem"]


class BudgetError(PermanentError):
    """A budget request cannot be carried out as asked."""


class BudgetFileError(BudgetError):
    """A budgets file or REST body is invalid; the message lists each problem with its line."""

    def __init__(self, source: str | Path, problems: Sequence[Problem]) -> None:
        self.source = str(source)
        self.problems = tuple(problems)
        lines = [f"{self.source}:{p.line}: {p.path + ': ' if p.path else ''}{p.message}" for p in self.problems]
        super().__init__("\n".join(lines))
        self.details = tuple({"path": p.path, "message": p.message} for p in self.problems)


class BudgetNotFound(BudgetError, NotFound):
    """No budget has the name asked for."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no budget named {name!r}")


class BudgetManagedByFile(BudgetError, Conflict):
    """The budget was created by ``budgets apply``; REST and ``delete`` leave it alone."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"budget {name!r} is managed by the budgets file: change or remove it there and run "
            "`otel-margin budgets apply`"
        )
