"""The Starlette application served on the HTTP port: health, stats, and the HTTP receivers."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from otel_margin_backend.analytics import routes as pnl
from otel_margin_backend.ingest.pipeline import IngestStats
from otel_margin_backend.service import health
from otel_margin_backend.storage.database import AsyncConn


def create_app(
    pool: AsyncConnectionPool[AsyncConn], *, routes: Sequence[BaseRoute] = (), stats: IngestStats | None = None
) -> Starlette:
    """Build the app around an open connection pool (owned by the caller) and the receivers' routes."""

    async def get_stats(request: Request) -> JSONResponse:
        return JSONResponse((stats or IngestStats()).as_dict())

    app = Starlette(routes=[*health.routes, Route("/v1/stats", get_stats), *pnl.routes(pool), *routes])
    app.state.pool = pool
    return app
