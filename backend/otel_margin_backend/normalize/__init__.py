"""Normalization: decoded OTLP GenAI spans -> one ``UsageEvent`` per model call, whatever the convention.

Pure functions and plain data: no I/O. See ``README.md`` in this folder for the attribute mapping.
"""

from otel_margin_backend.normalize.attributes import decode_attributes, decode_value
from otel_margin_backend.normalize.config import NormalizeConfig
from otel_margin_backend.normalize.estimate import CharsPerTokenCounter, TokenCounter, default_token_counter
from otel_margin_backend.normalize.normalizer import Normalizer
from otel_margin_backend.normalize.result import NormalizeResult, SpanRejected

__all__ = [
    "CharsPerTokenCounter",
    "NormalizeConfig",
    "NormalizeResult",
    "Normalizer",
    "SpanRejected",
    "TokenCounter",
    "decode_attributes",
    "decode_value",
    "default_token_counter",
]
