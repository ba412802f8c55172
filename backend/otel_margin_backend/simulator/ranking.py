"""Which candidates may replace a feature's model, how they rank, and which one is suggested.

Pure functions over plain values: no database, no price book.

Exclusions (a candidate is listed with every reason that applies, and never ranked or suggested):
  - no price at the run's time;
  - context window below the largest observed input (or unknown, unless ``allow_unknown_context``);
  - a modality in use that it does not price (spans do not say which modalities a call used, so every
    non-text modality the current model prices counts as in use, minus ``ignore_modalities``);
  - an embeddings model for a feature that generates text, or the other way round;
  - deprecated by the provider (unless ``allow_deprecated``).

Ranking: eligible candidates with a score on the group's benchmark come first, by quality per dollar
(score ÷ simulated cost, compared exactly), ties by lower cost then name; eligible candidates without a
score follow, by cost. The suggestion is the best-ranked *scored* candidate that saves more than
``min_savings_percent``, has a higher quality per dollar than the current model (when the current model has
a score) and loses at most ``max_quality_drop`` points (when set). Unscored candidates are never suggested:
nothing would say what quality they trade for the saving.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from otel_margin_backend.simulator.candidates import ModelProfile
from otel_margin_backend.simulator.config import SimulatorConfig
from otel_margin_backend.simulator.report import CandidateResult

_PERCENT = Decimal("0.01")
_QPD = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Observed:
    """What the calls of one feature and model show, for the eligibility rules."""

    max_input_tokens: int
    embeddings_only: bool
    modalities: frozenset[str]
    """Non-text modalities taken as in use (``input:audio`` …)."""


def pick_benchmark(current: ModelProfile, config: SimulatorConfig) -> str:
    """The first preferred benchmark the current model has a score on, else the first preferred one.

    Args:
        current: The current model.
        config: The simulator config (``benchmarks``).

    Returns:
        A benchmark key.
    """
    return next((b for b in config.benchmarks if current.score(b) is not None), config.benchmarks[0])


def modalities_in_use(current: ModelProfile, config: SimulatorConfig) -> frozenset[str]:
    """The non-text modalities the current model prices, minus those the user says are unused.

    Args:
        current: The current model.
        config: The simulator config (``ignore_modalities``).

    Returns:
        ``direction:modality`` strings.
    """
    ignored = set(config.ignore_modalities)
    return frozenset(m for m in current.modalities() if m.split(":", 1)[1] not in ignored)


def exclusions(
    candidate: ModelProfile, simulated_cost: Decimal | None, observed: Observed, config: SimulatorConfig
) -> list[str]:
    """Every reason ``candidate`` cannot replace the current model; empty when it can.

    Args:
        candidate: The candidate.
        simulated_cost: Its cost for the calls, None without a price now.
        observed: What the calls show.
        config: The simulator config.

    Returns:
        Reasons in plain words.
    """
    reasons = []
    if simulated_cost is None:
        reasons.append("no price at the run's time")
    window = candidate.facts.context_window
    if window is None:
        if not config.allow_unknown_context:
            reasons.append("context window unknown")
    elif window < observed.max_input_tokens:
        reasons.append(f"context window {window:,} < largest input {observed.max_input_tokens:,} tokens")
    missing = sorted(observed.modalities - candidate.modalities())
    if missing:
        reasons.append(f"does not price {', '.join(missing)} (in use by the current model)")
    if observed.embeddings_only and not candidate.embeddings:
        reasons.append("not an embeddings model (the feature makes embeddings calls)")
    elif not observed.embeddings_only and candidate.embeddings:
        reasons.append("embeddings model (the feature generates text)")
    if candidate.facts.deprecated and not config.allow_deprecated:
        reasons.append("deprecated by the provider")
    return reasons


def rank(
    scored: list[tuple[ModelProfile, Decimal | None, list[str]]],
    *,
    benchmark: str,
    current_cost: Decimal | None,
    current_quality: Decimal | None,
    config: SimulatorConfig,
) -> tuple[CandidateResult, ...]:
    """Rank candidates by quality per dollar and mark the suggestion.

    Args:
        scored: (candidate, simulated cost, exclusion reasons) for each candidate.
        benchmark: The benchmark qualities are compared on.
        current_cost: The current model's cost at current prices, None if it has none.
        current_quality: The current model's score on ``benchmark``.
        config: The simulator config.

    Returns:
        Eligible candidates by rank, then excluded ones by name.
    """
    eligible = [(p, c) for p, c, reasons in scored if not reasons and c is not None]
    excluded = sorted(((p, c, r) for p, c, r in scored if r or c is None), key=lambda item: item[0].label)
    with_score = [(p, c) for p, c in eligible if p.score(benchmark) is not None]
    without_score = [(p, c) for p, c in eligible if p.score(benchmark) is None]
    with_score.sort(key=lambda item: (-_qpd_exact(item[0].score(benchmark), item[1]), item[1], item[0].label))
    without_score.sort(key=lambda item: (item[1], item[0].label))

    suggestion = next(
        (
            p
            for p, c in with_score
            if _acceptable(p.score(benchmark), c, current_cost=current_cost, current_quality=current_quality,
                           config=config)
        ),
        None,
    )  # fmt: skip
    results = [
        _result(p, c, None, position, benchmark, current_cost, suggested=p is suggestion)
        for position, (p, c) in enumerate([*with_score, *without_score], start=1)
    ]
    results += [_result(p, c, "; ".join(r), None, benchmark, current_cost, suggested=False) for p, c, r in excluded]
    return tuple(results)


def savings_percent(savings: Decimal, current_cost: Decimal) -> Decimal | None:
    """``savings`` as a percentage of ``current_cost``, rounded half-even to 0.01; None for a zero cost.

    Args:
        savings: The saving.
        current_cost: The cost it is a share of.

    Returns:
        The percentage.
    """
    if not current_cost:
        return None
    return (savings * 100 / current_cost).quantize(_PERCENT, rounding=ROUND_HALF_EVEN)


def _qpd_exact(quality: Decimal | None, cost: Decimal) -> Fraction:
    """Quality per dollar as an exact fraction; a free candidate ranks first."""
    assert quality is not None
    if cost <= 0:
        return Fraction(10) ** 100
    return Fraction(quality) / Fraction(cost)


def _acceptable(
    quality: Decimal | None,
    cost: Decimal,
    *,
    current_cost: Decimal | None,
    current_quality: Decimal | None,
    config: SimulatorConfig,
) -> bool:
    if quality is None or current_cost is None or current_cost <= 0:
        return False
    savings = current_cost - cost
    if savings <= 0 or savings * 100 <= config.min_savings_percent * current_cost:
        return False
    if current_quality is not None and _qpd_exact(quality, cost) <= _qpd_exact(current_quality, current_cost):
        return False
    if config.max_quality_drop is not None:
        return current_quality is not None and quality >= current_quality - config.max_quality_drop
    return True


def _result(
    profile: ModelProfile,
    cost: Decimal | None,
    excluded: str | None,
    position: int | None,
    benchmark: str,
    current_cost: Decimal | None,
    *,
    suggested: bool,
) -> CandidateResult:
    quality = profile.score(benchmark)
    savings = current_cost - cost if current_cost is not None and cost is not None else None
    return CandidateResult(
        candidate=profile.label,
        model=profile.resolved_name,
        simulated_cost=cost,
        savings=savings,
        savings_percent=savings_percent(savings, current_cost) if savings is not None and current_cost else None,
        quality=quality,
        quality_per_dollar=(quality / cost).quantize(_QPD, rounding=ROUND_HALF_EVEN) if quality and cost else None,
        context_window=profile.facts.context_window,
        excluded=excluded,
        rank=position,
        suggested=suggested,
    )
