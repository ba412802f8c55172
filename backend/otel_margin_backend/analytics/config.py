"""Configuration of the customer actions: the margin floor under which a customer is to be monitored.

Defaults live here and only here; README.md and ``config/otel-margin.env.example`` repeat them for users.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MONITOR_BELOW_PERCENT = Decimal(10)
"""A margin under 10 % is thin: one price rise of a model away from a loss."""


class ActionsConfig(BaseModel):
    """The rules of ``customer_actions()`` that users tune."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    monitor_below_percent: Decimal = Field(default=DEFAULT_MONITOR_BELOW_PERCENT, ge=0, le=100)
    """A customer whose margin % is at or above 0 and below this is marked ``monitor``. Default 10."""
