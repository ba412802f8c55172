"""The user's price overrides: negotiated discounts, custom (self-hosted) models and aliases.

The file is YAML (see ``overrides.example.yaml`` and ``overrides.schema.json`` beside this module),
validated strictly: an unknown key, a bad value or two entries that claim the same thing on the
same day is an error naming the file line. Prices are ``Decimal`` in USD per million tokens, with
the unit in the key name (``input_mtok``) as in genai-prices.

Dates are UTC days and both ends are inclusive: ``effective_from: 2026-01-01`` and
``effective_to: 2026-12-31`` cover the whole of 2026. A call is matched by its start time.

The loaded overrides carry a ``version``: a short hash of the normalized content, recorded on every
priced event, so a cost can always be traced to the exact overrides that produced it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from genai_prices.types import ModelPrice
from pydantic import BaseModel, ConfigDict, Field, model_validator

from otel_margin_backend.pipeline.textfile import TextFileError, read_text
from otel_margin_backend.pricing import _yaml, names
from otel_margin_backend.pricing.errors import PricingFileError, Problem
from otel_margin_backend.pricing.resolve import AliasTarget


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class EffectiveDays(_Strict):
    """The UTC days an entry applies on; both ends inclusive, either may be left open."""

    effective_from: date | None = None
    """First day the entry applies. Default: none (applies from the beginning)."""
    effective_to: date | None = None
    """Last day the entry applies. Default: none (applies until further notice)."""

    @model_validator(mode="after")
    def _ordered(self) -> EffectiveDays:
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValueError("effective_to must not be before effective_from")
        return self

    def covers(self, day: date) -> bool:
        """True if the entry applies on ``day`` (a UTC date).

        Args:
            day: The UTC day of the call.

        Returns:
            Whether ``day`` lies within the period.
        """
        return (self.effective_from is None or day >= self.effective_from) and (
            self.effective_to is None or day <= self.effective_to
        )

    def overlaps(self, other: EffectiveDays) -> bool:
        """True if the two periods share at least one day.

        Args:
            other: The other period.

        Returns:
            Whether they overlap.
        """
        starts_before_other_ends = (
            self.effective_from is None or other.effective_to is None or (self.effective_from <= other.effective_to)
        )
        ends_after_other_starts = (
            self.effective_to is None or other.effective_from is None or (self.effective_to >= other.effective_from)
        )
        return starts_before_other_ends and ends_after_other_starts


class DiscountConfig(EffectiveDays):
    """A negotiated discount on list prices, for a whole provider or one model.

    It multiplies every cost kind (input, cache, output, reasoning, total) by
    ``(100 - percent) / 100``. A model discount beats a provider discount on the same day; they
    never stack. Discounts apply to prices from the genai-prices data, not to custom models.
    """

    provider: str = Field(min_length=1)
    """The billing provider (OTel name like ``aws.bedrock`` or genai-prices id like ``aws``). Required."""
    model: str | None = None
    """Only this model (any name that resolves to it). Default: none (every model of the provider)."""
    percent: Decimal = Field(ge=0, le=100)
    """Discount in percent of the list price, e.g. ``15`` or ``12.5``. Required."""


class CustomModelConfig(EffectiveDays):
    """A model priced by the user: self-hosted, private, or missing from genai-prices.

    A custom model wins over the data for the same name on the days it covers. Token semantics are
    genai-prices': cache tokens are part of the input and, when a cache price is given, pay that
    price instead of ``input_mtok``; reasoning tokens are output tokens.
    """

    model: str = Field(min_length=1)
    """The model name as spans report it (matched case-insensitively, gateway prefixes removed). Required."""
    provider: str | None = None
    """Only for spans of this provider. Default: none (any provider)."""
    input_mtok: Decimal = Field(ge=0)
    """USD per million input tokens. Required."""
    output_mtok: Decimal = Field(ge=0)
    """USD per million output tokens (reasoning included). Required."""
    cache_read_mtok: Decimal | None = Field(default=None, ge=0)
    """USD per million tokens read from the prompt cache. Default: none (billed as input)."""
    cache_write_mtok: Decimal | None = Field(default=None, ge=0)
    """USD per million tokens written to the prompt cache. Default: none (billed as input)."""

    def model_price(self) -> ModelPrice:
        """These prices as a genai-prices price set, so they are computed by the same rules.

        Returns:
            The price set.
        """
        prices: dict[str, Decimal] = {"input_mtok": self.input_mtok, "output_mtok": self.output_mtok}
        if self.cache_read_mtok is not None:
            prices["cache_read_mtok"] = self.cache_read_mtok
        if self.cache_write_mtok is not None:
            prices["cache_write_mtok"] = self.cache_write_mtok
        return ModelPrice(**prices)


class AliasConfig(_Strict):
    """Another name for a model: a fine-tune, a gateway route, a deployment with a house name."""

    name: str = Field(min_length=1)
    """The model name as spans report it (matched case-insensitively). Required."""
    model: str = Field(min_length=1)
    """The model to price it as: a genai-prices name or a custom model. Required."""
    provider: str | None = None
    """The provider of ``model``. Default: none (the span's provider)."""


class OverridesConfig(_Strict):
    """The overrides file."""

    version: Literal[1] = 1
    """Format version of this file. Default: 1."""
    discounts: tuple[DiscountConfig, ...] = ()
    """Negotiated discounts. Default: none."""
    models: tuple[CustomModelConfig, ...] = ()
    """Custom models with their own prices. Default: none."""
    aliases: tuple[AliasConfig, ...] = ()
    """Extra names for models. Default: none."""


@dataclass(frozen=True, slots=True)
class Discount:
    """A validated discount, with the line it came from for later errors."""

    provider: str
    """Billing provider in lookup form, mapped to the genai-prices id when known."""
    model: str | None
    """The model name as written (lookup form), resolved against the data by the price book."""
    factor: Decimal
    """``(100 - percent) / 100``: what list prices are multiplied by."""
    period: EffectiveDays
    line: int


@dataclass(frozen=True, slots=True)
class CustomPrice:
    """One dated price of a custom model."""

    period: EffectiveDays
    price: ModelPrice = field(repr=False)


@dataclass(frozen=True, slots=True)
class Overrides:
    """A loaded, validated overrides file. Immutable; reload builds a new one (and a new price book)."""

    config: OverridesConfig
    source: str
    """The file name, for messages."""
    version: str
    """Short hash of the normalized content, recorded on every event priced with these overrides."""
    discounts: tuple[Discount, ...]
    custom_models: Mapping[tuple[str | None, str], tuple[CustomPrice, ...]]
    """(provider or None, model) in lookup form → its dated prices."""
    aliases: Mapping[str, AliasTarget]
    """Alias name in lookup form → target."""

    @classmethod
    def load(cls, path: str | Path) -> Overrides:
        """Read and validate an overrides file.

        Args:
            path: The YAML file.

        Returns:
            The overrides.

        Raises:
            PricingFileError: the file cannot be read or is invalid; each problem names a line.
        """
        try:
            text = read_text(path, what="price overrides file")
        except TextFileError as exc:
            raise PricingFileError(path, [Problem(exc.line, "", exc.reason)]) from None
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, *, source: str = "<overrides>") -> Overrides:
        """Validate overrides given as YAML text.

        Args:
            text: The YAML text.
            source: The name used in error messages.

        Returns:
            The overrides.

        Raises:
            PricingFileError: the text is invalid; each problem names a line.
        """
        config, root = _yaml.load_model(OverridesConfig, text, source)
        problems = _cross_checks(config, root)
        if problems:
            raise PricingFileError(source, problems)
        discounts = tuple(
            Discount(
                provider=provider_lookup_key(d.provider),
                model=names.model_key(d.model) if d.model else None,
                factor=(Decimal(100) - d.percent) / Decimal(100),
                period=EffectiveDays(effective_from=d.effective_from, effective_to=d.effective_to),
                line=_yaml.line_of(root, ("discounts", i)),
            )
            for i, d in enumerate(config.discounts)
        )
        custom: dict[tuple[str | None, str], list[CustomPrice]] = {}
        for m in config.models:
            period = EffectiveDays(effective_from=m.effective_from, effective_to=m.effective_to)
            custom.setdefault(_custom_key(m), []).append(CustomPrice(period, m.model_price()))
        aliases = {
            names.model_key(a.name): AliasTarget(
                model=names.model_key(a.model), provider=provider_lookup_key(a.provider) if a.provider else None
            )
            for a in config.aliases
        }
        return cls(
            config=config,
            source=source,
            version=content_version(config),
            discounts=discounts,
            custom_models={k: tuple(v) for k, v in custom.items()},
            aliases=aliases,
        )


