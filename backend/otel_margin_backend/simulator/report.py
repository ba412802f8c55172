"""What a simulation run produces: per feature and model, the current cost and every candidate's, ranked.

Money is exact ``Decimal`` (USD) throughout; only ``savings_percent`` (rounded to 0.01) and
``quality_per_dollar`` (rounded to 0.0001) are rounded, and neither is money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from otel_margin_backend.simulator.shapes import TokenSums


@dataclass(frozen=True, slots=True)
class CandidateResult:
    """One candidate model for one feature and current model."""

    candidate: str
    """The candidate as configured (``openai/gpt-4.1-mini``)."""
    model: str
    """What it resolved to in the price book (``openai/gpt-4.1-mini``)."""
    simulated_cost: Decimal | None
    """The same calls at the candidate's current prices; None if it has no price now."""
    savings: Decimal | None
    """Current model's cost at current prices minus ``simulated_cost``; negative when the candidate costs more."""
    savings_percent: Decimal | None
    """``savings`` as a percentage of the current model's cost at current prices (rounded to 0.01)."""
    quality: Decimal | None
    """Its score on the group's benchmark, if the quality table has it."""
    quality_per_dollar: Decimal | None
    """``quality / simulated_cost`` (rounded to 0.0001); None when unscored or free."""
    context_window: int | None
    """Its context window (input tokens), if the price data gives it."""
    excluded: str | None
    """Why it cannot replace the current model here (context window, modality, …), or None if eligible."""
    rank: int | None
    """1 = best quality per dollar among eligible candidates; None when excluded."""
    suggested: bool
    """True for the one candidate the simulator proposes for this feature and model."""
    payback: Payback | None = None
    """Migration cost, monthly savings and payback months (``swap_payback()`` in SQL); None until computed."""


@dataclass(frozen=True, slots=True)
class Payback:
    """What a swap costs in engineering time against what it saves a month (``swap_payback()``, migration 0076)."""

    migration_cost: Decimal
    """Engineering hours x hourly rate (USD, exact)."""
    monthly_savings: Decimal | None
    """The savings over the simulated range scaled to 30 days, rounded to the cent; None without a price."""
    payback_months: Decimal | None
    """Migration cost / monthly savings, rounded to 0.1; None ("no payback") when the monthly savings are not
    above $0.00."""


@dataclass(frozen=True, slots=True)
class TierShare:
    """How many calls fall in one long-context tier interval (the input-size histogram pricing depends on)."""

    min_input_tokens: int
    max_input_tokens: int | None
    events: int


@dataclass(frozen=True, slots=True)
class GroupResult:
    """One feature on one model: what it cost, what it would cost now, and on each candidate."""

    feature: str
    provider: str
    """The provider as stored."""
    model: str
    """The model as stored (the response model, else the request model)."""
    resolved_model: str | None
    """``provider/model`` in the price book, or None if the current model does not resolve."""
    events: int
    """Calls simulated."""
    skipped_events: int
    """Calls left out: no token counts, or counts that contradict each other."""
    unpriced_events: int
    """Simulated calls that were stored unpriced (they add nothing to ``cost``)."""
    cost: Decimal | None
    """The recorded cost of the simulated calls (each at the price in force when it ran); None when none of them
    was priced (``unpriced_events == events``), never 0."""
    current_cost: Decimal | None
    """The same calls on the current model at current prices; None if it has no price now."""
    max_input_tokens: int
    tokens: TokenSums
    """Summed input, cache-read, cache-write, output and reasoning tokens."""
    tiers: tuple[TierShare, ...]
    benchmark: str | None
    """The benchmark qualities are compared on."""
    quality: Decimal | None
    """The current model's score on ``benchmark``."""
    candidates: tuple[CandidateResult, ...]
    """Eligible candidates by rank, then excluded ones."""

    @property
    def suggested(self) -> CandidateResult | None:
        """The proposed replacement, if any."""
        return next((c for c in self.candidates if c.suggested), None)

    @property
    def quality_difference(self) -> Decimal | None:
        """The suggestion's score minus the current model's (benchmark points), when both are known."""
        suggestion = self.suggested
        if suggestion is None or suggestion.quality is None or self.quality is None:
            return None
        return suggestion.quality - self.quality


@dataclass(frozen=True, slots=True)
class Simulation:
    """One simulator run."""

    computed_at: datetime
    """When it ran; the prices in force then are the "current" prices."""
    start: datetime
    """First instant of the calls simulated."""
    end: datetime
    """First instant after them."""
    feature: str | None
    """Feature filter, if any."""
    customer: str | None
    """Customer filter, if any."""
    price_version: str
    override_version: str | None
    quality_versions: tuple[str, ...]
    candidates: tuple[str, ...]
    groups: tuple[GroupResult, ...]
    engineering_hours: Decimal
    """Engineering hours a swap takes (the request's, else the config's)."""
    hourly_rate: Decimal
    """USD per engineering hour (the request's, else the config's)."""
