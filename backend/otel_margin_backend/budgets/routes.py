"""REST budgets: ``GET /v1/budgets``, ``GET|PUT|DELETE /v1/budgets/{name}``, and ``GET /v1/budgets/check``.

The body of a PUT is one budget in the budgets file's shape (``name`` optional, equal to the URL's). Numbers
may be JSON numbers or strings; both are read as exact decimals. Answers carry money as strings. Every request
needs a token (``Authorization: Bearer <token>``): ``read`` to list and get, ``admin`` to put and delete,
``budgets:check`` (or ``read``) to check. Budgets made by ``budgets apply`` are read-only here (409): the file owns
them. The check answers from memory (``check.BudgetStates``), never from the database.

    GET    /v1/budgets          200 {"budgets": [{definition..., "status": {...}}]}
    GET    /v1/budgets/{name}   200 {definition..., "status": {...}, "alerts": [...]}  | 404
    PUT    /v1/budgets/{name}   201 created | 200 updated or unchanged: {definition..., "change", "status"}
                                | 400 invalid (problems in ``details``) | 409 managed by the budgets file | 413
    DELETE /v1/budgets/{name}   204 | 404 | 409
    GET    /v1/budgets/check?customer=…[&feature=…]
                                200 {"state": "ok|warning|critical|exceeded|unknown|none", "spend", "limit", ...}
                                | 400 a bad parameter (named) | 503 before the first evaluation

Failures have the one JSON error body of ``web/status.py``, which maps the budgets' errors (``BudgetNotFound``
is a ``NotFound``, ``BudgetManagedByFile`` a ``Conflict``); 401 without a token, 403 with one of another scope,
503 when the database is down.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette import status
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_margin_backend.budgets import store
from otel_margin_backend.budgets.check import BudgetStates, parse_query
from otel_margin_backend.budgets.definition import parse_body
from otel_margin_backend.budgets.errors import BudgetFileError, BudgetNotFound, Problem
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.body import read_body
from otel_margin_backend.web.rest import endpoint
from otel_margin_backend.web.status import TooLarge

MAX_BODY_BYTES = 64 * 1024
"""A budget is a few hundred bytes; larger bodies are refused."""
ALERTS_SHOWN = 50
"""Latest alerts returned with one budget."""


def routes(
    pool: AsyncConnectionPool[AsyncConn], tokens: TokenCheck, *, states: BudgetStates | None = None
) -> list[Route]:
    """The budgets endpoints.

    Args:
        pool: The service's open connection pool (owned by the caller).
        tokens: The token check: reading needs ``read``, changing ``admin``, checking ``budgets:check``.
        states: The in-memory states ``GET /v1/budgets/check`` answers from, refreshed here after each change.
            Default: none, and no check route.

    Returns:
        Routes to mount in the app.
    """
    read, admin = tokens.require(Scope.READ), tokens.require(Scope.ADMIN)
    checker = tokens.require(Scope.BUDGETS_CHECK)

    async def check_budget(request: Request) -> Response:
        assert states is not None
        customer, feature = parse_query(request.query_params, request.query_params.multi_items())
        return JSONResponse(states.check(customer, feature))

    async def list_budgets(request: Request) -> Response:
        with db_errors():
            async with pool.connection() as conn:
                budgets = await store.list_budgets(conn)
                statuses = {s.budget: s for s in await store.read_status(conn)}
        items = [{**b.as_json(), "status": _status(statuses.get(b.config.name))} for b in budgets]
        return JSONResponse({"budgets": items})

    async def get_budget(request: Request) -> Response:
        name = request.path_params["name"]
        with db_errors():
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
        with db_errors():
            async with pool.connection() as conn:
                change, _ = await store.put_budget(conn, budget)
                stored = await store.get_budget(conn, name)
                statuses = await store.read_status(conn, name=name)
                if states is not None:
                    await states.refresh_after_change(conn)
        assert stored is not None
        code = status.HTTP_201_CREATED if change == "created" else status.HTTP_200_OK
        body = {**stored.as_json(), "change": change, "status": _status(statuses[0] if statuses else None)}
        return JSONResponse(body, status_code=code)

    async def delete_budget(request: Request) -> Response:
        with db_errors():
            async with pool.connection() as conn:
                await store.delete_budget(conn, request.path_params["name"])
                if states is not None:
                    await states.refresh_after_change(conn)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    # The check comes before /v1/budgets/{name}, which would take its path (a budget named "check" is listed only).
    check = (
        [Route("/v1/budgets/check", endpoint(check_budget, tokens=checker), methods=["GET"])]
        if states is not None
        else []
    )
    return [
        *check,
        Route("/v1/budgets", endpoint(list_budgets, tokens=read), methods=["GET"]),
        Route("/v1/budgets/{name}", endpoint(get_budget, tokens=read), methods=["GET"]),
        Route("/v1/budgets/{name}", endpoint(put_budget, tokens=admin), methods=["PUT"]),
        Route("/v1/budgets/{name}", endpoint(delete_budget, tokens=admin), methods=["DELETE"]),
    ]


async def _json_object(request: Request) -> dict[str, Any]:
    body = await read_body(request, MAX_BODY_BYTES)
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes: a budget is a few hundred")
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BudgetFileError("body", [Problem(1, "", f"not JSON: {exc}")]) from None
    except RecursionError:
        raise BudgetFileError("body", [Problem(1, "", "not JSON a budget can be: nested too deep")]) from None
    if not isinstance(data, dict):
        raise BudgetFileError("body", [Problem(1, "", "expected a JSON object (one budget)")])
    return data


def _status(row: store.BudgetStatus | None) -> dict[str, Any] | None:
    return row.as_json() if row is not None else None
