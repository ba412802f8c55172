"""docs/security.md's table of every route and RPC, row by row against a running backend.

``ROWS`` is the table; one test checks the doc shows exactly it, one that it names every route and RPC the backend
serves, and one parametrized test sends each row's request without a token, with a token of a wrong scope, and
with a token of the needed scope under a lower-case ``bearer`` scheme.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.routing import Route

from otel_margin_backend.receivers import otlp_discard, otlp_grpc
from otel_margin_backend.receivers.grpc_health import SERVICES as HEALTH_SERVICES
from tests.support.backend import TOKEN, BackendThread, running_backend
from tests.support.stores import Server

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "security.md"
TOKENS = {"admin": TOKEN, "ingest": "collector-token-0123456789", "read": "finance-token-0123456789",
          "budgets:check": "app-check-token-0123456789"}  # fmt: skip
STRIPE_SECRET = "whsec_test_access_table"


class Row(NamedTuple):
    endpoint: str
    scope: str
    no_token: str
    wrong_scope: str
    bearer: str


T = "opentelemetry.proto.collector.trace.v1.TraceService/Export"
M = "opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
L = "opentelemetry.proto.collector.logs.v1.LogsService/Export"
ROWS = [
    Row("GET /healthz", "none", "200", "200 (ingest)", "200"),
    Row("GET /readyz", "none", "200", "200 (ingest)", "200"),
    Row("GET /v1/stats", "read", "401", "403 (ingest)", "200"),
    Row("GET /metrics", "read", "401", "403 (ingest)", "200"),
    Row("GET /v1/pnl", "read", "401", "403 (ingest)", "200"),
    Row("GET /v1/pnl/target-margin", "read", "401", "403 (ingest)", "200"),
    Row("GET /v1/customers/actions", "read", "401", "403 (ingest)", "200"),
    Row("GET /v1/simulate", "read", "401", "403 (ingest)", "200"),
    Row("GET /v1/bills/reconcile", "read", "401", "403 (ingest)", "200"),
    Row("GET /v1/budgets/check", "budgets:check", "401", "403 (ingest)", "200"),
    Row("GET /v1/budgets", "read", "401", "403 (ingest)", "200"),
    Row("GET /v1/budgets/{name}", "read", "401", "403 (ingest)", "200"),
    Row("PUT /v1/budgets/{name}", "admin", "401", "403 (read)", "200"),
    Row("DELETE /v1/budgets/{name}", "admin", "401", "403 (read)", "204"),
    Row("POST /v1/revenue", "admin", "401", "403 (read)", "200"),
    Row("POST /v1/usage", "ingest", "401", "403 (read)", "200"),
    Row("POST /v1/traces", "ingest", "401", "403 (read)", "200"),
    Row("POST /v1/metrics", "ingest", "401", "403 (read)", "200"),
    Row("POST /v1/logs", "ingest", "401", "403 (read)", "200"),
    Row("POST /v1/stripe/webhook", "Stripe signature", "400", "400 (admin)", "400"),
    Row(T, "ingest", "UNAUTHENTICATED", "PERMISSION_DENIED (read)", "OK"),
    Row(M, "ingest", "UNAUTHENTICATED", "PERMISSION_DENIED (read)", "OK"),
    Row(L, "ingest", "UNAUTHENTICATED", "PERMISSION_DENIED (read)", "OK"),
    Row("grpc.health.v1.Health/Check", "none", "OK", "OK (ingest)", "OK"),
    Row("grpc.health.v1.Health/Watch", "none", "OK", "OK (ingest)", "OK"),
]
BUDGET = {"period": "day", "limit": {"amount": 1}}
OTLP_BODIES = {"/v1/traces": ExportTraceServiceRequest(), "/v1/metrics": ExportMetricsServiceRequest(),
               "/v1/logs": ExportLogsServiceRequest()}  # fmt: skip
RPC_BODIES = {T: ExportTraceServiceRequest(), M: ExportMetricsServiceRequest(), L: ExportLogsServiceRequest()}


def doc_rows() -> list[Row]:
    table = DOC.read_text().split("<!-- access-table -->", 1)[1].split("<!-- /access-table -->", 1)[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        rows.append(Row(*cells))
    return rows


def test_the_doc_shows_this_table() -> None:
    assert doc_rows() == ROWS


class Access(NamedTuple):
    backend: BackendThread
    http: httpx.Client
    channel: grpc.Channel


@pytest.fixture(scope="module")
def access(timescale_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Access]:
    """The real backend with the default admin token, an ingest and a read token, and a Stripe secret."""
    url, janitor = timescale_server.new_database()
    named = (f"collector:ingest:{TOKENS['ingest']},finance:read:{TOKENS['read']},"
             f"app:budgets:check:{TOKENS['budgets:check']}")  # fmt: skip
    try:
        with (
            running_backend(
                url, tmp_path_factory.mktemp("access"), tokens=named, stripe_webhook_secret=STRIPE_SECRET
            ) as backend,  # fmt: skip
            httpx.Client(base_url=backend.http_url, timeout=30) as http,
            grpc.insecure_channel(f"127.0.0.1:{backend.grpc_port}") as channel,
        ):
            yield Access(backend, http, channel)
    finally:
        janitor.drop()


def test_the_table_lists_every_route_and_rpc_served(access: Access) -> None:
    app = access.backend.running.http.config.app
    served = {f"{method} {r.path}" for r in app.routes if isinstance(r, Route) for method in r.methods or ()}
    rpcs = {f"{otlp_grpc.SERVICE}/Export", *(f"{s.service}/Export" for s in otlp_discard.SIGNALS),
            "grpc.health.v1.Health/Check", "grpc.health.v1.Health/Watch"}  # fmt: skip
    assert {row.endpoint for row in ROWS} == {e for e in served if not e.startswith("HEAD ")} | rpcs
    assert set(HEALTH_SERVICES) - {""} == {rpc.rsplit("/", 1)[0] for rpc in (T, M, L)}


def headers_for(case: str, row: Row) -> dict[str, str]:
    if case == "no_token":
        return {}
    if case == "bearer":
        scope = row.scope if row.scope in TOKENS else "admin"
        return {"authorization": f"bearer {TOKENS[scope]}"}
    scope = re.fullmatch(r"\S+ \((\w+)\)", row.wrong_scope)
    assert scope is not None, row
    return {"authorization": f"Bearer {TOKENS[scope.group(1)]}"}


def call(access: Access, row: Row, headers: dict[str, str]) -> str:
    """Send the row's request with ``headers``; the HTTP status or gRPC code, after checking the answer's shape."""
    if "/" in row.endpoint.split(" ")[0]:
        return _rpc(access.channel, row.endpoint, list(headers.items()))
    method, path = row.endpoint.split(" ")
    admin = {"authorization": f"Bearer {TOKEN}"}
    http = access.http
    if "{name}" in path:
        path = path.replace("{name}", "access-table")
        assert http.put(path, json=BUDGET, headers=admin).status_code in (200, 201)
    body: dict[str, object] = {}
    if path in OTLP_BODIES:
        body = {"content": OTLP_BODIES[path].SerializeToString(), "headers": {"content-type": "application/x-protobuf"}}
    elif path == "/v1/usage":
        body = {"json": {"customer_id": "acct_1", "model_name": "gpt-4o-mini", "prompt_tokens": 10,
                         "completion_tokens": 2, "request_id": f"access-{len(headers)}",
                         "timestamp": datetime.now(UTC).isoformat()}}  # fmt: skip
    elif path == "/v1/revenue":
        body = {"json": {"external_id": "access-1", "customer_id": "acct_1", "amount": "10.00", "currency": "USD",
                         "date": "2026-11-03"}}  # fmt: skip
    elif method == "PUT":
        body = {"json": BUDGET}
    elif path == "/v1/stripe/webhook":
        body = {"content": b"{}"}
    elif path == "/v1/budgets/check":
        body = {"params": {"customer": "acct_1"}}
    elif path in ("/v1/pnl", "/v1/customers/actions"):
        body = {"params": {"month": "2026-11"}}
    elif path == "/v1/pnl/target-margin":
        body = {"params": {"target": "60", "month": "2026-11"}}
    extra = body.pop("headers", {})
    assert isinstance(extra, dict)
    response = http.request(method, path, headers={**headers, **extra}, **body)  # type: ignore[arg-type]
    _check_failure(path, response)
    return str(response.status_code)


def _check_failure(path: str, response: httpx.Response) -> None:
    """401 and 403 carry the challenge and the protocol's error body (OTLP: a google.rpc.Status)."""
    if response.status_code not in (401, 403):
        return
    challenge = response.headers["www-authenticate"]
    code = {401: 16, 403: 7}[response.status_code]
    if response.status_code == 403:
        assert challenge.startswith('Bearer error="insufficient_scope", scope="'), challenge
    else:
        assert challenge == "Bearer", challenge
    if path in OTLP_BODIES:
        assert response.headers["content-type"] == "application/x-protobuf"
        status = status_pb2.Status.FromString(response.content)
        assert status.code == code and status.message
    else:
        error = response.json()["error"]
        assert error["code"] == {16: "UNAUTHENTICATED", 7: "PERMISSION_DENIED"}[code] and error["message"]


