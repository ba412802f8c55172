"""What a budget is, as users write it: the budgets file (YAML) and the REST body (JSON), validated strictly.

An unknown key, a bad value or two budgets with one name is an error naming the file line (the YAML helpers of
``pricing/_yaml.py`` keep every node's position). Numbers reach the models as their source text, so ``600.10``
is ``Decimal("600.10")`` exactly.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from otel_margin_backend.budgets.errors import BudgetFileError, Problem
from otel_margin_backend.pipeline.textfile import TextFileError, read_text
from otel_margin_backend.pricing import _yaml
from otel_margin_backend.pricing.errors import PricingFileError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
"""Budget names: letters, digits, ``_ . -``, up to 100 characters (they appear in URLs)."""
RESERVED_NAMES = frozenset({"check"})
"""Names a budget cannot take: ``/v1/budgets/check`` is the app's budget check, not a budget."""

SEVERITIES = ("warning", "critical", "exceeded")
"""Threshold severities, lowest first."""

Key = Annotated[str, Field(min_length=1, max_length=256)]
Percent = Annotated[Decimal, Field(gt=0, le=10_000)]
Period = Literal["month", "day"]


MAX_AMOUNT = Decimal(10**12)
"""Largest limit ``amount``: more is a unit mistake (and beyond what the budget tables hold)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refused here, with the field's name, rather than by the database.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("contains a NUL character")
        return value


class ScopeConfig(_Strict):
    """Which usage counts: every key given must match; none given means the whole organization."""

    customer: Key | None = None
    """Only this customer's usage (the ``customer.id`` of the spans). Default: every customer."""
    feature: Key | None = None
    """Only this feature (``feature.name``). Default: every feature."""
    provider: Key | None = None
    """Only this provider (as stored, e.g. ``openai``). Default: every provider."""
    model: Key | None = None
    """Only this model (the response model, else the request model). Default: every model."""

    def as_dict(self) -> dict[str, str]:
        """The keys that are set."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class LimitConfig(_Strict):
    """The limit: an exact ``amount`` of money, or ``percent_of_revenue``; exactly one of the two."""

    amount: Decimal | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    """Most AI cost allowed per period, in ``currency``, e.g. ``600`` or ``149.99``. Default: none."""
    percent_of_revenue: Percent | None = None
    """Most AI cost allowed per period as a percentage of the net revenue (after refunds) of the scope's
    customer, or of the organization when the scope names no customer, e.g. ``30``. Default: none."""
    currency: str = "USD"
    """Currency of ``amount`` and of the comparison (ISO 4217). AI cost is priced in USD and converted with the
    exchange rates of ``otel-margin fx import`` for any other currency. Default: ``USD``."""

    @field_validator("currency")
    @classmethod
    def _iso_code(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"currency {value!r} is not an ISO 4217 code in capitals, e.g. USD or EUR")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> LimitConfig:
        if (self.amount is None) == (self.percent_of_revenue is None):
            raise ValueError("give exactly one of 'amount' or 'percent_of_revenue'")
        return self


class ThresholdsConfig(_Strict):
    """When to alert, in percent of the limit; ``null`` turns the warning or critical threshold off."""

    warning_percent: Percent | None = Decimal(75)
    """Warning once spend reaches this share of the limit. Default: 75."""
    critical_percent: Percent | None = Decimal(90)
    """Critical once spend reaches this share. Default: 90."""
    exceeded_percent: Percent = Decimal(100)
    """Exceeded once spend reaches this share. Default: 100."""

    @model_validator(mode="after")
    def _ascending(self) -> ThresholdsConfig:
        given = [(k, v) for k, v in self.by_severity().items() if v is not None]
        for (low_name, low), (high_name, high) in itertools.pairwise(given):
            if low >= high:
                raise ValueError(f"{low_name}_percent ({low}) must be below {high_name}_percent ({high})")
        return self

    def by_severity(self) -> dict[str, Decimal | None]:
        """Severity → percent (None when off), lowest first."""
        return {
            "warning": self.warning_percent,
            "critical": self.critical_percent,
            "exceeded": self.exceeded_percent,
        }


class BudgetConfig(_Strict):
    """One budget."""

    name: str
    """Unique name, used in URLs and alerts, e.g. ``image-generation``. Required."""
    description: str = Field(default="", max_length=1000)
    """Free text shown with the budget. Default: empty."""
    scope: ScopeConfig = ScopeConfig()
    """Which usage counts. Default: the whole organization."""
    period: Period
    """``month`` or ``day``: the UTC calendar period the limit applies to; it starts over each period. Required."""
    limit: LimitConfig
    """The limit. Required."""
    thresholds: ThresholdsConfig = ThresholdsConfig()
    """Alert thresholds. Default: warning 75, critical 90, exceeded 100."""

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(NAME_PATTERN, value):
            raise ValueError(
                f"name {value!r}: use 1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit"
            )
        if value in RESERVED_NAMES:
            raise ValueError(
                f"name {value!r} is reserved (GET /v1/budgets/{value} is the budget check): choose another"
            )
        return value

    def measures_same_as(self, other: BudgetConfig) -> bool:
        """True if both measure and alert alike (everything but the description is equal).

        Args:
            other: The other definition.

        Returns:
            Whether open alerts of one still mean the same under the other.
        """
        return self.model_copy(update={"description": ""}) == other.model_copy(update={"description": ""})

    def as_json(self) -> dict[str, Any]:
        """The definition as JSON values, decimals as strings (exact), in the REST shape."""
        return {
            "name": self.name,
            "description": self.description,
            "scope": self.scope.as_dict(),
            "period": self.period,
            "limit": {k: _text(v) for k, v in self.limit.model_dump().items() if v is not None},
            "thresholds": {k: _text(v) for k, v in self.thresholds.model_dump().items()},
        }


class BudgetsFileConfig(_Strict):
    """The budgets file."""

    version: Literal[1] = 1
    """Format version of this file. Default: 1."""
    budgets: tuple[BudgetConfig, ...] = ()
    """The budgets. Default: none (applying an empty file removes every budget it managed)."""


EXAMPLE_FILE = Path(__file__).with_name("budgets.example.yaml")
"""The documented example of every kind of budget."""


def load_file(path: str | Path) -> BudgetsFileConfig:
    """Read and validate a budgets file.

    Args:
        path: The YAML file.

    Returns:
        The budgets it defines.

    Raises:
        BudgetFileError: the file cannot be read or is invalid; each problem names a line.
    """
    try:
        text = read_text(path, what="budgets file")
    except TextFileError as exc:
        raise BudgetFileError(path, [Problem(exc.line, "", exc.reason)]) from None
    return parse_file(text, source=str(path))


def parse_file(text: str, *, source: str = "<budgets>") -> BudgetsFileConfig:
    """Validate a budgets file given as YAML text.

    Args:
        text: The YAML text.
        source: The name used in error messages.

    Returns:
        The budgets it defines.

    Raises:
        BudgetFileError: the text is invalid; each problem names a line.
    """
    try:
        config, root = _yaml.load_model(BudgetsFileConfig, text, source)
    except PricingFileError as exc:
        raise BudgetFileError(exc.source, exc.problems) from None
    problems = _yaml.check_unique(
        config.budgets,
        lambda b: b.name if isinstance(b, BudgetConfig) else None,
        section="budgets",
        root=root,
        message=lambda name, first: f"budget {name!r} is already defined by budgets[{first}]",
    )
    if problems:
        raise BudgetFileError(source, problems)
    return config


def parse_body(name: str, body: Mapping[str, Any]) -> BudgetConfig:
    """Validate a REST body (the budget without, or with the same, ``name``).

    Args:
        name: The name in the URL.
        body: The decoded JSON object (numbers decoded as ``Decimal``).

    Returns:
        The budget.

    Raises:
        BudgetFileError: the body is invalid; problems carry the JSON path (line 1).
    """
    data = dict(body)
    if data.setdefault("name", name) != name:
        raise BudgetFileError("body", [Problem(1, "name", f"the body names {data['name']!r}, the URL {name!r}")])
    try:
        return BudgetConfig.model_validate(data)
    except ValidationError as exc:
        raise BudgetFileError("body", _yaml.problems_from(exc, None)) from None


def _text(value: object) -> object:
    return format(value, "f") if isinstance(value, Decimal) else value
