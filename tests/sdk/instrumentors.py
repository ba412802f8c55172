"""The OpenAI instrumentations under test: which are installed, and turning them all off between tests."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

from otel_margin._instrumentations import KNOWN, Known

SUCCESSOR = "opentelemetry-instrumentation-genai-openai"
LEGACY_V2 = "opentelemetry-instrumentation-openai-v2"
OPENLLMETRY = "opentelemetry-instrumentation-openai"
OPENAI_FAMILY = (SUCCESSOR, OPENLLMETRY, LEGACY_V2)  # the SDK's order of preference

# OpenLLMetry 0.62.4 imports its Responses wrappers lazily, on instrument(), and that module declares a pydantic
# model with a class-based `Config`, which pydantic 2 warns about. The warning is OpenLLMetry's, not ours.
OPENLLMETRY_PYDANTIC_WARNING = (
    "ignore:Support for class-based `config` is deprecated:pydantic.warnings.PydanticDeprecatedSince20"
)


def installed(distribution: str) -> bool:
    """Whether a distribution is installed in this environment."""
    try:
        version(distribution)
    except PackageNotFoundError:
        return False
    return True


def known(distribution: str) -> Known:
    """The SDK's table entry for a distribution."""
    return next(k for k in KNOWN if k.distribution == distribution)


def instrumented(distribution: str) -> bool:
    """Whether that instrumentor is on, without constructing it (OpenLLMetry's constructor resets its config)."""
    entry = known(distribution)
    cls = getattr(sys.modules.get(entry.module), entry.attribute, None)
    instance = getattr(cls, "_instance", None)
    return bool(getattr(instance, "is_instrumented_by_opentelemetry", False))


def uninstrument_all() -> None:
    """Turn every known instrumentor that is on off again, so the next test starts clean."""
    for entry in KNOWN:
        if instrumented(entry.distribution):
            cls = getattr(sys.modules[entry.module], entry.attribute)
            cls._instance.uninstrument()
