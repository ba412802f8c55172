"""The simulator: read each feature's token shape, re-price it on candidates at current prices, rank them.

``Simulator.simulate`` (sync connection, for the CLI) and ``Simulator.asimulate`` (async, for REST and the
scheduler) run the same steps: one aggregate query (``shapes.py``), exact re-pricing from the price book
(``repricing.py``), eligibility and ranking (``ranking.py``). The price book is read once per run, so a book
swapped in by a price update applies from the next run on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pricing import CurrentPriceBook, PriceBook
from otel_margin_backend.simulator.candidates import ModelProfile, current_model, resolve_candidate
from otel_margin_backend.simulator.config import SimulatorConfig
from otel_margin_backend.simulator.payback import afetch_payback, fetch_payback
from otel_margin_backend.simulator.ranking import Observed, exclusions, modalities_in_use, pick_benchmark, rank
from otel_margin_backend.simulator.report import CandidateResult, GroupResult, Simulation, TierShare
from otel_margin_backend.simulator.repricing import ShapePricer, interval, tier_starts
from otel_margin_backend.simulator.shapes import ShapeGroup, ShapeQuery, afetch_shapes, fetch_shapes
from otel_margin_backend.storage.database import AsyncConn, Conn


@dataclass(frozen=True, slots=True)
class SimulationRequest:
    """What to simulate; every field is optional."""

    feature: str | None = None
    """Only this feature. Default: every feature."""
    customer: str | None = None
    """Only this customer's calls. Default: every customer."""
    candidates: tuple[str, ...] | None = None
    """Candidate models (``provider/model``). Default: the config's ``candidates``."""
    start: datetime | None = None
    """First instant of the calls. Default: ``end`` minus the config's ``window_days``."""
    end: datetime | None = None
    """First instant after the calls. Default: the run's time."""
    engineering_hours: Decimal | None = None
    """Engineering hours a swap takes (its migration cost and payback). Default: the config's."""
    hourly_rate: Decimal | None = None
    """USD per engineering hour. Default: the config's."""


@dataclass(frozen=True, slots=True)
class _Plan:
    at: datetime
    book: PriceBook
    query: ShapeQuery
    starts: tuple[int, ...]
    candidates: tuple[ModelProfile, ...]
    request: SimulationRequest


