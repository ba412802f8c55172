"""``instrument()``: tracing set up for otel-margin in one call, joining the app's own OpenTelemetry setup if any.

On the chosen ``TracerProvider`` it adds, once: the baggage span processor (restricted to ``customer.id`` and
``feature.name``) and a ``BatchSpanProcessor`` with the OTLP exporter. It makes the global propagator carry W3C
baggage, and turns on the GenAI instrumentations that are installed (see ``_instrumentations``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence

from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.processor.baggage import BaggageSpanProcessor
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_margin._context import SCOPE_KEYS
from otel_margin._exporter import ExporterSettings, create_exporter, resolve_settings
from otel_margin._instrumentations import enable, select

__all__ = ["instrument"]

_log = logging.getLogger("otel_margin")
_lock = threading.Lock()
# What each provider got from the first instrument() call for it: exporter settings, or the user's exporter.
_installed: weakref.WeakKeyDictionary[TracerProvider, ExporterSettings | SpanExporter] = weakref.WeakKeyDictionary()


def _choose_provider(service_name: str | None, tracer_provider: TracerProvider | None) -> TracerProvider:
    if tracer_provider is not None:
        if not isinstance(tracer_provider, TracerProvider):
            raise TypeError(
                "tracer_provider must be an opentelemetry.sdk.trace.TracerProvider, "
                f"got {type(tracer_provider).__name__}"
            )
        return tracer_provider
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if service_name is not None:
            _log.debug("joining the global TracerProvider; its resource (service name) stays as it is")
        return current
    resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
    provider = TracerProvider(resource=resource)
    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is not provider:
        _log.warning(
            "the global TracerProvider is already set to %s, which otel-margin cannot join; the GenAI "
            "instrumentations report to otel-margin's provider, your own spans do not",
            type(trace.get_tracer_provider()).__name__,
        )
    return provider


def _propagate_baggage() -> None:
    current = propagate.get_global_textmap()
    if "baggage" in current.fields:
        return
    propagate.set_global_textmap(CompositePropagator([current, W3CBaggagePropagator()]))
    _log.info("added W3C baggage to the global propagator, so customer.id and feature.name reach other services")


def _add_processors(provider: TracerProvider, exporter: SpanExporter | None) -> None:
    provider.add_span_processor(BaggageSpanProcessor(SCOPE_KEYS.__contains__))
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))


def instrument(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    protocol: str | None = None,
    instrumentations: str | Sequence[str] = "auto",
    tracer_provider: TracerProvider | None = None,
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Send this app's GenAI spans to otel-margin, with the customer and feature of each call.

    Safe to call more than once: later calls for the same provider add nothing. Instrumentations are process-wide
    and keep reporting to the provider of the call that turned them on. Errors of the exporter and of the
    instrumentations are logged (logger ``otel_margin``), never raised.

    Args:
        service_name: ``service.name`` of a provider created here; default ``OTEL_SERVICE_NAME``. Ignored when
            joining an existing provider.
        endpoint: Base URL of otel-margin or of your Collector, e.g. ``http://margin.internal:4318``. Default:
            ``OTEL_MARGIN_ENDPOINT``, the ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` variables, then
            ``http://localhost:4318`` (``:4317`` for gRPC).
        token: Ingest token, sent as ``Authorization: Bearer <token>``. Default: ``OTEL_MARGIN_INGEST_TOKEN``.
        protocol: ``"http/protobuf"`` or ``"grpc"`` (needs ``otel-margin[grpc]``). Default:
            ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL``, then ``"http/protobuf"``.
        instrumentations: ``"auto"`` turns on every installed GenAI instrumentation, one per client library
            (for OpenAI: opentelemetry-instrumentation-genai-openai, else OpenLLMetry's
            opentelemetry-instrumentation-openai, else the legacy -openai-v2, with a warning that it reports no
            cached or reasoning tokens); none for a client that traces itself into this provider (``anthropic``
            2.x). A list of those package names turns on just these; ``[]`` none.
        tracer_provider: The SDK provider to add to. Default: the global one if the app set an SDK provider,
            else a new provider that becomes the global one.
        exporter: Export to this exporter instead of OTLP, e.g. an ``InMemoryExporter`` in tests.

    Returns:
        The provider the spans go through; ``provider.shutdown()`` flushes and stops the export.

    Raises:
        ValueError: An argument is invalid (protocol, endpoint, instrumentations); environment variables are
            checked too, but a bad one is logged and skipped.
        TypeError: ``tracer_provider`` is not an SDK ``TracerProvider``.
    """
    wanted: ExporterSettings | SpanExporter = (
        exporter if exporter is not None else resolve_settings(endpoint, token, protocol)
    )
    candidates, explicit = select(instrumentations)
    with _lock:
        provider = _choose_provider(service_name, tracer_provider)
        _propagate_baggage()
        first = _installed.get(provider)
        if first is None:
            chosen = wanted if isinstance(wanted, SpanExporter) else create_exporter(wanted)
            _add_processors(provider, chosen)
            _installed[provider] = wanted
            if isinstance(wanted, ExporterSettings) and chosen is not None:
                _log.info("exporting spans over OTLP %s to %s", wanted.protocol, wanted.endpoint)
        elif first != wanted:
            _log.warning("instrument() was already called for this TracerProvider; keeping its first exporter")
        enable(candidates, provider, explicit=explicit)
    return provider
