"""Fixtures for the SDK tests: a real TracerProvider set up by ``instrument()``, and instrumentors reset."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

import otel_margin
from tests.sdk.instrumentors import uninstrument_all
from tests.sdk.traced import Traced


@pytest.fixture
def traced() -> Iterator[Traced]:
    exporter = otel_margin.InMemoryExporter()
    provider = otel_margin.instrument(tracer_provider=TracerProvider(), exporter=exporter, instrumentations=[])
    yield Traced(provider, exporter)
    provider.shutdown()


@pytest.fixture
def clean_instrumentors() -> Iterator[None]:
    """Instrumentors are process-wide singletons: start and end each test with all of them off."""
    uninstrument_all()
    yield
    uninstrument_all()
