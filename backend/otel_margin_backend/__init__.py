"""otel-margin backend: receivers, normalization, pricing, storage, revenue, budgets and the CLI.

The import name says what it is; the repository folder is `backend/`.
"""

__version__ = "0.1.0"
