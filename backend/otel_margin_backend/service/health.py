"""``/healthz`` (the process is up) and ``/readyz`` (the database answers and is migrated)."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_margin_backend.storage.database import AsyncConn

READY_TIMEOUT_S = 2.0


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers (no database check)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers and is migrated; 503 otherwise."""
    pool: AsyncConnectionPool[AsyncConn] = request.app.state.pool
    try:
        async with pool.connection(timeout=READY_TIMEOUT_S) as conn:
            cur = await conn.execute("SELECT count(*) FROM schema_migrations")
            row = await cur.fetchone()
    except Exception as exc:  # any failure means "not ready"; the reason goes to the caller
        return JSONResponse(
            {"status": "unavailable", "database": str(exc).splitlines()[0] if str(exc) else type(exc).__name__},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ready", "migrations": row[0] if row else 0})


routes = [Route("/healthz", healthz), Route("/readyz", readyz)]
