"""Budgets: limits on AI cost per scope and UTC period, with threshold alerts recorded once and sent to a webhook.

See ``README.md`` in this folder. ``serve`` runs ``evaluation.run_evaluations``; ``cli/budgets.py`` is
the command; the HTTP app mounts ``routes.routes``. This module exports the light parts only (config,
definitions, errors) so that ``settings.py`` can import the config without importing the storage layer.
"""

from __future__ import annotations

from otel_margin_backend.budgets.config import BudgetsConfig, WebhookConfig
from otel_margin_backend.budgets.definition import BudgetConfig, BudgetsFileConfig, load_file, parse_file
from otel_margin_backend.budgets.errors import BudgetError, BudgetFileError, BudgetManagedByFile, BudgetNotFound

__all__ = [
    "BudgetConfig",
    "BudgetError",
    "BudgetFileError",
    "BudgetManagedByFile",
    "BudgetNotFound",
    "BudgetsConfig",
    "BudgetsFileConfig",
    "WebhookConfig",
    "load_file",
    "parse_file",
]
