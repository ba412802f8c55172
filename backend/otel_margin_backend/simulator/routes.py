"""``GET /v1/simulate``: the simulator over REST, same parameters as the CLI, JSON like ``--format json``.

``?feature=&customer=&candidates=a,b&from=&to=``. Answers 200 with the run; 400 with ``{"error": ...}`` for a
bad parameter or an unknown candidate; 401 without the token (when one is required); 503 with ``Retry-After``
when the database cannot answer. Status codes come from ``web/status.py``, the one place that maps errors.
"""

from __future__ import annotations

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_margin_backend.pipeline.errors import StoreUnavailable
from otel_margin_backend.simulator.params import request_from_query
from otel_margin_backend.simulator.render import to_json
from otel_margin_backend.simulator.simulator import Simulator
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.web.auth import TokenCheck
from otel_margin_backend.web.status import classify


def routes(
    pool: AsyncConnectionPool[AsyncConn], simulator: Simulator, *, tokens: TokenCheck | None = None
) -> list[Route]:
    """The simulator's routes.

    Args:
        pool: The service's open connection pool.
        simulator: The simulator.
        tokens: The bearer-token check to apply, or None for none.

    Returns:
        ``GET /v1/simulate``.
    """

    async def get_simulate(request: Request) -> JSONResponse:
        try:
            if tokens is not None:
                tokens.check(request.headers.get("authorization"))
            simulation_request = request_from_query(request.query_params)
            try:
                async with pool.connection() as conn:
                    simulation = await simulator.asimulate(conn, simulation_request)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise StoreUnavailable(f"the database cannot answer: {reason}") from exc
        except Exception as exc:  # every failure becomes a status with a message
            failure = classify(exc)
            headers = {"Retry-After": str(round(failure.retry_after_s))} if failure.retry_after_s else None
            return JSONResponse({"error": failure.message}, status_code=failure.http_status, headers=headers)
        return JSONResponse(to_json(simulation))

    return [Route("/v1/simulate", get_simulate, methods=["GET"])]
