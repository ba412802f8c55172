"""The Starlette application served on the HTTP port: health, stats, and the HTTP receivers.

Routing's own answers (no endpoint at the path, a method the endpoint does not take) have the one JSON error
body too (``web/status.http_exception``), so a client parses every failure the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from otel_margin_backend.analytics import routes as pnl
from otel_margin_backend.analytics.config import ActionsConfig
from otel_margin_backend.ingest.pipeline import IngestStats
from otel_margin_backend.receivers.otlp_discard import DiscardStats
from otel_margin_backend.service import health
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.rest import endpoint
from otel_margin_backend.web.status import http_exception


def create_app(
    pool: AsyncConnectionPool[AsyncConn],
    tokens: TokenCheck,
    *,
    routes: Sequence[BaseRoute] = (),
    stats: IngestStats | None = None,
    discarded: DiscardStats | None = None,
    actions: ActionsConfig | None = None,
    worker: Mapping[str, int] | None = None,
) -> Starlette:
    """Build the app around an open connection pool (owned by the caller) and the receivers' routes.

    ``/healthz`` and ``/readyz`` are open (probes send no token); ``/v1/stats``, ``/v1/pnl`` and
    ``/v1/customers/actions`` need ``read``. ``/v1/stats`` counts this process's requests; ``worker`` (its index
    and pid under ``serve --workers N``) is added to it, so a reader knows which worker answered.
    """

    async def get_stats(request: Request) -> Response:
        counts = {**(stats or IngestStats()).as_dict(), **(discarded or DiscardStats()).as_dict()}
        return JSONResponse({**counts, **(worker or {})})

    app = Starlette(
        routes=[
            *health.routes,
            Route("/v1/stats", endpoint(get_stats, tokens=tokens.require(Scope.READ)), methods=["GET"]),
            *pnl.routes(pool, tokens, actions),
            *routes,
        ],
        exception_handlers={HTTPException: http_exception},
    )
    app.state.pool = pool
    return app
