"""The SDK stays light: importing it, or exporting over OTLP/HTTP, never loads the backend's dependencies."""

from __future__ import annotations

import json

from tests.sdk.scripts import run_python

BACKEND_ONLY = ["grpc", "otel_margin_backend", "psycopg", "psycopg_pool", "pydantic", "starlette", "stripe", "uvicorn"]


def test_import_and_instrument_load_no_backend_dependency() -> None:
    out = run_python(
        f"""
        import json, sys
        heavy = {BACKEND_ONLY!r}
        loaded = lambda: sorted(m for m in heavy if m in sys.modules)

        import otel_margin
        after_import = loaded()
        provider = otel_margin.instrument("light", instrumentations=[])  # the OTLP/HTTP exporter, no network yet
        print(json.dumps({{"import": after_import, "instrument": loaded()}}))
        provider.shutdown()
        """
    )

    assert json.loads(out) == {"import": [], "instrument": []}
