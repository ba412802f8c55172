"""otel-margin's app-side SDK: send GenAI spans to otel-margin, each attributed to a customer and a feature.

    import otel_margin

    otel_margin.instrument("checkout-api")
    with otel_margin.customer("acct_123", feature="summarize"):
        if otel_margin.budget_state("acct_123", feature="summarize").exceeded:
            ...  # throttle, or degrade to a cheaper model (docs/instrument.md)
        client.chat.completions.create(...)

It needs only OpenTelemetry (API, SDK, the OTLP exporter and the baggage span processor), never the backend;
``budget_state`` asks the backend over HTTP with the exporter's own ``requests``.
"""

from importlib import metadata as _metadata

from otel_margin._budget import BudgetState, budget_state
from otel_margin._context import customer, feature
from otel_margin._instrument import instrument
from otel_margin._testing import InMemoryExporter

try:
    __version__ = _metadata.version("otel-margin")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["BudgetState", "InMemoryExporter", "__version__", "budget_state", "customer", "feature", "instrument"]

for _public in (BudgetState, InMemoryExporter, budget_state, customer, feature, instrument):
    _public.__module__ = __name__  # reprs and docs show otel_margin.X, not the private module
del _public
