"""``/healthz`` (the process is up) and ``/readyz`` (the database answers and is migrated).

Not ready is always a 503 with ``Retry-After`` in the one JSON error body (``web/status.py``), whatever the
database's problem (down, not migrated, no privilege): a probe only needs to know "not yet", a person reads
the message for what to do.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_margin_backend.pipeline.errors import OtelMarginError, StoreUnavailable
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors
from otel_margin_backend.web.rest import endpoint

READY_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    """Liveness: the process answers (no database check)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the database answers and is migrated; 503 otherwise."""
    pool: AsyncConnectionPool[AsyncConn] = request.app.state.pool
    try:
        with db_errors():
            async with pool.connection(timeout=READY_TIMEOUT_S) as conn:
                cur = await conn.execute("SELECT count(*) FROM schema_migrations")
                row = await cur.fetchone()
    except OtelMarginError as exc:  # down, not migrated or not granted: not ready, whichever
        raise StoreUnavailable(f"not ready: {exc}") from exc
    return JSONResponse({"status": "ready", "migrations": row[0] if row else 0})


routes = [Route("/healthz", endpoint(healthz)), Route("/readyz", endpoint(readyz))]
