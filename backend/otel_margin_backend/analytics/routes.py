"""``GET /v1/pnl``, ``GET /v1/pnl/target-margin`` and ``GET /v1/customers/actions``: the P&L, the margin-target
prices and the customer actions as JSON, from the same SQL functions as the CLI and Grafana.

``/v1/pnl`` query: ``month=2026-11`` or ``from=2026-11-01&to=2026-11-15``,
``by=customer|feature|model|provider|organization``. ``/v1/pnl/target-margin`` query: ``target=60`` (percent,
above -100 and below 100), ``month=2026-11`` (a full month; default the last one). ``/v1/customers/actions``
query: ``month=2026-11``.
A bad parameter is a 400, a database that cannot answer a 503, both in the one JSON error body (``web/status.py``).
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_margin_backend.analytics.actions import action_json, read_actions_async
from otel_margin_backend.analytics.config import ActionsConfig
from otel_margin_backend.analytics.pnl import GROUPS, as_json, period, read_pnl_async, read_quality_async
from otel_margin_backend.analytics.target import parse_target, read_target_async, target_json, trailing_month
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.rest import endpoint


def routes(
    pool: AsyncConnectionPool[AsyncConn], tokens: TokenCheck, actions: ActionsConfig | None = None
) -> list[Route]:
    """``GET /v1/pnl``, ``GET /v1/pnl/target-margin`` and ``GET /v1/customers/actions`` (a ``read`` token).

    Args:
        pool: The service's open connection pool.
        tokens: The token check.
        actions: The actions' rules (the margin floor); default: the documented defaults.

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

    async def get_target(request: Request) -> Response:
        q = request.query_params
        if "target" not in q:
            raise PermanentError("target: give the margin to reach in percent, e.g. target=60")
        target_pct = parse_target(q["target"], name="target")
        span = trailing_month(q.get("month"))
        with db_errors():
            async with pool.connection() as conn:
                rows = await read_target_async(conn, target_pct, span)
        return JSONResponse({"month": span.label, "target_margin_pct": str(target_pct),
                             "rows": [target_json(r) for r in rows]})  # fmt: skip

    floor = (actions or ActionsConfig()).monitor_below_percent

    async def get_actions(request: Request) -> Response:
        span = period(month=request.query_params.get("month"))
        with db_errors():
            async with pool.connection() as conn:
                rows = await read_actions_async(conn, span, floor)
        return JSONResponse({"month": span.label, "monitor_below_percent": str(floor),
                             "rows": [action_json(r) for r in rows]})  # fmt: skip

    read = tokens.require(Scope.READ)
    return [
        Route("/v1/pnl", endpoint(get_pnl, tokens=read), methods=["GET"]),
        Route("/v1/pnl/target-margin", endpoint(get_target, tokens=read), methods=["GET"]),
        Route("/v1/customers/actions", endpoint(get_actions, tokens=read), methods=["GET"]),
    ]
