"""The backend's own metrics: one set of OpenTelemetry instruments every stage records into.

The instruments follow OpenTelemetry's metric semantics (dotted names, UCUM units, counters that only grow,
histograms for sizes and durations); ``service/telemetry.py`` gives them a ``MeterProvider`` whose readers serve
them for Prometheus at ``/metrics`` (``otel_margin_spans_received_total`` …) and, when asked, export them over
OTLP. Without a provider (tests of one stage, the CLI) the instruments are no-ops, so a stage records
unconditionally.

Values that are states rather than events (pending events, outbox depth, the price data's age) are gauges read
when a reader collects: a stage registers a function with ``watch`` and the gauge calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, Meter, NoOpMeter, Observation

SCOPE = "otel_margin_backend"
"""The instrumentation scope of every instrument."""

BATCH_SIZE_BUCKETS = (1, 10, 100, 500, 1_000, 2_000, 5_000, 10_000, 50_000)
"""Histogram bounds for events per batch (``ingest.batch_max_events`` defaults to 5,000)."""
SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""Histogram bounds for a flush's duration and the receive -> stored latency, in seconds (``ingest_latency_bounds_s()``
in migration 0081 holds the same)."""

RECEIVERS = ("otlp_grpc", "otlp_http", "rest")
"""The ``receiver`` label's values."""

Reading = Callable[[], "float | None"]
"""A gauge's source: the current value, or None when there is none yet (nothing is reported then)."""


@dataclass(frozen=True, slots=True)
class Gauge:
    """What one watched gauge reports."""

    name: str
    unit: str
    description: str


GAUGES = {
    "pending": Gauge("otel_margin.ingest.pending_events", "{event}", "Events waiting to be written (backpressure)."),
    "price_sync_last_success": Gauge(
        "otel_margin.price_sync.last_success", "s", "Unix time of the last successful price sync."
    ),
    "price_sync_age": Gauge("otel_margin.price_sync.age", "s", "Seconds since the last successful price sync."),
    "outbox_depth": Gauge(
        "otel_margin.budget.webhook.outbox_depth", "{delivery}", "Budget webhook deliveries not yet delivered."
    ),
    "budget_lag": Gauge(
        "otel_margin.budget.evaluation.lag", "s", "Seconds since budgets were last evaluated to completion."
    ),
}
"""Every gauge a stage may ``watch``, by key."""


class Metrics:
    """The instruments, created once from ``meter`` (no-ops without one).

    Labels (attributes) stay few and bounded: ``receiver`` (otlp_grpc, otlp_http, rest), ``reason`` and
    ``outcome`` from fixed sets, ``kind`` from ``storage/writer.FailureKind``; never a customer or a model.
    """

    def __init__(self, meter: Meter | None = None) -> None:
        m = meter if meter is not None else NoOpMeter(SCOPE)
        self.spans_received = m.create_counter(
            "otel_margin.spans.received", "{span}", "Spans (REST: items) in requests a receiver decoded."
        )
        self.spans_accepted = m.create_counter(
            "otel_margin.spans.accepted", "{span}", "Usage events made durable (one per model call)."
        )
        self.spans_rejected = m.create_counter(
            "otel_margin.spans.rejected", "{span}", "Spans refused, by reason (invalid, or the whole request's code)."
        )
        self.spans_ignored = m.create_counter(
            "otel_margin.spans.ignored", "{span}", "Spans not priced: not GenAI, not a model call, or a duplicate."
        )
        self.oversize = m.create_counter(
            "otel_margin.requests.oversize", "{request}", "Requests refused for their size, before decoding."
        )
        self.batch_size = m.create_histogram(
            "otel_margin.ingest.batch.size", "{event}", "Events per database write.",
            explicit_bucket_boundaries_advisory=BATCH_SIZE_BUCKETS,
        )  # fmt: skip
        self.flush_duration = m.create_histogram(
            "otel_margin.ingest.flush.duration", "s", "Time to make one batch durable.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )  # fmt: skip
        self.ingest_latency = m.create_histogram(
            "otel_margin.ingest.latency", "s", "Receive -> stored: from a request's events reaching the batcher to "
            "their batch's commit, per request.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )  # fmt: skip
        self.db_errors = m.create_counter(
            "otel_margin.db.errors", "{error}", "Failed database writes, by kind (refused, conflict, unavailable)."
        )
        self.db_retries = m.create_counter("otel_margin.db.retries", "{retry}", "Writes retried after a conflict.")
        self.price_sync_failures = m.create_counter(
            "otel_margin.price_sync.failures", "{sync}", "Price syncs that failed."
        )
        self.webhook_failures = m.create_counter(
            "otel_margin.budget.webhook.failures", "{delivery}", "Budget webhook delivery attempts that failed."
        )
        self.stripe_events = m.create_counter(
            "otel_margin.stripe.events", "{event}", "Stripe webhook events, by outcome."
        )
        self._zero()
        self._watched: dict[str, list[Reading]] = {key: [] for key in GAUGES}
        for key, gauge in GAUGES.items():
            m.create_observable_gauge(gauge.name, [self._observer(key)], gauge.unit, gauge.description)

    def _zero(self) -> None:
        """Start the counters of every fixed label set at 0: a series that exists before its first event makes
        ``rate()`` and ``increase()`` (dashboard, alerts) see that first event."""
        for receiver in RECEIVERS:
            labels = {"receiver": receiver}
            for counter in (self.spans_received, self.spans_accepted, self.oversize):
                counter.add(0, labels)
            self.spans_rejected.add(0, {"receiver": receiver, "reason": "invalid"})
        for reason in ("non_genai", "non_model_call", "duplicate"):
            self.spans_ignored.add(0, {"reason": reason})
        for kind in ("refused", "conflict", "unavailable"):
            self.db_errors.add(0, {"kind": kind})
        for outcome in ("retry", "rejected"):
            self.webhook_failures.add(0, {"outcome": outcome})
        self.db_retries.add(0)
        self.price_sync_failures.add(0)
        self.stripe_events.add(0, {"outcome": "booked"})

    def watch(self, key: str, reading: Reading) -> None:
        """Report ``reading()`` as the gauge ``GAUGES[key]`` at every collection.

        Raises:
            KeyError: ``key`` is not a gauge of ``GAUGES``.
        """
        self._watched[key].append(reading)

    def _observer(self, key: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            for reading in self._watched[key]:
                value = reading()
                if value is not None:
                    yield Observation(value)

        return observe


NOOP = Metrics()
"""The instruments that record nothing: the default of every stage."""
