"""``GET /v1/bills/reconcile``: the bill against the spans as JSON, from the same SQL functions as the CLI and Grafana.

Query: ``from=2026-11-01&to=2026-11-30`` (UTC days, both included; default: the last 30 days to today) and
``by=model|day|provider|detail|project`` (default ``model``). A ``read`` token. A bad parameter is a 400, a database
that cannot answer a 503, both in the one JSON error body (``web/status.py``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_margin_backend.bills.reconcile import as_json, check_by, read_async
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.periods import parse_day
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.rest import endpoint

DEFAULT_DAYS = 30
FIRST_YEAR, LAST_YEAR = 2000, 2099


def _day(text: str | None, what: str, default: date) -> date:
    if text is None:
        return default
    day = parse_day(text, what)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise PermanentError(f"{what}: {day}: the year must be from {FIRST_YEAR} to {LAST_YEAR}")
    return day


def routes(pool: AsyncConnectionPool[AsyncConn], tokens: TokenCheck) -> list[Route]:
    """``GET /v1/bills/reconcile`` (a ``read`` token).

    Args:
        pool: The service's open connection pool.
        tokens: The token check.

    Returns:
        The route to mount in the app.
    """

    async def get_reconcile(request: Request) -> Response:
        q = request.query_params
        by = check_by(q.get("by", "model"))
        today = datetime.now(UTC).date()
        last = _day(q.get("to"), "to", today)
        first = _day(q.get("from"), "from", last - timedelta(days=DEFAULT_DAYS - 1))
        with db_errors():
            async with pool.connection() as conn:
                rows = await read_async(conn, first, last, by)
        return JSONResponse({"from": first.isoformat(), "to": last.isoformat(), "by": by,
                             "rows": [as_json(r) for r in rows]})  # fmt: skip

    return [Route("/v1/bills/reconcile", endpoint(get_reconcile, tokens=tokens.require(Scope.READ)), methods=["GET"])]
