"""Configuration of the cost simulator: which candidates, which benchmark, which window, how often.

Defaults live here and only here; ``README.md`` in this folder repeats them for users.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_CANDIDATES: tuple[str, ...] = (
    "openai/gpt-4.1",
    "openai/gpt-4.1-mini",
    "openai/gpt-4.1-nano",
    "openai/gpt-4o-mini",
    "openai/o3",
    "openai/o4-mini",
    "openai/gpt-5-mini",
    "anthropic/claude-sonnet-4-0",
    "anthropic/claude-haiku-4-5",
    "anthropic/claude-3-5-haiku-latest",
    "google/gemini-2.5-flash",
    "deepseek/deepseek-chat",
    "x-ai/grok-4.3",
)
"""Widely used models across providers, each in the bundled price data with a known context window and not
deprecated (a test keeps it so). Scores for about half of them are in the bundled quality table."""

DEFAULT_ENGINEERING_HOURS = Decimal(16)
"""Two engineering days: change the model name, re-run the feature's evals, watch a canary (the tutorial's example)."""
DEFAULT_HOURLY_RATE = Decimal(150)
"""USD per engineering hour, fully loaded (the tutorial's example)."""
MAX_ENGINEERING_HOURS = Decimal(100_000)
"""Most engineering hours a swap may be given (about 50 person-years: anything above is a typo)."""
MAX_HOURLY_RATE = Decimal(100_000)
"""Most USD per hour a swap may be given."""

DEFAULT_BENCHMARKS: tuple[str, ...] = ("gpqa_diamond", "mmlu_pro")
"""GPQA Diamond first: the bundled quality table has it for every model it lists; MMLU-Pro for fewer."""


class SimulatorConfig(BaseModel):
    """How the model-swap cost simulator picks, prices and ranks candidate models."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    candidates: tuple[str, ...] = Field(default=DEFAULT_CANDIDATES, min_length=1)
    """Candidate models as ``provider/model`` (or a bare model name whose provider the price book infers).
    Default: ``DEFAULT_CANDIDATES`` (13 models from OpenAI, Anthropic, Google, DeepSeek and xAI)."""
    benchmarks: tuple[str, ...] = Field(default=DEFAULT_BENCHMARKS, min_length=1)
    """Quality benchmarks (keys of the quality table) in order of preference. Per feature and model, the first
    one the current model has a score for is used for every candidate. Default: ``gpqa_diamond``, ``mmlu_pro``."""
    window_days: int = Field(default=30, ge=1, le=3660)
    """Calls of the last this many days are simulated when no range is given. Default: 30."""
    max_quality_drop: Decimal | None = Field(default=Decimal(10), ge=0)
    """A suggestion may score at most this many benchmark points below the current model; ``none`` allows any
    drop, as long as quality per dollar improves. Default: 10 (a swap that loses more is rarely one a team
    makes without its own evals; the demo, the CLI, REST and the materialized runs all use this)."""
    min_savings_percent: Decimal = Field(default=Decimal(0), ge=0, lt=100)
    """A suggestion must save more than this share of the current model's cost at current prices. Default: 0."""
    ignore_modalities: tuple[str, ...] = ()
    """Modalities you know your features do not use (``audio``, ``image`` …). Spans do not say which modalities a
    call used, so every non-text modality the current model prices is taken as in use unless listed here.
    Default: none."""
    allow_unknown_context: bool = False
    """Keep candidates whose context window the price data does not give. Default: false (they are excluded,
    because the simulator could not show they fit the largest observed input)."""
    allow_deprecated: bool = False
    """Keep candidates the provider has deprecated. Default: false."""
    engineering_hours: Decimal = Field(default=DEFAULT_ENGINEERING_HOURS, ge=0, le=MAX_ENGINEERING_HOURS)
    """Engineering hours a swap takes, for its migration cost and payback (``simulate --engineering-hours``).
    Default: 16."""
    hourly_rate: Decimal = Field(default=DEFAULT_HOURLY_RATE, ge=0, le=MAX_HOURLY_RATE)
    """USD per engineering hour; migration cost = hours x rate (``simulate --hourly-rate``). Default: 150."""
    interval_s: float = Field(default=3600.0, ge=1)
    """How often the scheduler materializes a run into ``simulator_results``. Default: 3600 s."""
    keep_runs: int = Field(default=168, ge=1)
    """Materialized runs kept (older ones are deleted). Default: 168 (a week of hourly runs)."""

    @field_validator("max_quality_drop", mode="before")
    @classmethod
    def _no_limit(cls, value: object) -> object:
        """``none`` (or an empty value) lifts the limit."""
        if isinstance(value, str) and value.strip().lower() in ("", "none"):
            return None
        return value

    @field_validator("candidates", "benchmarks", "ignore_modalities", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        """Accept ``a,b,c`` as well as a list."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("candidates", "benchmarks")
    @classmethod
    def _no_blank_or_repeat(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(v.strip() for v in value)
        if any(not v for v in cleaned):
            raise ValueError("entries must not be empty")
        repeated = sorted({v for v in cleaned if cleaned.count(v) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return cleaned
