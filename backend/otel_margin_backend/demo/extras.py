"""What ``otel-margin demo`` needs beyond the server: the ``demo`` extra and, with no database URL, ``embedded``.

Checked before anything starts, so a missing piece is one line naming the extras to install, never a traceback
from deep inside the demo or a backend started only to stop. Stdlib and the store's own check only: this module
must import where the demo's dependencies (openai, the SDK) are missing.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.storage import embedded

OPENAI_INSTRUMENTATIONS = (
    "opentelemetry-instrumentation-genai-openai",
    "opentelemetry-instrumentation-openai",
    "opentelemetry-instrumentation-openai-v2",
)
"""The demo's preference: the ones that report cached and reasoning tokens and the Responses API first (the
legacy openai-v2 reports none of them; see docs/instrument.md)."""


def check_installed(*, embedded_database: bool) -> None:
    """Fail with what to install when the demo could not run here.

    The demo drives the real openai client through an OpenAI instrumentation and the app-side SDK (the server's
    ``demo`` extra), and stores on the embedded PostgreSQL (``embedded``) unless a database URL is set.

    Args:
        embedded_database: No database URL is configured, so the demo would start the embedded PostgreSQL.

    Raises:
        PermanentError: something is missing; the message names the extras to install.
    """
    missing = [
        name
        for name, present in (
            ("the otel-margin SDK", importlib.util.find_spec("otel_margin") is not None),
            ("openai", _installed("openai")),
            ("an OpenAI instrumentation", instrumentation() is not None),
        )
        if not present
    ]
    no_database = embedded_database and not embedded.installed()
    if not missing:
        if no_database:
            raise PermanentError(embedded.NOT_INSTALLED)
        return
    needs = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
    if no_database:
        raise PermanentError(
            f"the demo needs {needs}, and no database is configured and the embedded PostgreSQL is not installed: "
            "pip install 'otel-margin-server[demo,embedded]' (or [demo], and set OTEL_MARGIN_DATABASE_URL)"
        )
    raise PermanentError(f"the demo needs {needs}: pip install 'otel-margin-server[demo]'")


def instrumentation() -> str | None:
    """The installed OpenAI instrumentation the demo turns on (None when there is none).

    Returns:
        Its distribution name, the first of ``OPENAI_INSTRUMENTATIONS`` installed.
    """
    return next((d for d in OPENAI_INSTRUMENTATIONS if _installed(d)), None)


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
