"""An app instrumented the way users do it, exporting to a running otel-margin backend (run as a subprocess).

python -m tests.e2e.instrumented_app DISTRIBUTION OPENAI_BASE_URL ENDPOINT TOKEN PROTOCOL
"""

from __future__ import annotations

import sys
import warnings

import otel_margin
from tests.sdk.openai_calls import make_calls


def main(distribution: str, base_url: str, endpoint: str, token: str, protocol: str) -> None:
    # OpenLLMetry declares a pydantic model with a class-based Config on instrument(); that deprecation is theirs.
    warnings.filterwarnings("ignore", message="Support for class-based `config` is deprecated")
    provider = otel_margin.instrument(
        "e2e-app", endpoint=endpoint, token=token, protocol=protocol, instrumentations=[distribution]
    )
    make_calls(base_url)
    provider.shutdown()  # flushes the batch processor: every span is exported before the process ends


if __name__ == "__main__":
    main(*sys.argv[1:6])
