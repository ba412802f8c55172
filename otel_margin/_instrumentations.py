"""Which GenAI instrumentations to turn on: the known instrumentor packages, one per provider family.

Each family (OpenAI, Anthropic, Bedrock, ...) lists its instrumentor packages in order of preference: those that
report cached-input and reasoning tokens first (the official OpenTelemetry one from opentelemetry-python-genai, then
OpenLLMetry's), one that cannot (contrib's legacy openai-v2) last, with a warning when it is the one turned on: its
cached input is priced at the full input rate. At most one member of a family is ever on, because two
instrumentations of the same client would report every model call twice. A family where any member is already on
(turned on by the app, by ``Traceloop.init()``, or by an earlier ``instrument()``) is left as it is.

Some clients trace themselves (``SELF_TRACING``): the ``anthropic`` client since 2.x emits a span per API call, with
cache and reasoning counts, to the global tracer provider. When ``instrument()`` reports to that global provider,
``"auto"`` turns on no instrumentation for such a client; one named explicitly is turned on with a warning that each
call then has two spans (the backend books one when both are in one trace).

Nothing here raises into the app: an instrumentor that cannot be imported, whose library is missing, or whose
``instrument()`` fails is logged and skipped.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import TracerProvider

__all__ = ["KNOWN", "SELF_TRACING", "Known", "SelfTracing", "enable", "select"]

_log = logging.getLogger("otel_margin")


@dataclass(frozen=True)
class Known:
    """An instrumentor package otel-margin knows how to turn on."""

    distribution: str
    """The name you ``pip install``, and the name ``instrument(instrumentations=[...])`` takes."""
    module: str
    """The module that defines the instrumentor."""
    attribute: str
    """The instrumentor class in ``module``."""
    family: str
    """The client library it instruments; only one instrumentor per family is turned on."""
    cannot_report: str = ""
    """What its spans never carry that the price depends on, for the warning when it is turned on; "" for nothing."""


def _known(family: str, distribution: str, target: str, cannot_report: str = "") -> Known:
    module, _, attribute = target.partition(":")
    prefix = "opentelemetry-instrumentation-"
    return Known(prefix + distribution, "opentelemetry.instrumentation." + module, attribute, family, cannot_report)


KNOWN: tuple[Known, ...] = (
    # OpenAI: the official successor of contrib's openai-v2 and OpenLLMetry's report cached and reasoning tokens
    # (tests/sdk/test_openai.py); the legacy openai-v2 reports neither, so it comes last.
    _known("openai", "genai-openai", "genai.openai:OpenAIInstrumentor"),
    _known("openai", "openai", "openai:OpenAIInstrumentor"),
    _known("openai", "openai-v2", "openai_v2:OpenAIInstrumentor", "cached-input or reasoning tokens"),
    _known("anthropic", "genai-anthropic", "genai.anthropic:AnthropicInstrumentor"),
    _known("anthropic", "anthropic", "anthropic:AnthropicInstrumentor"),
    _known("bedrock", "genai-bedrock", "genai.bedrock:BedrockInstrumentor"),
    _known("bedrock", "bedrock", "bedrock:BedrockInstrumentor"),
    # Both instrument the google-genai SDK (google.genai).
    _known("google-genai", "google-genai", "google_genai:GoogleGenAiSdkInstrumentor"),
    _known("google-genai", "google-generativeai", "google_generativeai:GoogleGenerativeAiInstrumentor"),
    _known("vertexai", "vertexai", "vertexai:VertexAIInstrumentor"),
    _known("cohere", "cohere", "cohere:CohereInstrumentor"),
    _known("mistralai", "mistralai", "mistralai:MistralAiInstrumentor"),
    _known("groq", "groq", "groq:GroqInstrumentor"),
    _known("ollama", "ollama", "ollama:OllamaInstrumentor"),
)
"""Every instrumentor ``instrument()`` may turn on, each family's in order of preference."""


@dataclass(frozen=True)
class SelfTracing:
    """A client library that emits model-call spans itself, to the global tracer provider."""

    family: str
    """The family in ``KNOWN`` whose instrumentors would report the same calls again."""
    distribution: str
    """The client's distribution name."""
    since_major: int
    """The first major version that traces itself."""
    marker: str
    """A file of the distribution that only versions that trace themselves have (checked without importing it)."""
    off_variable: str
    """The environment variable that turns the client's own spans off when set to ``false``."""


