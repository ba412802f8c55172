"""InMemoryExporter: keeps the newest spans up to its bound, counts the rest, and is safe across threads."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from otel_margin import InMemoryExporter


def _provider(exporter: InMemoryExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_keeps_the_newest_spans_up_to_its_bound_and_counts_the_dropped() -> None:
    exporter = InMemoryExporter(max_spans=3)
    tracer = _provider(exporter).get_tracer("t")
    for n in range(5):
        tracer.start_span(f"s{n}").end()

    assert [span.name for span in exporter.get_finished_spans()] == ["s2", "s3", "s4"]
    assert exporter.dropped_spans == 2

    exporter.clear()
    assert (exporter.get_finished_spans(), exporter.dropped_spans) == ((), 0)


def test_concurrent_exports_lose_nothing_within_the_bound() -> None:
    exporter = InMemoryExporter()
    tracer = _provider(exporter).get_tracer("t")

    def work(thread: int) -> None:
        for n in range(250):
            tracer.start_span(f"{thread}-{n}").end()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    names = [span.name for span in exporter.get_finished_spans()]
    assert len(names) == 2000
    assert set(names) == {f"{t}-{n}" for t in range(8) for n in range(250)}
    assert exporter.dropped_spans == 0


def test_after_shutdown_exports_fail_and_nothing_is_kept() -> None:
    exporter = InMemoryExporter()
    provider = _provider(exporter)
    provider.get_tracer("t").start_span("before").end()
    exporter.shutdown()
    exporter.shutdown()

    assert exporter.export(exporter.get_finished_spans()) is SpanExportResult.FAILURE
    assert [span.name for span in exporter.get_finished_spans()] == ["before"]
    assert exporter.force_flush() is True


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError) as raised:
        InMemoryExporter(max_spans=0)
    assert str(raised.value) == "max_spans must be at least 1, got 0"
