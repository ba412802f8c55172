"""instrument(): which provider it uses, what it adds (once), where spans go, and which arguments it refuses."""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from collections.abc import Iterator

import pytest
from opentelemetry import propagate
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import otel_margin
from tests.sdk.otlp_receiver import GrpcReceiver, HttpReceiver
from tests.sdk.scripts import OTEL_VARIABLES, run_python


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


def processors(provider: TracerProvider) -> list[str]:
    """Class names of the provider's span processors, in order (read from the SDK's internals)."""
    active: tuple[SpanProcessor, ...] = provider._active_span_processor._span_processors  # type: ignore[attr-defined]
    return [type(processor).__name__ for processor in active]


def test_joins_a_given_provider_once_however_often_it_is_called() -> None:
    provider = TracerProvider()
    exporter = otel_margin.InMemoryExporter()

    first = otel_margin.instrument(tracer_provider=provider, exporter=exporter, instrumentations=[])
    second = otel_margin.instrument(tracer_provider=provider, exporter=exporter, instrumentations=[])

    assert first is second is provider
    assert processors(provider) == ["BaggageSpanProcessor", "BatchSpanProcessor"]
    provider.shutdown()


def test_a_second_call_with_other_settings_keeps_the_first_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    provider = TracerProvider()
    otel_margin.instrument(tracer_provider=provider, exporter=otel_margin.InMemoryExporter(), instrumentations=[])
    with caplog.at_level(logging.WARNING, logger="otel_margin"):
        otel_margin.instrument(tracer_provider=provider, endpoint="http://elsewhere:4318", instrumentations=[])

    assert processors(provider) == ["BaggageSpanProcessor", "BatchSpanProcessor"]
    assert caplog.messages == ["instrument() was already called for this TracerProvider; keeping its first exporter"]
    provider.shutdown()


def test_exports_over_otlp_http_with_the_token_and_flushes_on_shutdown(http_receiver: HttpReceiver) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout-api"}))
    otel_margin.instrument(tracer_provider=provider, endpoint=http_receiver.url, token="tok_123", instrumentations=[])
    with otel_margin.customer("acct_123", feature="summarize"):
        provider.get_tracer("app").start_span("work").end()
    assert http_receiver.exports == []  # batched, not yet sent

    provider.shutdown()

    (export,) = http_receiver.exports
    assert export.path == "/v1/traces"
    assert export.headers["authorization"] == "Bearer tok_123"
    assert export.headers["content-type"] == "application/x-protobuf"
    (span,) = export.spans
    assert (span.name, span.attributes) == ("work", {"customer.id": "acct_123", "feature.name": "summarize"})
    assert span.resource["service.name"] == "checkout-api"


def test_endpoint_and_token_come_from_the_environment(
    http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_MARGIN_ENDPOINT", http_receiver.url)
    monkeypatch.setenv("OTEL_MARGIN_INGEST_TOKEN", "tok_env")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=blue")
    provider = otel_margin.instrument(tracer_provider=TracerProvider(), instrumentations=[])
    provider.get_tracer("app").start_span("work").end()
    provider.shutdown()

    (export,) = http_receiver.exports
    assert (export.path, export.headers["authorization"], export.headers["x-tenant"]) == (
        "/v1/traces",
        "Bearer tok_env",
        "blue",
    )


def test_an_unreachable_endpoint_never_reaches_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    provider = otel_margin.instrument(
        tracer_provider=TracerProvider(), endpoint=f"http://127.0.0.1:{port}", instrumentations=[]
    )
    with otel_margin.customer("acct_123"):
        provider.get_tracer("app").start_span("work").end()

    started = time.monotonic()
    provider.shutdown()  # the export fails inside the SDK, which logs it
    assert time.monotonic() - started < 5


def test_exports_over_grpc_with_the_token() -> None:
    with GrpcReceiver() as receiver:
        provider = TracerProvider()
        otel_margin.instrument(
            tracer_provider=provider, endpoint=receiver.url, token="tok_grpc", protocol="grpc", instrumentations=[]
        )
        with otel_margin.customer("acct_9"):
            provider.get_tracer("app").start_span("work").end()
        provider.shutdown()

    (export,) = receiver.exports
    assert export.headers["authorization"] == "Bearer tok_grpc"
    assert [(span.name, span.attributes) for span in export.spans] == [("work", {"customer.id": "acct_9"})]


def test_grpc_without_its_exporter_package_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", None)
    provider = TracerProvider()
    with caplog.at_level(logging.ERROR, logger="otel_margin"):
        assert otel_margin.instrument(tracer_provider=provider, protocol="grpc", instrumentations=[]) is provider

    assert processors(provider) == ["BaggageSpanProcessor"]  # customer attribution still works locally
    assert caplog.messages == [
        "protocol 'grpc' needs the opentelemetry-exporter-otlp-proto-grpc package (pip install 'otel-margin[grpc]'); "
        "spans will not be exported"
    ]
    provider.shutdown()


def test_adds_w3c_baggage_to_a_global_propagator_that_lacks_it() -> None:
    original = propagate.get_global_textmap()
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    try:
        otel_margin.instrument(
            tracer_provider=TracerProvider(), exporter=otel_margin.InMemoryExporter(), instrumentations=[]
        )
        assert propagate.get_global_textmap().fields == {"traceparent", "tracestate", "baggage"}
    finally:
        propagate.set_global_textmap(original)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"protocol": "http/json"}, "protocol must be one of http/protobuf, grpc, got 'http/json'"),
        ({"endpoint": "localhost:4318"}, "endpoint must be an http(s):// URL like http://localhost:4318, got "
                                         "'localhost:4318'"),
        ({"instrumentations": "all"}, "instrumentations must be 'auto' or a list of package names, got 'all'"),
    ],
)  # fmt: skip
def test_invalid_arguments_are_refused_before_anything_changes(arguments: dict[str, str], message: str) -> None:
    provider = TracerProvider()
    with pytest.raises(ValueError) as raised:
        otel_margin.instrument(tracer_provider=provider, **arguments)  # type: ignore[arg-type]
    assert str(raised.value) == message
    assert processors(provider) == []


