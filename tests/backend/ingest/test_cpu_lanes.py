"""CPU lanes: the usual requests share one thread; a huge or slow one never holds the others up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import datetime

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from otel_margin_backend.ingest.batcher import Batcher
from otel_margin_backend.ingest.lanes import LARGE_REQUEST_SPANS, CpuLanes
from otel_margin_backend.ingest.pipeline import IngestPipeline
from otel_margin_backend.normalize import Normalizer, NormalizeResult
from otel_margin_backend.pipeline.consumer import Accepted, span_count
from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.pricing import PricingConfig
from otel_margin_backend.pricing import create as create_pricer
from otel_margin_backend.storage.writer import WriteResult


class HeldNormalizer(Normalizer):
    """The real normalizer, except that a large request waits in it until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.large_started = threading.Event()
        self.release = threading.Event()

    def normalize(
        self, data: ExportTraceServiceRequest | Sequence[ResourceSpans], *, now: datetime | None = None
    ) -> NormalizeResult:
        if isinstance(data, ExportTraceServiceRequest) and span_count(data) > LARGE_REQUEST_SPANS:
            self.large_started.set()
            assert self.release.wait(30), "the test never released the large request"
        return super().normalize(data, now=now)


async def _no_write(events: Sequence[UsageEvent]) -> WriteResult:
    raise AssertionError("spans without GenAI attributes make no events to write")


def _request(spans: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    scope.spans.extend(Span(name=f"GET /{i}", trace_id=bytes(15) + b"\x01", span_id=bytes(7) + b"\x01")
                       for i in range(spans))  # fmt: skip
    return request


def test_a_small_request_is_answered_while_a_huge_one_is_still_normalized() -> None:
    normalizer = HeldNormalizer()
    pipeline = IngestPipeline(normalizer, create_pricer(PricingConfig()), Batcher(_no_write))

    async def scenario() -> tuple[Accepted, bool, Accepted]:
        huge = asyncio.create_task(pipeline.consume_traces(_request(LARGE_REQUEST_SPANS + 1)))
        assert await asyncio.to_thread(normalizer.large_started.wait, 30)
        small = await asyncio.wait_for(pipeline.consume_traces(_request(LARGE_REQUEST_SPANS)), 30)
        huge_still_running = not huge.done()
        normalizer.release.set()
        return small, huge_still_running, await huge

    try:
        small, huge_still_running, huge = asyncio.run(scenario())
    finally:
        normalizer.release.set()
        pipeline.close()
    assert huge_still_running
    assert (small.stored, small.rejected, huge.stored, huge.rejected) == (0, 0, 0, 0)
    assert pipeline.stats.ignored_non_genai == 2 * LARGE_REQUEST_SPANS + 1


def _held(started: threading.Event, release: threading.Event) -> str:
    started.set()
    assert release.wait(30), "the test never released the held work"
    return "held"


def _lanes_scenario(slow_request_s: float, wait_s: float) -> tuple[bool, str]:
    """Hold one request in the first lane, send another and wait up to ``wait_s``: whether it finished while the
    first was held, and its result."""
    lanes = CpuLanes(slow_request_s=slow_request_s)
    started, release = threading.Event(), threading.Event()

    async def scenario() -> tuple[bool, str]:
        held = asyncio.create_task(lanes.run(500, lambda: _held(started, release)))
        assert await asyncio.to_thread(started.wait, 30)
        other = asyncio.create_task(lanes.run(500, lambda: "other"))
        done, _ = await asyncio.wait([other], timeout=wait_s)
        finished_beside = bool(done)
        release.set()
        await held
        return finished_beside, await other

    try:
        return asyncio.run(scenario())
    finally:
        release.set()
        lanes.close()


def test_usual_requests_share_one_thread() -> None:
    assert _lanes_scenario(slow_request_s=3600, wait_s=0.5) == (False, "other")  # it waited for the held one


def test_a_request_that_arrives_while_the_first_lane_is_slow_goes_beside_it() -> None:
    assert _lanes_scenario(slow_request_s=0, wait_s=30) == (True, "other")
