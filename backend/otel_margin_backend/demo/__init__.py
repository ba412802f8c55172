"""``otel-margin demo``: a month of AI usage from a sample app, with revenue and budgets, in under a minute.

Stdlib-only at import time (the OpenAI stub is also used by the SDK's tests, whose venv has no backend
dependencies); the heavy imports live in the modules that need them.
"""
