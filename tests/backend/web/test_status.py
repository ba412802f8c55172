"""The one error mapping: each error class -> gRPC code, HTTP status, headers and the one JSON body.

And the rule that keeps it the one: no module outside ``web/`` and ``receivers/`` names a gRPC code or answers
with an HTTP error status of its own.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from typing import NamedTuple

import grpc
import pytest
from google.rpc import error_details_pb2
from starlette.exceptions import HTTPException

from otel_margin_backend.budgets.errors import BudgetFileError, BudgetManagedByFile, BudgetNotFound, Problem
from otel_margin_backend.pipeline.errors import (
    Conflict,
    NotFound,
    OtelMarginError,
    PermanentError,
    RetryableError,
    StoreUnavailable,
)
from otel_margin_backend.revenue.webhook import InvalidSignature, WebhookNotConfigured
from otel_margin_backend.web.rest import NothingValid
from otel_margin_backend.web.status import (
    Forbidden,
    TooLarge,
    Unauthenticated,
    UnsupportedMediaType,
    classify,
    json_error,
)


class Case(NamedTuple):
    error: BaseException
    grpc_code: grpc.StatusCode
    http_status: int
    body: dict[str, object]
    headers: dict[str, str]


def body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


CASES = {
    "TooLarge": Case(
        TooLarge("request body is over the 20 MiB limit"),
        grpc.StatusCode.RESOURCE_EXHAUSTED, 413,
        body("RESOURCE_EXHAUSTED", "request body is over the 20 MiB limit"), {},
    ),
    "Unauthenticated": Case(
        Unauthenticated("invalid ingest token"),
        grpc.StatusCode.UNAUTHENTICATED, 401,
        body("UNAUTHENTICATED", "invalid ingest token"), {"www-authenticate": "Bearer"},
    ),
    "Forbidden": Case(
        Forbidden("this token may only read"),
        grpc.StatusCode.PERMISSION_DENIED, 403,
        body("PERMISSION_DENIED", "this token may only read"), {},
    ),
    "Forbidden with the scope needed": Case(
        Forbidden("token 'finance' has scope read", challenge='Bearer error="insufficient_scope", scope="admin"'),
        grpc.StatusCode.PERMISSION_DENIED, 403,
        body("PERMISSION_DENIED", "token 'finance' has scope read"),
        {"www-authenticate": 'Bearer error="insufficient_scope", scope="admin"'},
    ),
    "Unauthenticated with a bad token": Case(
        Unauthenticated("invalid token", challenge='Bearer error="invalid_token"'),
        grpc.StatusCode.UNAUTHENTICATED, 401,
        body("UNAUTHENTICATED", "invalid token"), {"www-authenticate": 'Bearer error="invalid_token"'},
    ),
    "NotFound": Case(
        NotFound("no such thing"), grpc.StatusCode.NOT_FOUND, 404, body("NOT_FOUND", "no such thing"), {},
    ),
    "BudgetNotFound": Case(
        BudgetNotFound("acme"), grpc.StatusCode.NOT_FOUND, 404, body("NOT_FOUND", "no budget named 'acme'"), {},
    ),
    "Conflict": Case(
        Conflict("owned elsewhere"),
        grpc.StatusCode.FAILED_PRECONDITION, 409,
        body("FAILED_PRECONDITION", "owned elsewhere"), {},
    ),
    "BudgetManagedByFile": Case(
        BudgetManagedByFile("images"),
        grpc.StatusCode.FAILED_PRECONDITION, 409,
        body("FAILED_PRECONDITION", "budget 'images' is managed by the budgets file: change or remove it there and"
             " run `otel-margin budgets apply`"), {},
    ),
    "UnsupportedMediaType": Case(
        UnsupportedMediaType("send usage as application/json, not text/plain"),
        grpc.StatusCode.INVALID_ARGUMENT, 415,
        body("INVALID_ARGUMENT", "send usage as application/json, not text/plain"), {},
    ),
    "PermanentError": Case(
        PermanentError("body is not valid JSON"),
        grpc.StatusCode.INVALID_ARGUMENT, 400,
        body("INVALID_ARGUMENT", "body is not valid JSON"), {},
    ),
    "InvalidSignature": Case(
        InvalidSignature("invalid Stripe-Signature"),
        grpc.StatusCode.INVALID_ARGUMENT, 400,
        body("INVALID_ARGUMENT", "invalid Stripe-Signature"), {},
    ),
    "BudgetFileError": Case(
        BudgetFileError("body", [Problem(1, "period", "Input should be 'month' or 'day'"), Problem(1, "", "x")]),
        grpc.StatusCode.INVALID_ARGUMENT, 400,
        body("INVALID_ARGUMENT", "body:1: period: Input should be 'month' or 'day'\nbody:1: x",
             details=[{"path": "period", "message": "Input should be 'month' or 'day'"}, {"path": "", "message": "x"}]),
        {},
    ),
    "NothingValid": Case(
        NothingValid([{"index": 0, "error": "bad"}, {"index": 1, "error": "worse"}]),
        grpc.StatusCode.INVALID_ARGUMENT, 400,
        body("INVALID_ARGUMENT", "all 2 entries are invalid (see details): fix and send again",
             details=[{"index": 0, "error": "bad"}, {"index": 1, "error": "worse"}]),
        {},
    ),
    "RetryableError": Case(
        RetryableError("too many events waiting", retry_after_s=2.4),
        grpc.StatusCode.UNAVAILABLE, 503,
        body("UNAVAILABLE", "too many events waiting", retry_after_s=2), {"retry-after": "2"},
    ),
    "StoreUnavailable": Case(
        StoreUnavailable("database error: the database system is shutting down"),
        grpc.StatusCode.UNAVAILABLE, 503,
        body("UNAVAILABLE", "database error: the database system is shutting down", retry_after_s=5),
        {"retry-after": "5"},
    ),
    "WebhookNotConfigured": Case(
        WebhookNotConfigured("set STRIPE_WEBHOOK_SECRET", retry_after_s=60),
        grpc.StatusCode.UNAVAILABLE, 503,
        body("UNAVAILABLE", "set STRIPE_WEBHOOK_SECRET", retry_after_s=60), {"retry-after": "60"},
    ),
    "OtelMarginError": Case(
        OtelMarginError("neither permanent nor retryable"),
        grpc.StatusCode.UNAVAILABLE, 503,
        body("UNAVAILABLE", "the backend could not take the request; retry", retry_after_s=5), {"retry-after": "5"},
    ),
    "unexpected": Case(
        ZeroDivisionError("division by zero"),
        grpc.StatusCode.UNAVAILABLE, 503,
        body("UNAVAILABLE", "the backend could not take the request; retry", retry_after_s=5), {"retry-after": "5"},
    ),
    "routing 404": Case(
        HTTPException(404, "no endpoint at /v1/nope"),
        grpc.StatusCode.NOT_FOUND, 404,
        body("NOT_FOUND", "no endpoint at /v1/nope"), {},
    ),
    "routing 405": Case(
        HTTPException(405, "/v1/pnl does not take POST; use GET, HEAD", {"Allow": "GET, HEAD"}),
        grpc.StatusCode.UNIMPLEMENTED, 405,
        body("UNIMPLEMENTED", "/v1/pnl does not take POST; use GET, HEAD"), {"allow": "GET, HEAD"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_error_class_has_its_code_status_headers_and_body(case: Case) -> None:
    failure = classify(case.error)
    assert (failure.grpc_code, failure.http_status) == (case.grpc_code, case.http_status)

    response = json_error(case.error)
    assert response.status_code == case.http_status
    assert response.headers["content-type"] == "application/json"
    assert json.loads(bytes(response.body)) == case.body
    extra = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
    assert extra == case.headers

    status = failure.status_proto()  # what OTLP answers for the same error
    assert (status.code, status.message) == (case.grpc_code.value[0], failure.message)
    retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    if "retry-after" in case.headers:
        info = error_details_pb2.RetryInfo()
        retry[0].Unpack(info)
        assert info.retry_delay.seconds == int(case.headers["retry-after"])
    else:
        assert retry == []


def test_only_an_unexpected_error_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="otel_margin_backend.web.status"):
        for case in CASES.values():
            classify(case.error)
    assert [(r.getMessage(), r.exc_info[0] if r.exc_info else None) for r in caplog.records] == [
        ("unexpected error while answering a request", ZeroDivisionError),
    ]


# -- no second mapping ------------------------------------------------------------------------------------------

PACKAGE = Path(__file__).resolve().parents[3] / "backend" / "otel_margin_backend"
MAPPERS = ("web/", "receivers/")
"""Where protocol statuses may be named: the mapping itself, and the receivers that speak OTLP's protocols."""
ALLOWED = {
    "demo/openai_stub.py": "a stand-in for OpenAI's API in the demo: its errors are OpenAI's statuses and bodies, "
    "which the openai SDK parses, not otel-margin's",
}
ANSWERING = ("response", "json", "error", "abort", "httpexception")
"""A call whose name contains one of these, given an int 400-599, answers with that status."""


