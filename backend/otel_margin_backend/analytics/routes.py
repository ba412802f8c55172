"""``GET /v1/pnl``: the P&L as JSON, from the same SQL functions as the CLI and Grafana.

Query: ``month=2026-11`` or ``from=2026-11-01&to=2026-11-15``, ``by=customer|feature|model|provider|organization``.
A bad parameter is a 400, a database that cannot answer a 503, both in the one JSON error body (``web/status.py``).
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_margin_backend.analytics.pnl import GROUPS, as_json, period, read_pnl_async, read_quality_async
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.rest import endpoint


def routes(pool: AsyncConnectionPool[AsyncConn], tokens: TokenCheck) -> list[Route]:
    """``GET /v1/pnl`` (a ``read`` token).

    Args:
        pool: The service's open connection pool.
        tokens: The token check.

    Returns:
        The route to mount in the app.
    """

    async def get_pnl(request: Request) -> Response:
        q = request.query_params
        by = q.get("by", "customer")
        if by not in GROUPS:
            raise PermanentError(f"by={by!r}: use one of {', '.join(GROUPS)}")
        span = period(month=q.get("month"), start=q.get("from"), end=q.get("to"))
        with db_errors():
            async with pool.connection() as conn:
                rows = await read_pnl_async(conn, span, by)
                quality = await read_quality_async(conn, span)
        return JSONResponse({
            "period": {"label": span.label, "from": span.start.isoformat(), "to": span.end.isoformat()},
            "by": by,
            "rows": [as_json(r) for r in rows],
            "data_quality": as_json(quality),
        })  # fmt: skip

    return [Route("/v1/pnl", endpoint(get_pnl, tokens=tokens.require(Scope.READ)), methods=["GET"])]
