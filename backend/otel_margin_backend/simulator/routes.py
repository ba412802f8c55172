"""``GET /v1/simulate``: the simulator over REST, same parameters as the CLI, JSON like ``--format json``.

``?feature=&customer=&candidates=a,b&from=&to=``. Answers 200 with the run. Failures have the one JSON error
body of ``web/status.py``: 400 for a bad parameter or an unknown candidate; 401 without a token, 403 with one
that lacks ``read``; 503 with ``Retry-After`` when the database cannot answer.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_margin_backend.simulator.params import request_from_query
from otel_margin_backend.simulator.render import to_json
from otel_margin_backend.simulator.simulator import Simulator
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.rest import endpoint


def routes(
    pool: AsyncConnectionPool[AsyncConn], simulator: Simulator, *, tokens: TokenCheck | None = None
) -> list[Route]:
    """The simulator's routes.

    Args:
        pool: The service's open connection pool.
        simulator: The simulator.
        tokens: The token check (``read``), or None for none.

    Returns:
        ``GET /v1/simulate``.
    """

    async def get_simulate(request: Request) -> Response:
        simulation_request = request_from_query(request.query_params)
        with db_errors():
            async with pool.connection() as conn:
                simulation = await simulator.asimulate(conn, simulation_request)
        return JSONResponse(to_json(simulation))

    return [
        Route(
            "/v1/simulate",
            endpoint(get_simulate, tokens=tokens.require(Scope.READ) if tokens else None),
            methods=["GET"],
        )
    ]
