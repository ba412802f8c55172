"""Configuration of the pricing stage: where the data and the user's files are, and name mappings.

Defaults live here and only here. ``create()`` in ``__init__.py`` turns a config into a pricer.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from otel_margin_backend.pricing.book import DEFAULT_CONTEXT_ATTRIBUTES
from otel_margin_backend.pricing.resolve import DEFAULT_CACHE_SIZE


class PricingConfig(BaseModel):
    """How calls are priced."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    enabled: bool = True
    """Price calls. Default: true. When false every call is stored unpriced (never $0)."""
    data_file: Path | None = None
    """A genai-prices ``data.json`` (v2) to use instead of the data bundled with genai-prices.
    Default: none (bundled data)."""
    overrides_file: Path | None = None
    """The overrides YAML (discounts, custom models, aliases). Default: none."""
    quality_file: Path | None = None
    """A YAML file extending or correcting the bundled quality table (``quality.yaml``). Default: none."""
    azure_deployments: dict[str, str] = Field(default_factory=dict)
    """Azure OpenAI deployment name → model name, e.g. ``{"prod-chat": "gpt-4o"}``. Default: empty."""
    context_attributes: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {k: tuple(v) for k, v in DEFAULT_CONTEXT_ATTRIBUTES.items()}
    )
    """genai-prices price-context key → span attributes carrying it, first present wins. Default:
    ``service_tier`` from ``openai.response.service_tier`` then ``openai.request.service_tier`` (and
    their ``gen_ai.openai.*`` forms); ``processing`` from ``otel_margin.processing``."""
    cache_size: int = Field(default=DEFAULT_CACHE_SIZE, ge=16)
    """Most distinct (provider, model) names whose resolution is remembered. Default: 10000."""
