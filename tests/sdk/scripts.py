"""Run a Python snippet in a fresh interpreter: for OTel globals that a process can set only once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# Variables that would change what the SDK under test does; each snippet starts without them.
OTEL_VARIABLES = (
    "OTEL_MARGIN_ENDPOINT",
    "OTEL_MARGIN_INGEST_TOKEN",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_PROPAGATORS",
)


def run_python(code: str, *, python: str = sys.executable, **env: str) -> str:
    """Run ``code`` with warnings as errors and the given environment; return its stdout, fail on error."""
    environment = {k: v for k, v in os.environ.items() if k not in OTEL_VARIABLES}
    environment.update(env)
    result = subprocess.run(
        [python, "-W", "error", "-c", textwrap.dedent(code)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"snippet failed ({result.returncode}):\n{result.stderr}"
    return result.stdout
