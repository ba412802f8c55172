"""The backend's own metrics, served: ``/metrics`` for Prometheus, and OTLP export when asked.

One ``MeterProvider`` per backend carries the instruments of ``pipeline/metrics.py``. Its Prometheus reader
collects at each scrape (so ``/metrics`` is exact at that moment: no export interval in between) into a registry
of its own, so several backends in one process (tests) never mix their counts. When
``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` is set, a periodic reader also exports the same metrics over
OTLP/HTTP (protobuf) there, configured by the standard ``OTEL_EXPORTER_OTLP_METRICS_*`` variables
(headers, timeout; ``OTEL_METRIC_EXPORT_INTERVAL`` in milliseconds, default 60000).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from otel_margin_backend.pipeline.metrics import SCOPE, Metrics
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.rest import endpoint

log = logging.getLogger(__name__)

OTLP_ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
"""The standard OpenTelemetry variable that turns OTLP export of the backend's metrics on."""
SERVICE_NAME = "otel-margin"

Refresh = Callable[[], Awaitable[None]]
"""Work to do before a scrape is answered (a gauge read from the database)."""


class Telemetry:
    """The meter provider, its readers, and the ``/metrics`` route.

    Args:
        otlp_endpoint: Where to export over OTLP/HTTP; default: ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` (none:
            no export).
        instance: ``service.instance.id`` of the exported metrics: ``serve --workers N`` names each worker's
            (``<host>/worker-<i>``), so a backend receiving OTLP keeps the workers' series apart. Default: none.
    """

    def __init__(self, *, otlp_endpoint: str | None = None, instance: str | None = None) -> None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader  # imports prometheus_client's REGISTRY

        self.registry = CollectorRegistry(auto_describe=True)
        readers: list[MetricReader] = [PrometheusMetricReader(registry=self.registry)]
        endpoint_url = otlp_endpoint or os.environ.get(OTLP_ENDPOINT_VARIABLE) or None
        if endpoint_url:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint_url)))
        self.otlp_endpoint = endpoint_url
        self.provider = MeterProvider(
            metric_readers=readers,
            resource=Resource.create(
                {"service.name": SERVICE_NAME, **({"service.instance.id": instance} if instance else {})}
            ),
        )
        self.metrics = Metrics(self.provider.get_meter(SCOPE))
        self._refresh: list[Refresh] = []
        self._stopped = False

    def before_scrape(self, refresh: Refresh) -> None:
        """Run ``refresh`` before each ``/metrics`` answer (a failure is logged; the scrape is still answered)."""
        self._refresh.append(refresh)

    def scrape(self) -> bytes:
        """The metrics in Prometheus text format, collected now."""
        data: bytes = generate_latest(self.registry)
        return data

    def routes(self, tokens: TokenCheck) -> list[Route]:
        """``GET /metrics``, for a ``read`` token (docs/security.md), like the other reading routes."""

        async def metrics(request: Request) -> Response:
            for refresh in self._refresh:
                try:
                    await refresh()
                except Exception as exc:  # the database may be down: the other metrics still answer
                    log.warning("a metric could not be refreshed", extra={"error": str(exc)})
            body = await asyncio.to_thread(self.scrape)
            return Response(body, media_type=CONTENT_TYPE_LATEST)

        return [Route("/metrics", endpoint(metrics, tokens=tokens.require(Scope.READ)), methods=["GET"])]

    def shutdown(self) -> None:
        """Export what is pending (OTLP) and stop the readers. Safe to call twice."""
        if not self._stopped:
            self._stopped = True
            self.provider.shutdown()