SELF_TRACING: tuple[SelfTracing, ...] = (
    # anthropic 2.x: one ``anthropic.messages.create`` span per call (spec names, input including cache reads and
    # writes, cache_read/cache_write, reasoning), to the global provider unless ``open_telemetry=False``.
    SelfTracing("anthropic", "anthropic", 2, "anthropic/_tracing.py", "ANTHROPIC_OPEN_TELEMETRY"),
)
"""Clients that trace themselves; ``tests/sdk/test_self_tracing.py`` checks each against the real package. Checked
not to: ``openai`` 3.54 and ``google-genai`` 2.34 (no OpenTelemetry code in them)."""


def traces_itself(client: SelfTracing) -> str | None:
    """The installed version of a client if that version traces itself (and the environment has not turned it off).

    Args:
        client: An entry of ``SELF_TRACING``.

    Returns:
        The version, or None when the client is not installed, too old, or its spans are turned off.
    """
    if os.environ.get(client.off_variable, "").strip().lower() == "false":
        return None
    try:
        dist = importlib.metadata.distribution(client.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    major = dist.version.partition(".")[0]
    if not major.isdigit() or int(major) < client.since_major:
        return None
    files = dist.files or ()
    return dist.version if any(str(path) == client.marker for path in files) else None


def select(instrumentations: str | Sequence[str]) -> tuple[tuple[Known, ...], bool]:
    """Check the ``instrumentations`` argument of ``instrument()``.

    Args:
        instrumentations: ``"auto"`` (every known family) or distribution names from ``KNOWN``; ``[]`` for none.

    Returns:
        The candidates in order of preference, and whether the user named them (which makes skips warnings).

    Raises:
        ValueError: An unknown name, or two names of one family.
    """
    if isinstance(instrumentations, str):
        if instrumentations != "auto":
            raise ValueError(f"instrumentations must be 'auto' or a list of package names, got {instrumentations!r}")
        return KNOWN, False
    by_name = {known.distribution: known for known in KNOWN}
    names = list(instrumentations)
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(
            f"instrumentations: unknown package {unknown[0]!r}; known: {', '.join(sorted(by_name))}"
            " (instrument any other library yourself with its instrumentor)"
        )
    chosen = tuple(known for known in KNOWN if known.distribution in names)
    families = [known.family for known in chosen]
    for family in families:
        if families.count(family) > 1:
            twins = [known.distribution for known in chosen if known.family == family]
            raise ValueError(
                f"instrumentations: {' and '.join(twins)} both instrument {family}; name at most one of them "
                "(two would report every call twice)"
            )
    return chosen, True


def _loaded_instance(known: Known) -> Any | None:
    """The instrumentor's singleton if its module is already imported and someone created it; never imports."""
    module = sys.modules.get(known.module)
    cls = getattr(module, known.attribute, None) if module is not None else None
    # BaseInstrumentor keeps its singleton in ``_instance``; reading it avoids calling a constructor (OpenLLMetry's
    # resets its configuration), so an app's own instrumentor settings stay as they are.
    instance = getattr(cls, "_instance", None) if cls is not None else None
    return instance if cls is not None and isinstance(instance, cls) else None


def _is_on(known: Known) -> bool:
    instance = _loaded_instance(known)
    return bool(getattr(instance, "is_instrumented_by_opentelemetry", False))


def _import_class(known: Known, explicit: bool) -> Any | None:
    level = logging.WARNING if explicit else logging.DEBUG
    try:
        if importlib.util.find_spec(known.module) is None:
            _log.log(level, "%s is not installed", known.distribution)
            return None
    except (ImportError, ValueError):
        _log.log(level, "%s is not installed", known.distribution)
        return None
    try:
        module = importlib.import_module(known.module)
    except ModuleNotFoundError as error:
        _log.log(level, "%s cannot be used: %s is not installed", known.distribution, error.name)
        return None
    except Exception:
        _log.warning("%s is installed but fails to import; skipping it", known.distribution, exc_info=True)
        return None
    cls = getattr(module, known.attribute, None)
    if cls is None:
        _log.warning("%s has no %s; skipping it", known.distribution, known.attribute)
    return cls


def _dependency_conflict(instance: Any) -> tuple[str, bool] | None:
    """Why the instrumentor cannot run here, and whether its library is installed in a version it cannot handle."""
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    conflict = get_dependency_conflicts(instance.instrumentation_dependencies())
    if conflict is None:
        return None
    return str(conflict), bool(getattr(conflict, "found", None) or getattr(conflict, "found_any", None))


def _turn_on(known: Known, tracer_provider: TracerProvider, explicit: bool) -> bool | None:
    """Turn one instrumentor on: ``True`` if on, ``False`` to try the family's next one, ``None`` to stop."""
    cls = _import_class(known, explicit)
    if cls is None:
        return False
    try:
        instance = cls()
        conflict = _dependency_conflict(instance)
        if conflict is not None:
            # A library that is absent is the usual case for "auto"; one installed in a version the instrumentor
            # refuses means calls the user expects to be priced make no spans at all (google-genai 3.x with
            # opentelemetry-instrumentation-google-genai 1.3b0, for one).
            reason, wrong_version = conflict
            level = logging.WARNING if explicit or wrong_version else logging.DEBUG
            _log.log(level, "%s skipped: %s", known.distribution, reason)
            return False
    except Exception:
        _log.warning("%s cannot be set up; skipping it", known.distribution, exc_info=True)
        return False
    try:
        instance.instrument(tracer_provider=tracer_provider)
    except Exception:
        # It may have patched part of its library: trying the family's next instrumentor could double-report.
        _log.warning("%s failed; %s stays uninstrumented", known.distribution, known.family, exc_info=True)
        return None
    if not getattr(instance, "is_instrumented_by_opentelemetry", False):
        return False
    _log.info("instrumented %s with %s", known.family, known.distribution)
    if known.cannot_report:
        better = [k.distribution for k in KNOWN if k.family == known.family and not k.cannot_report]
        _log.warning(
            "%s reports no %s: otel-margin prices cached input at the full input rate; install %s instead",
            known.distribution,
            known.cannot_report,
            " or ".join(better) or "another instrumentation",
        )
    return True


def _self_traced(family: str, tracer_provider: TracerProvider) -> tuple[str, str] | None:
    """The client (name, version) of a family that traces itself into ``tracer_provider``, if any."""
    if tracer_provider is not trace.get_tracer_provider():
        return None  # its own spans go to the global provider, not to this one
    for client in SELF_TRACING:
        if client.family == family:
            version = traces_itself(client)
            if version is not None:
                return client.distribution, version
    return None


def enable(candidates: Sequence[Known], tracer_provider: TracerProvider, *, explicit: bool) -> list[str]:
    """Turn on the first working candidate of each family, unless something in the family is already on.

    Args:
        candidates: From ``select()``, in order of preference.
        tracer_provider: The provider the instrumentors report to.
        explicit: The user named the candidates: skips are logged as warnings, not debug messages.

    Returns:
        The distributions this call turned on.
    """
    turned_on: list[str] = []
    done: set[str] = set()
    for known in candidates:
        if known.family in done:
            continue
        on_already = [k.distribution for k in KNOWN if k.family == known.family and _is_on(k)]
        if on_already:
            _log.debug("%s is already instrumented by %s; leaving it", known.family, on_already[0])
            done.add(known.family)
            continue
        client = _self_traced(known.family, tracer_provider)
        if client is not None and not explicit:
            _log.info("%s %s traces itself; no instrumentation turned on for it", *client)
            done.add(known.family)
            continue
        if client is not None:
            _log.warning(
                "%s %s traces itself and %s reports the same calls: two spans per call, booked once when both are in "
                "one trace (inside an enclosing span; without one they start two traces and are booked twice); set "
                "%s=false to keep only the instrumentation's",
                *client,
                known.distribution,
                next(c.off_variable for c in SELF_TRACING if c.distribution == client[0]),
            )
        result = _turn_on(known, tracer_provider, explicit)
        if result is None or result:
            done.add(known.family)
        if result:
            turned_on.append(known.distribution)
    return turned_on
