"""The Starlette application served on the HTTP port."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from otel_margin_backend.api import health
from otel_margin_backend.storage.database import AsyncConn


def create_app(pool: AsyncConnectionPool[AsyncConn]) -> Starlette:
    """Build the app around an open connection pool (owned by the caller)."""
    app = Starlette(routes=[*health.routes])
    app.state.pool = pool
    return app
