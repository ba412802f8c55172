"""customer() and feature(): W3C baggage in the OTel context, copied onto spans by the real BaggageSpanProcessor."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import baggage, context, propagate

import otel_margin
from tests.sdk.traced import Traced

CUSTOMER_AND_FEATURE = {"customer.id": "acct_123", "feature.name": "summarize"}


def test_spans_inside_the_block_carry_customer_and_feature_and_spans_outside_do_not(traced: Traced) -> None:
    with traced.tracer.start_as_current_span("before"):
        pass
    with (
        otel_margin.customer("acct_123", feature="summarize"),
        traced.tracer.start_as_current_span("inside"),
        traced.tracer.start_as_current_span("child"),
    ):
        pass
    with traced.tracer.start_as_current_span("after"):
        pass

    assert traced.attributes() == {
        "before": {},
        "inside": CUSTOMER_AND_FEATURE,
        "child": CUSTOMER_AND_FEATURE,
        "after": {},
    }
    assert baggage.get_all() == {}


def test_nested_scopes_override_and_restore(traced: Traced) -> None:
    span = traced.tracer.start_as_current_span
    with otel_margin.customer("acct_1", feature="search"):
        with span("outer"):
            pass
        with otel_margin.customer("acct_2"):
            with span("other customer, same feature"):
                pass
            with otel_margin.feature("rerank"), span("other customer, other feature"):
                pass
            with span("feature restored"):
                pass
        with span("customer restored"):
            pass
    with otel_margin.feature("nightly-batch"), span("feature without customer"):
        pass

    assert traced.attributes() == {
        "outer": {"customer.id": "acct_1", "feature.name": "search"},
        "other customer, same feature": {"customer.id": "acct_2", "feature.name": "search"},
        "other customer, other feature": {"customer.id": "acct_2", "feature.name": "rerank"},
        "feature restored": {"customer.id": "acct_2", "feature.name": "search"},
        "customer restored": {"customer.id": "acct_1", "feature.name": "search"},
        "feature without customer": {"feature.name": "nightly-batch"},
    }


def test_one_scope_object_can_be_entered_again_and_nested(traced: Traced) -> None:
    scope = otel_margin.customer("acct_7")
    with scope:
        with scope, traced.tracer.start_as_current_span("nested"):
            pass
        with traced.tracer.start_as_current_span("outer still set"):
            pass
    with scope, traced.tracer.start_as_current_span("again"):
        pass

    assert baggage.get_all() == {}
    assert traced.attributes() == {
        "nested": {"customer.id": "acct_7"},
        "outer still set": {"customer.id": "acct_7"},
        "again": {"customer.id": "acct_7"},
    }


def test_missing_customer_sets_nothing_and_other_ids_become_strings(traced: Traced) -> None:
    with otel_margin.customer("acct_outer"):
        with otel_margin.customer(None, feature="export"), traced.tracer.start_as_current_span("none keeps outer"):
            pass
        with otel_margin.customer(""), otel_margin.feature(""), traced.tracer.start_as_current_span("empty"):
            pass
    with otel_margin.customer(12345), traced.tracer.start_as_current_span("int id"):  # type: ignore[arg-type]
        pass

    assert traced.attributes() == {
        "none keeps outer": {"customer.id": "acct_outer", "feature.name": "export"},
        "empty": {"customer.id": "acct_outer"},
        "int id": {"customer.id": "12345"},
    }


def test_other_baggage_never_lands_on_spans(traced: Traced) -> None:
    ctx = baggage.set_baggage("user.email", "someone@example.com")
    ctx = baggage.set_baggage("session.id", "s-1", ctx)
    token = context.attach(ctx)
    try:
        with otel_margin.customer("acct_123"), traced.tracer.start_as_current_span("work"):
            assert baggage.get_all() == {
                "user.email": "someone@example.com",
                "session.id": "s-1",
                "customer.id": "acct_123",
            }
    finally:
        context.detach(token)

    assert traced.attributes() == {"work": {"customer.id": "acct_123"}}


def test_decorator_scopes_each_call_of_a_sync_function(traced: Traced) -> None:
    @otel_margin.customer("acct_123", feature="summarize")
    def summarize(text: str) -> str:
        """Summarize."""
        with traced.tracer.start_as_current_span(f"summarize {text}"):
            return text.upper()

    assert summarize("a") == "A"
    assert summarize(text="b") == "B"
    assert baggage.get_all() == {}
    assert summarize.__name__ == "summarize"
    assert summarize.__doc__ == "Summarize."
    assert traced.attributes() == {"summarize a": CUSTOMER_AND_FEATURE, "summarize b": CUSTOMER_AND_FEATURE}


def test_decorator_scopes_async_functions_and_concurrent_calls_do_not_mix(traced: Traced) -> None:
    @otel_margin.feature("summarize")
    async def summarize(n: int) -> int:
        await asyncio.sleep(0.01 * (3 - n))  # finish in reverse order, interleaved
        with traced.tracer.start_as_current_span(f"summarize {n}"):
            return n

    async def for_customer(n: int) -> int:
        with otel_margin.customer(f"acct_{n}"):
            return await summarize(n)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(for_customer(n) for n in range(3))))

    assert inspect.iscoroutinefunction(summarize)
    assert asyncio.run(main()) == [0, 1, 2]
    assert traced.attributes() == {
        f"summarize {n}": {"customer.id": f"acct_{n}", "feature.name": "summarize"} for n in range(3)
    }


def test_decorator_refuses_generator_functions() -> None:
    def rows() -> object:
        yield 1

    async def chunks() -> object:
        yield 1

    for func in (rows, chunks):
        with pytest.raises(TypeError, match=r"is a generator function: its body runs outside the call"):
            otel_margin.customer("acct_1")(func)


def test_asyncio_tasks_and_to_thread_inherit_the_scope(traced: Traced) -> None:
    def blocking(n: int) -> None:
        with traced.tracer.start_as_current_span(f"to_thread {n}"):
            pass

    async def task(n: int) -> None:
        await asyncio.sleep(0)
        with traced.tracer.start_as_current_span(f"task {n}"):
            pass

    async def main() -> None:
        with otel_margin.customer("acct_123", feature="summarize"):
            tasks = [asyncio.create_task(task(n)) for n in range(2)]
            await asyncio.to_thread(blocking, 0)
        # the tasks copied the context when they were created, so they keep it after the block ends
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert traced.attributes() == {
        "task 0": CUSTOMER_AND_FEATURE,
        "task 1": CUSTOMER_AND_FEATURE,
        "to_thread 0": CUSTOMER_AND_FEATURE,
    }


def test_threads_get_the_scope_only_when_given_a_copy_of_the_context(traced: Traced) -> None:
    def work(name: str) -> str:
        with traced.tracer.start_as_current_span(name):
            return name

    with otel_margin.customer("acct_123", feature="summarize"):
        plain = threading.Thread(target=work, args=("plain thread",))
        plain.start()
        copied = threading.Thread(target=contextvars.copy_context().run, args=(work, "thread with copied context"))
        copied.start()
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = [pool.submit(contextvars.copy_context().run, work, f"pool {n}") for n in range(3)]
            assert [future.result() for future in results] == ["pool 0", "pool 1", "pool 2"]
        plain.join()
        copied.join()

    assert traced.attributes() == {
        "plain thread": {},
        "thread with copied context": CUSTOMER_AND_FEATURE,
        "pool 0": CUSTOMER_AND_FEATURE,
        "pool 1": CUSTOMER_AND_FEATURE,
        "pool 2": CUSTOMER_AND_FEATURE,
    }


def test_baggage_crosses_a_service_hop_with_the_global_propagator(traced: Traced) -> None:
    carrier: dict[str, str] = {}
    with otel_margin.customer("acct 9/ü", feature="search"), traced.tracer.start_as_current_span("upstream"):
        propagate.inject(carrier)

    assert carrier["baggage"] == "customer.id=acct+9%2F%C3%BC,feature.name=search"
    assert "traceparent" in carrier

    # The downstream service: a fresh context, rebuilt only from the headers.
    token = context.attach(propagate.extract(carrier, context=context.Context()))
    try:
        with traced.tracer.start_as_current_span("downstream"):
            pass
    finally:
        context.detach(token)

    spans = {span.name: span for span in traced.spans()}
    expected = {"customer.id": "acct 9/ü", "feature.name": "search"}
    assert dict(spans["upstream"].attributes or {}) == expected
    assert dict(spans["downstream"].attributes or {}) == expected
    downstream_parent = spans["downstream"].parent
    assert downstream_parent is not None
    assert downstream_parent.span_id == spans["upstream"].context.span_id
    assert spans["downstream"].context.trace_id == spans["upstream"].context.trace_id