class Simulator:
    """Runs simulations against a price book and a quality table.

    Args:
        config: The simulator config.
        book: The price book, or the live ``CurrentPriceBook`` (its book in force is read at each run).
        quality: The quality table. Default: the bundled one.

    Raises:
        PermanentError: a configured benchmark is not in the quality table, or a configured candidate is not in
            the price book.
    """

    def __init__(
        self, config: SimulatorConfig, book: PriceBook | CurrentPriceBook, quality: QualityTable | None = None
    ) -> None:
        self.config = config
        self._book = book
        self.quality = quality if quality is not None else QualityTable.load()
        unknown = [b for b in config.benchmarks if b not in self.quality.benchmarks]
        if unknown:
            known = ", ".join(sorted(self.quality.benchmarks))
            raise PermanentError(f"benchmarks: {', '.join(unknown)} not in the quality table (known: {known})")
        self._starts: tuple[PriceBook, tuple[int, ...]] | None = None
        for spec in config.candidates:
            resolve_candidate(self.book, spec, self.quality)  # fail at startup on a name the book lacks

    @property
    def book(self) -> PriceBook:
        """The price book in force now."""
        return self._book.book if isinstance(self._book, CurrentPriceBook) else self._book

    def simulate(
        self, conn: Conn, request: SimulationRequest | None = None, *, at: datetime | None = None
    ) -> Simulation:
        """Run one simulation on a sync connection.

        Args:
            conn: A connection to a migrated database.
            request: What to simulate. Default: everything in the default window.
            at: The run's time, whose prices are "current". Default: now.

        Returns:
            The simulation.

        Raises:
            PermanentError: a bad range or an unknown candidate.
            NotAffine: the price book cannot be summed exactly (never approximated).
        """
        plan = self._plan(request or SimulationRequest(), at)
        return fetch_payback(conn, self._evaluate(plan, fetch_shapes(conn, plan.query, plan.starts)))

    async def asimulate(
        self, conn: AsyncConn, request: SimulationRequest | None = None, *, at: datetime | None = None
    ) -> Simulation:
        """``simulate`` on an async connection (REST and the scheduler): the same plan, read and evaluation."""
        plan = self._plan(request or SimulationRequest(), at)
        return await afetch_payback(conn, self._evaluate(plan, await afetch_shapes(conn, plan.query, plan.starts)))

    def evaluate(
        self, groups: Sequence[ShapeGroup], request: SimulationRequest | None = None, *, at: datetime | None = None
    ) -> Simulation:
        """Re-price and rank shapes already read (``shapes.fetch_shapes``), without touching the database.

        Payback is left out (``CandidateResult.payback`` None): it is computed by SQL (``payback.fetch_payback``).

        Args:
            groups: The shapes, read with this simulator's ``tier_starts`` for the book in force.
            request: The request they were read for (its candidates and range are used).
            at: The run's time, whose prices are "current". Default: now.

        Returns:
            The simulation.

        Raises:
            PermanentError: a bad range or an unknown candidate.
            NotAffine: the price book cannot be summed exactly (never approximated).
        """
        return self._evaluate(self._plan(request or SimulationRequest(), at), list(groups))

    @property
    def tier_starts(self) -> tuple[int, ...]:
        """The long-context thresholds of the book in force (the aggregate query's tier intervals)."""
        return self._starts_for(self.book)

    def _starts_for(self, book: PriceBook) -> tuple[int, ...]:
        cached = self._starts
        if cached is None or cached[0] is not book:
            cached = self._starts = (book, tier_starts(book))
        return cached[1]

    def _plan(self, request: SimulationRequest, at: datetime | None) -> _Plan:
        at = _utc(at or datetime.now(UTC))
        end = _utc(request.end) if request.end is not None else at
        start = _utc(request.start) if request.start is not None else end - timedelta(days=self.config.window_days)
        if start >= end:
            raise PermanentError(f"the range is empty: from {start.isoformat()} is not before to {end.isoformat()}")
        book = self.book
        starts = self._starts_for(book)
        requested = request.candidates is not None
        specs = request.candidates if request.candidates is not None else self.config.candidates
        if not specs:
            raise PermanentError("candidates: give at least one candidate model")
        profiles: list[ModelProfile] = []
        for spec in specs:
            # A configured candidate a newer price book lacks is listed as unpriced rather than stopping the
            # schedule; a name given with the request is an error the caller sees.
            profile = resolve_candidate(book, spec, self.quality, strict=requested)
            if all(profile.key != seen.key for seen in profiles):
                profiles.append(profile)
        query = ShapeQuery(start=start, end=end, feature=request.feature, customer=request.customer)
        return _Plan(at, book, query, starts, tuple(profiles), request)

    def _evaluate(self, plan: _Plan, groups: list[ShapeGroup]) -> Simulation:
        pricer = ShapePricer(plan.book, plan.at, plan.starts)
        results = [self._group(plan, pricer, group) for group in groups]
        results.sort(key=lambda g: (g.cost is None, -(g.cost or 0), g.feature, g.provider, g.model))
        return Simulation(
            computed_at=plan.at,
            start=plan.query.start,
            end=plan.query.end,
            feature=plan.query.feature,
            customer=plan.query.customer,
            price_version=plan.book.version,
            override_version=plan.book.override_version,
            quality_versions=self.quality.versions,
            candidates=tuple(c.label for c in plan.candidates),
            groups=tuple(results),
            engineering_hours=_or(plan.request.engineering_hours, self.config.engineering_hours),
            hourly_rate=_or(plan.request.hourly_rate, self.config.hourly_rate),
        )

    def _group(self, plan: _Plan, pricer: ShapePricer, group: ShapeGroup) -> GroupResult:
        current = current_model(plan.book, group.provider, group.model, self.quality)
        resolved = current.facts.resolution.resolved
        benchmark = pick_benchmark(current, self.config)
        current_cost = None
        ranked: tuple[CandidateResult, ...] = ()
        if group.slices:
            current_cost = pricer.cost(group.provider, group.model, group.slices) if resolved else None
            observed = Observed(group.max_input_tokens, group.embeddings_only, modalities_in_use(current, self.config))
            scored = []
            for candidate in plan.candidates:
                if resolved and candidate.key == current.key:
                    continue
                cost = pricer.cost(candidate.provider, candidate.model, group.slices)
                scored.append((candidate, cost, exclusions(candidate, cost, observed, self.config)))
            ranked = rank(
                scored,
                benchmark=benchmark,
                current_cost=current_cost,
                current_quality=current.score(benchmark),
                config=self.config,
            )
        return GroupResult(
            feature=group.feature,
            provider=group.provider,
            model=group.model,
            resolved_model=current.resolved_name if resolved else None,
            events=group.events,
            skipped_events=group.skipped_events,
            unpriced_events=group.unpriced_events,
            # None, not 0, when no simulated call was priced: the recorded cost is unknown.
            cost=None if 0 < group.events == group.unpriced_events else group.recorded_cost,
            current_cost=current_cost,
            max_input_tokens=group.max_input_tokens,
            tokens=group.tokens,
            tiers=tuple(TierShare(*interval(s.index, plan.starts), s.events) for s in group.slices),
            benchmark=benchmark,
            quality=current.score(benchmark),
            candidates=ranked,
        )


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
