"""Turning GenAI instrumentations on: one per client library, the preferred one first, failures logged not raised."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import pytest
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.sdk.trace import TracerProvider

import otel_margin
from otel_margin import _instrumentations
from otel_margin._instrumentations import Known
from tests.sdk.instrumentors import (
    LEGACY_V2,
    OPENAI_FAMILY,
    OPENLLMETRY,
    OPENLLMETRY_PYDANTIC_WARNING,
    SUCCESSOR,
    installed,
    instrumented,
    known,
)

pytestmark = [pytest.mark.filterwarnings(OPENLLMETRY_PYDANTIC_WARNING), pytest.mark.usefixtures("clean_instrumentors")]


def _instrument(instrumentations: Any = "auto") -> TracerProvider:
    provider = TracerProvider()
    otel_margin.instrument(
        tracer_provider=provider, exporter=otel_margin.InMemoryExporter(), instrumentations=instrumentations
    )
    return provider


def test_auto_turns_on_exactly_one_openai_instrumentation_the_preferred_installed_one() -> None:
    present = [name for name in OPENAI_FAMILY if installed(name)]
    assert len(present) >= 2, f"this test needs two OpenAI instrumentations installed, found {present}"

    _instrument()
    _instrument()  # idempotent: nothing more is turned on

    assert [name for name in OPENAI_FAMILY if instrumented(name)] == [present[0]]


def test_auto_leaves_openai_alone_when_the_app_already_instrumented_it() -> None:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()  # the app's own OpenLLMetry setup (e.g. Traceloop.init)

    _instrument()

    assert [name for name in OPENAI_FAMILY if instrumented(name)] == [OPENLLMETRY]


def test_a_named_instrumentation_is_used_even_when_a_preferred_one_is_installed() -> None:
    _instrument([OPENLLMETRY])

    assert [name for name in OPENAI_FAMILY if instrumented(name)] == [OPENLLMETRY]


def test_an_empty_list_turns_nothing_on() -> None:
    _instrument([])

    assert [name for name in OPENAI_FAMILY if instrumented(name)] == []


def test_a_named_instrumentation_that_is_not_installed_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    missing = next(k.distribution for k in _instrumentations.KNOWN if not installed(k.distribution))
    with caplog.at_level(logging.WARNING, logger="otel_margin"):
        _instrument([missing])
    assert caplog.messages == [f"{missing} is not installed"]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (
            [LEGACY_V2, OPENLLMETRY],
            f"instrumentations: {OPENLLMETRY} and {LEGACY_V2} both instrument openai; name at most one of them "
            "(two would report every call twice)",
        ),
        (["opentelemetry-instrumentation-requests"], "instrumentations: unknown package "),
    ],
)
def test_refuses_unknown_names_and_two_of_one_family(names: list[str], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        _instrument(names)
    assert str(raised.value).startswith(message)
    assert not any(instrumented(name) for name in OPENAI_FAMILY)


def test_the_openai_preference_order_puts_the_one_without_cache_counts_last() -> None:
    openai_family = [k.distribution for k in _instrumentations.KNOWN if k.family == "openai"]
    assert openai_family == [SUCCESSOR, OPENLLMETRY, LEGACY_V2]
    assert known(SUCCESSOR).module == "opentelemetry.instrumentation.genai.openai"
    assert [k.distribution for k in _instrumentations.KNOWN if k.cannot_report] == [LEGACY_V2]


def test_auto_with_legacy_v2_and_openllmetry_installed_picks_openllmetry_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert installed(LEGACY_V2) and installed(OPENLLMETRY), "this test needs both installed (scripts/bootstrap.sh test)"
    with caplog.at_level(logging.WARNING, logger="otel_margin"):
        _instrument()

    assert [name for name in OPENAI_FAMILY if instrumented(name)] == [OPENLLMETRY]
    assert caplog.messages == []


def test_turning_on_the_instrumentation_that_loses_cached_tokens_is_a_warning_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_margin"):
        _instrument([LEGACY_V2])

    assert instrumented(LEGACY_V2)
    assert caplog.messages == [
        f"{LEGACY_V2} reports no cached-input or reasoning tokens: otel-margin prices cached input at the full input "
        f"rate; install {SUCCESSOR} or {OPENLLMETRY} instead"
    ]


# Instrumentors that misbehave, to check that nothing reaches the app. They are real BaseInstrumentors.
class BrokenInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    def _uninstrument(self, **kwargs: Any) -> None:
        return None


class NeedsMissingLibraryInstrumentor(BrokenInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("no-such-library-otel-margin >= 1",)


class NeedsOtherVersionInstrumentor(BrokenInstrumentor):
    _instance = None  # its own singleton: BaseInstrumentor would otherwise hand out BrokenInstrumentor's

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("pytest < 1",)


class WorkingInstrumentor(BrokenInstrumentor):
    def _instrument(self, **kwargs: Any) -> None:
        self.tracer_provider = kwargs["tracer_provider"]


def _fake(name: str, attribute: str, module: str = __name__) -> Known:
    return Known(f"opentelemetry-instrumentation-{name}", module, attribute, "fake")


@pytest.fixture
def reset_fakes() -> Any:
    yield
    for cls in (
        BrokenInstrumentor,
        NeedsMissingLibraryInstrumentor,
        NeedsOtherVersionInstrumentor,
        WorkingInstrumentor,
    ):
        instance = cls._instance
        if instance is not None and instance.is_instrumented_by_opentelemetry:
            instance.uninstrument()


@pytest.mark.usefixtures("reset_fakes")
def test_unusable_instrumentors_are_skipped_for_the_next_of_the_family(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        _instrumentations,
        "KNOWN",
        (
            _fake("absent", "AbsentInstrumentor", module="tests.sdk.no_such_module"),
            _fake("no-class", "AbsentInstrumentor"),
            _fake("needs-missing", "NeedsMissingLibraryInstrumentor"),
            _fake("working", "WorkingInstrumentor"),
        ),
    )
    with caplog.at_level(logging.DEBUG, logger="otel_margin"):
        provider = _instrument()

    assert WorkingInstrumentor().is_instrumented_by_opentelemetry
    assert WorkingInstrumentor().tracer_provider is provider
    assert caplog.messages == [
        "opentelemetry-instrumentation-absent is not installed",
        "opentelemetry-instrumentation-no-class has no AbsentInstrumentor; skipping it",
        'opentelemetry-instrumentation-needs-missing skipped: This instrumentation only instruments "no-such-library-'
        'otel-margin >= 1", but no installed version was found, so nothing can be instrumented.',
        "instrumented fake with opentelemetry-instrumentation-working",
    ]


@pytest.mark.usefixtures("reset_fakes")
def test_an_instrumentor_that_raises_is_logged_and_its_family_stays_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        _instrumentations, "KNOWN", (_fake("broken", "BrokenInstrumentor"), _fake("working", "WorkingInstrumentor"))
    )
    with caplog.at_level(logging.WARNING, logger="otel_margin"):
        _instrument()

    # It may have patched half its library, so the next one is not tried (it could double-report).
    assert not WorkingInstrumentor().is_instrumented_by_opentelemetry
    (record,) = caplog.records
    assert record.getMessage() == "opentelemetry-instrumentation-broken failed; fake stays uninstrumented"
    assert record.exc_info is not None and str(record.exc_info[1]) == "boom"


@pytest.mark.usefixtures("reset_fakes")
def test_auto_warns_when_the_library_is_installed_in_a_version_the_instrumentor_refuses(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # e.g. google-genai 3.x with opentelemetry-instrumentation-google-genai 1.3b0: its calls would make no spans.
    monkeypatch.setattr(_instrumentations, "KNOWN", (_fake("other-version", "NeedsOtherVersionInstrumentor"),))
    with caplog.at_level(logging.WARNING, logger="otel_margin"):
        _instrument()

    (message,) = caplog.messages
    assert message.startswith(
        'opentelemetry-instrumentation-other-version skipped: This instrumentation only instruments "pytest < 1"'
    )
