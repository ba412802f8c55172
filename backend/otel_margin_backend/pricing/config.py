"""Configuration of the pricing stage: where the data and the user's files are, name mappings, and the sync.

Defaults live here and only here. ``create()`` in ``__init__.py`` turns a config into a pricer;
``PriceSyncJob`` (``pricedata/sync_job.py``) reads the ``sync_*`` keys. They stay here rather than in a
pricedata config because the job is the pricer's own upkeep: it needs ``data_file`` (which pins the data and
turns the sync off), ``quality_file`` and the rest of this config to rebuild the book it swaps in, and users
find every price key in one table (``README.md``).
"""

from __future__ import annotations

from pathlib import Path

from genai_prices.update_prices import DEFAULT_UPDATE_URL
from pydantic import BaseModel, ConfigDict, Field, field_validator

from otel_margin_backend.pipeline.events import DEFAULT_CONTEXT_ATTRIBUTES, context_attribute_names
from otel_margin_backend.pricing.resolve import DEFAULT_CACHE_SIZE

DEFAULT_SYNC_SOURCE = DEFAULT_UPDATE_URL
"""genai-prices' public data (v2 ``data.json``), the URL its own ``UpdatePrices`` fetches."""


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
    """genai-prices price-context key → span attributes carrying it, first present wins; the whole mapping is
    replaced, not merged. Normalization copies these attributes onto events and the writer stores them on the row.
    Default: ``service_tier`` from ``openai.response.service_tier`` then ``openai.request.service_tier`` (and
    their ``gen_ai.openai.*`` forms); ``processing`` from ``otel_margin.processing``."""
    cache_size: int = Field(default=DEFAULT_CACHE_SIZE, ge=16)
    """Most distinct (provider, model) names whose resolution is remembered. Default: 10000."""
    sync_source: str = Field(default=DEFAULT_SYNC_SOURCE, min_length=1)
    """Where the daily sync fetches genai-prices data: an http(s) URL or a file path. Default: genai-prices'
    public data URL (``https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/prices/new_data/v2/data.json``)."""
    sync_interval_s: float = Field(default=86_400.0, ge=0)
    """Seconds between syncs inside ``serve``. Default: 86400 (daily); 0 turns the daily job off."""
    sync_first_delay_s: float = Field(default=60.0, ge=0)
    """Seconds after ``serve`` starts before the first sync. Default: 60."""
    sync_timeout_s: float = Field(default=30.0, gt=0)
    """HTTP timeout of one fetch. Default: 30 s."""
    reload_interval_s: float = Field(default=300.0, gt=0)
    """Seconds between checks for a version another process activated (``otel-margin prices sync``, another
    replica), which ``serve`` then swaps in. Default: 300."""

    @field_validator("context_attributes")
    @classmethod
    def _attribute_names(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for key, names in value.items():
            if not key.strip():
                raise ValueError("a price-context key is empty")
            if not names:
                raise ValueError(f"{key!r} names no span attribute; list at least one")
            for name in names:
                if not name or name != name.strip():
                    raise ValueError(f"attribute name {name!r} of {key!r} is empty or has surrounding spaces")
        return value

    @property
    def span_attributes(self) -> tuple[str, ...]:
        """Every span attribute ``context_attributes`` reads, each once: what events carry and rows keep."""
        return context_attribute_names(self.context_attributes)