def _rpc(channel: grpc.Channel, endpoint: str, metadata: list[tuple[str, str]]) -> str:
    try:
        if endpoint in RPC_BODIES:
            export = channel.unary_unary(f"/{endpoint}")
            export(RPC_BODIES[endpoint].SerializeToString(), metadata=metadata, timeout=30)
        elif endpoint.endswith("/Check"):
            check = channel.unary_unary(f"/{endpoint}", response_deserializer=health_pb2.HealthCheckResponse.FromString)
            answer = check(health_pb2.HealthCheckRequest().SerializeToString(), metadata=metadata, timeout=30)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        else:
            watch = channel.unary_stream(
                f"/{endpoint}", response_deserializer=health_pb2.HealthCheckResponse.FromString
            )
            stream = watch(health_pb2.HealthCheckRequest().SerializeToString(), metadata=metadata, timeout=30)
            assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
            stream.cancel()
    except grpc.RpcError as exc:
        return str(exc.code().name)
    return "OK"


CASES: list[tuple[str, Callable[[Row], str]]] = [
    ("no_token", lambda row: row.no_token),
    ("wrong_scope", lambda row: row.wrong_scope.split(" ")[0]),
    ("bearer", lambda row: row.bearer),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.endpoint for row in ROWS])
def test_each_row_is_what_the_backend_answers(access: Access, row: Row) -> None:
    answers = {case: call(access, row, headers_for(case, row)) for case, _ in CASES}
    assert answers == {case: expected(row) for case, expected in CASES}


def test_no_token_reaches_the_log(access: Access, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "wrong-token-that-must-not-be-logged"
    with caplog.at_level(logging.DEBUG):
        for token in (wrong, TOKENS["read"]):
            access.http.put("/v1/budgets/x", json=BUDGET, headers={"authorization": f"Bearer {token}"})
            access.http.post("/v1/traces", content=b"", headers={"authorization": f"Bearer {token}",
                                                                "content-type": "application/x-protobuf"})  # fmt: skip
            assert _rpc(access.channel, T, [("authorization", f"Bearer {token}")]) in ("UNAUTHENTICATED",
                                                                                   "PERMISSION_DENIED")  # fmt: skip
    logged = caplog.text + str([r.__dict__ for r in caplog.records])
    for token in (wrong, *TOKENS.values()):
        assert token not in logged


def test_an_unknown_path_is_404_whatever_the_token(access: Access) -> None:
    for headers in ({}, {"authorization": f"bearer {TOKENS['read']}"}):
        assert access.http.get("/v1/nowhere", headers=headers).status_code == 404