def test_a_provider_that_is_not_the_sdks_is_refused() -> None:
    with pytest.raises(TypeError) as raised:
        otel_margin.instrument(tracer_provider="provider")  # type: ignore[arg-type]
    assert str(raised.value) == "tracer_provider must be an opentelemetry.sdk.trace.TracerProvider, got str"


def test_creates_and_sets_the_global_provider_when_the_app_has_none(http_receiver: HttpReceiver) -> None:
    out = run_python(
        """
        import json
        from opentelemetry import trace
        import otel_margin

        provider = otel_margin.instrument("checkout-api", instrumentations=[])
        assert trace.get_tracer_provider() is provider
        assert otel_margin.instrument(instrumentations=[]) is provider
        with otel_margin.customer("acct_123", feature="summarize"):
            trace.get_tracer("app").start_span("work").end()
        provider.shutdown()
        print(json.dumps([type(p).__name__ for p in provider._active_span_processor._span_processors]))
        """,
        OTEL_MARGIN_ENDPOINT=http_receiver.url,
        OTEL_MARGIN_INGEST_TOKEN="tok_env",
    )

    assert json.loads(out) == ["BaggageSpanProcessor", "BatchSpanProcessor"]
    (export,) = http_receiver.exports
    assert export.headers["authorization"] == "Bearer tok_env"
    (span,) = export.spans
    assert (span.name, span.attributes) == ("work", {"customer.id": "acct_123", "feature.name": "summarize"})
    assert span.resource["service.name"] == "checkout-api"


def test_joins_the_apps_global_sdk_provider_instead_of_replacing_it() -> None:
    out = run_python(
        """
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        import otel_margin

        apps_exporter = otel_margin.InMemoryExporter()
        apps_provider = TracerProvider(resource=Resource.create({"service.name": "the-app"}))
        apps_provider.add_span_processor(SimpleSpanProcessor(apps_exporter))
        trace.set_tracer_provider(apps_provider)

        ours = otel_margin.InMemoryExporter()
        assert otel_margin.instrument("ignored", exporter=ours, instrumentations=[]) is apps_provider
        assert otel_margin.instrument(exporter=ours, instrumentations=[]) is apps_provider
        with otel_margin.customer("acct_123"):
            trace.get_tracer("app").start_span("work").end()
        apps_provider.force_flush()
        print(json.dumps({
            "processors": [type(p).__name__ for p in apps_provider._active_span_processor._span_processors],
            "app": [(s.name, dict(s.attributes), s.resource.attributes["service.name"])
                    for s in apps_exporter.get_finished_spans()],
            "ours": [(s.name, dict(s.attributes)) for s in ours.get_finished_spans()],
        }))
        """
    )

    assert json.loads(out) == {
        "processors": ["SimpleSpanProcessor", "BaggageSpanProcessor", "BatchSpanProcessor"],
        "app": [["work", {"customer.id": "acct_123"}, "the-app"]],
        "ours": [["work", {"customer.id": "acct_123"}]],
    }
