"""REST budgets: ``GET /v1/budgets``, ``GET|PUT|DELETE /v1/budgets/{name}``.

The body of a PUT is one budget in the budgets file's shape (``name`` optional, equal to the URL's). Numbers
may be JSON numbers or strings; both are read as exact decimals. Answers carry money as strings. Every request
needs the ingest token (``Authorization: Bearer <token>``). Budgets made by ``budgets apply`` are read-only
here (409): the file owns them.

    GET    /v1/budgets          200 {"budgets": [{definition..., "status": {...}}]}
    GET    /v1/budgets/{name}   200 {definition..., "status": {...}, "alerts": [...]}  | 404
    PUT    /v1/budgets/{name}   201 created | 200 updated or unchanged: {definition..., "change", "status"}
                                | 400 invalid (problems listed) | 409 managed by the budgets file
    DELETE /v1/budgets/{name}   204 | 404 | 409
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette import status
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_margin_backend.budgets import store
from otel_margin_backend.budgets.definition import parse_body
from otel_margin_backend.budgets.errors import BudgetFileError, BudgetManagedByFile, BudgetNotFound, Problem
from otel_margin_backend.pipeline.errors import RetryableError
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.web.auth import TokenCheck
from otel_margin_backend.web.status import Unauthenticated

MAX_BODY_BYTES = 64 * 1024
"""A budget is a few hundred bytes; larger bodies are refused."""
ALERTS_SHOWN = 50
"""Latest alerts returned with one budget."""

Handler = Callable[[Request], Awaitable[Response]]


def routes(pool: AsyncConnectionPool[AsyncConn], tokens: TokenCheck) -> list[Route]:
    """The budgets endpoints.

    Args:
        pool: The service's open connection pool (owned by the caller).
        tokens: The ingest-token check every request must pass.

    Returns:
        Routes to mount in the app.
    """

    async def list_budgets(request: Request) -> Response:
        async with pool.connection() as conn:
            budgets = await store.list_budgets(conn)
            statuses = {s.budget: s for s in await store.read_status(conn)}
        items = [{**b.as_json(), "status": _status(statuses.get(b.config.name))} for b in budgets]
        return JSONResponse({"budgets": items})

    async def get_budget(request: Request) -> Response:
        name = request.path_params["name"]
        async with pool.connection() as conn:
            budget = await store.get_budget(conn, name)
            if budget is None:
                raise BudgetNotFound(name)
            statuses = await store.read_status(conn, name=name)
            alerts = await store.read_alerts(conn, budget=name, limit=ALERTS_SHOWN)
        return JSONResponse({
            **budget.as_json(),
            "status": _status(statuses[0] if statuses else None),
            "alerts": [a.as_json() for a in alerts],
        })  # fmt: skip

    async def put_budget(request: Request) -> Response:
        name = request.path_params["name"]
        budget = parse_body(name, await _json_object(request))
        async with pool.connection() as conn:
            change, _ = await store.put_budget(conn, budget)
            stored = await store.get_budget(conn, name)
            statuses = await store.read_status(conn, name=name)
        assert stored is not None
        code = status.HTTP_201_CREATED if change == "created" else status.HTTP_200_OK
        body = {**stored.as_json(), "change": change, "status": _status(statuses[0] if statuses else None)}
        return JSONResponse(body, status_code=code)

    async def delete_budget(request: Request) -> Response:
        async with pool.connection() as conn:
            await store.delete_budget(conn, request.path_params["name"])
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                tokens.check(request.headers.get("authorization"))
                return await handler(request)
            except Unauthenticated as exc:
                return _error(exc, status.HTTP_401_UNAUTHORIZED, headers={"www-authenticate": "Bearer"})
            except BudgetFileError as exc:
                problems = [{"path": p.path, "message": p.message} for p in exc.problems]
                return _error(exc, status.HTTP_400_BAD_REQUEST, problems=problems)
            except BudgetNotFound as exc:
                return _error(exc, status.HTTP_404_NOT_FOUND)
            except BudgetManagedByFile as exc:
                return _error(exc, status.HTTP_409_CONFLICT)
            except (RetryableError, psycopg.OperationalError) as exc:
                message = str(exc).splitlines()[0] if str(exc) else "the database is unavailable"
                return JSONResponse(
                    {"error": message}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"retry-after": "5"}
                )

        return endpoint

    return [
        Route("/v1/budgets", guarded(list_budgets), methods=["GET"]),
        Route("/v1/budgets/{name}", guarded(get_budget), methods=["GET"]),
        Route("/v1/budgets/{name}", guarded(put_budget), methods=["PUT"]),
        Route("/v1/budgets/{name}", guarded(delete_budget), methods=["DELETE"]),
    ]


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise BudgetFileError("body", [Problem(1, "", f"the body is over {MAX_BODY_BYTES} bytes")])
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BudgetFileError("body", [Problem(1, "", f"not JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise BudgetFileError("body", [Problem(1, "", "expected a JSON object (one budget)")])
    return data


def _status(row: store.BudgetStatus | None) -> dict[str, Any] | None:
    return row.as_json() if row is not None else None


def _error(exc: Exception, code: int, **extra: Any) -> JSONResponse:
    headers = extra.pop("headers", None)
    return JSONResponse({"error": str(exc), **extra}, status_code=code, headers=headers)