def violations(source: str) -> list[str]:
    """Each place in ``source`` that names a gRPC code or answers with an HTTP error status of its own."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and node.attr == "StatusCode":
            found.append(f"{where}: grpc.StatusCode")
        elif isinstance(node, ast.ImportFrom) and any(a.name == "StatusCode" for a in node.names):
            found.append(f"{where}: imports StatusCode")
        elif isinstance(node, ast.Attribute) and node.attr.startswith(("HTTP_4", "HTTP_5")):
            found.append(f"{where}: {node.attr}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "HTTPStatus":
            found.append(f"{where}: HTTPStatus.{node.attr}")
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in ("status_code", "status") and _error_status(keyword.value):
                    found.append(f"{where}: {keyword.arg}={ast.unparse(keyword.value)}")
            callee = ast.unparse(node.func).rsplit(".", 1)[-1].lower()
            if any(word in callee for word in ANSWERING) and any(_error_status(arg) for arg in node.args):
                found.append(f"{where}: {ast.unparse(node)[:60]}")
    return found


def _error_status(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and 400 <= node.value <= 599


@pytest.mark.parametrize(
    ("snippet", "caught"),
    [
        ('JSONResponse({"error": "x"}, status_code=404)', True),
        ('Response(b"", 503, headers)', True),
        ("return _error(exc, status.HTTP_409_CONFLICT)", True),
        ("await context.abort(grpc.StatusCode.NOT_FOUND, 'x')", True),
        ("from grpc import StatusCode", True),
        ("code = HTTPStatus.CONFLICT", True),
        ("raise HTTPException(404)", True),
        ("self._json(404, {'error': error})", True),
        ("if exc.http_status == 404: return None", False),  # reading another service's answer
        ("Workload('acme', 'chat', 'gpt-4o', 10, 12_000, 400)", False),  # a token count
        ("JSONResponse(body, status_code=status.HTTP_201_CREATED)", False),  # a success
    ],
)
def test_the_rule_catches_a_second_mapping(snippet: str, caught: bool) -> None:
    assert bool(violations(snippet)) is caught


def test_no_module_outside_web_and_receivers_maps_errors_itself() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.startswith(MAPPERS) or name in ALLOWED:
            continue
        if problems := violations(path.read_text()):
            found[name] = problems
    assert found == {}, (
        "raise an error class that web/status.py maps (NotFound, Conflict, PermanentError, ...) and answer it with "
        f"web.status.json_error or web.rest.endpoint instead: {found}"
    )


def test_the_allowed_modules_still_need_their_exception() -> None:
    for name in ALLOWED:
        assert violations((PACKAGE / name).read_text()), f"{name} no longer needs its place in ALLOWED: remove it"