EXAMPLE_FILE = Path(__file__).with_name("overrides.example.yaml")
"""The documented example of every kind of entry."""

SCHEMA_FILE = Path(__file__).with_name("overrides.schema.json")
"""The JSON Schema of the overrides file, shipped for editors (``# yaml-language-server: $schema=…``)."""


def json_schema() -> dict[str, object]:
    """The JSON Schema of the overrides file, generated from ``OverridesConfig``.

    ``overrides.schema.json`` is this, serialized; a test keeps the two equal.

    Returns:
        The schema document.
    """
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **OverridesConfig.model_json_schema()}


def provider_lookup_key(provider: str) -> str:
    """A provider name in lookup form, mapped to its genai-prices id when the name is a known spelling.

    Args:
        provider: A provider name as users or spans write it.

    Returns:
        The lookup form.
    """
    key = names.provider_key(provider)
    return names.known_provider_id(key) or key


def content_version(config: OverridesConfig) -> str:
    """A 12-hex-digit hash of the normalized overrides, stable under reformatting and comments.

    Args:
        config: The validated overrides.

    Returns:
        The version string.
    """
    normalized = json.dumps(_normalize(config.model_dump()), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(normalized.encode()).hexdigest()[:12]


def _normalize(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    return value


def _discount_key(d: DiscountConfig) -> tuple[str, str | None]:
    return (provider_lookup_key(d.provider), names.model_key(d.model) if d.model else None)


def _custom_key(m: CustomModelConfig) -> tuple[str | None, str]:
    return (provider_lookup_key(m.provider) if m.provider else None, names.model_key(m.model))


def _cross_checks(config: OverridesConfig, root: yaml.Node | None) -> list[Problem]:
    """Rules across entries: no alias named twice, no two entries covering the same thing on one day."""
    problems = _yaml.check_unique(
        config.aliases,
        lambda a: names.model_key(a.name) if isinstance(a, AliasConfig) else None,
        section="aliases",
        root=root,
        message=lambda k, first: f"alias {k!r} is already defined by aliases[{first}]",
    )
    problems += _overlaps("discounts", [(_discount_key(d), d) for d in config.discounts], root)
    problems += _overlaps("models", [(_custom_key(m), m) for m in config.models], root)
    return sorted(problems, key=lambda p: p.line)


def _overlaps(section: str, entries: list[tuple[object, EffectiveDays]], root: yaml.Node | None) -> list[Problem]:
    problems = []
    for i, (key, period) in enumerate(entries):
        for j in range(i):
            other_key, other = entries[j]
            if key == other_key and period.overlaps(other):
                loc: _yaml.Loc = (section, i)
                message = f"overlaps {section}[{j}] (same provider and model on the same days)"
                problems.append(Problem(_yaml.line_of(root, loc), _yaml.format_loc(loc), message))
                break
    return problems
