"""A local HTTP server that answers the stripe client's calls the way Stripe's API does.

It serves what a test puts in it: ``GET /v1/customers/{id}``, ``/v1/charges/{id}``, ``/v1/refunds/{id}``,
``/v1/invoices`` (with ``created[gte]``, ``status`` and ``expand[]=data.payments``), ``/v1/invoices/{id}/lines``,
``/v1/invoice_payments``, ``/v1/refunds`` (``expand[]=data.charge``), ``/v1/credit_notes`` and ``/v1/disputes``.
Lists are Stripe list objects, newest first, paginated with ``has_more`` / ``starting_after``; pages hold at most
``page_size`` items (2 by default, so that every listing in a test really pages). Unknown objects answer Stripe's
404 error body. Every request is recorded, with its Authorization header.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "sk_test_51NfYXq2eZvKYlo2CotelMargin"


@dataclass
class StripeStub:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    invoice_lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    invoice_payments: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    credit_notes: list[dict[str, Any]] = field(default_factory=list)
    disputes: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(path with query, Authorization header) of every request."""
    page_size: int = 2
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def add_invoice(self, invoice: dict[str, Any], all_lines: list[dict[str, Any]] | None = None) -> None:
        self.invoices.append(invoice)
        self.invoice_lines[invoice["id"]] = all_lines if all_lines is not None else invoice["lines"]["data"]

    def paths(self, prefix: str = "") -> list[str]:
        return [p for p, _ in self.requests if p.startswith(prefix)]

    def start(self) -> StripeStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.requests.append((self.path, self.headers.get("Authorization", "")))
                status, body = stub.answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_stub")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="stripe-stub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- answers ---------------------------------------------------------------------------------------------------

    def answer(self, raw_path: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        expand = {v for k, v in query.items() if k.startswith("expand[")}
        segments = parts.path.strip("/").split("/")
        match segments:
            case ["v1", "customers", id_]:
                return self._one(self.customers.get(id_), "customer", id_)
            case ["v1", "charges", id_]:
                return self._one(self.charges.get(id_), "charge", id_)
            case ["v1", "refunds", id_]:
                return self._one(next((r for r in self.refunds if r["id"] == id_), None), "refund", id_)
            case ["v1", "invoices", id_, "lines"]:
                return 200, self._list(f"/v1/invoices/{id_}/lines", self.invoice_lines.get(id_, []), query)
            case ["v1", "invoices"]:
                found = [i for i in self._created(self.invoices, query) if query.get("status") in (None, i["status"])]
                if "data.payments" in expand:
                    found = [self._with_payments(i) for i in found]
                else:
                    found = [{k: v for k, v in i.items() if k != "payments"} for i in found]
                return 200, self._list("/v1/invoices", found, query)
            case ["v1", "invoice_payments"]:
                found = [p for p in self.invoice_payments if p["invoice"] == query.get("invoice")]
                return 200, self._list("/v1/invoice_payments", found, query)
            case ["v1", "refunds"]:
                found = self._created(self.refunds, query)
                if "data.charge" in expand:
                    found = [{**r, "charge": copy.deepcopy(self.charges[r["charge"]])} for r in found]
                return 200, self._list("/v1/refunds", found, query)
            case ["v1", "credit_notes"]:
                return 200, self._list("/v1/credit_notes", self._created(self.credit_notes, query), query)
            case ["v1", "disputes"]:
                return 200, self._list("/v1/disputes", self._created(self.disputes, query), query)
        return 404, {
            "error": {"type": "invalid_request_error", "message": f"Unrecognized request URL (GET: {parts.path})"}
        }

    def _with_payments(self, invoice: dict[str, Any]) -> dict[str, Any]:
        payments = [p for p in self.invoice_payments if p["invoice"] == invoice["id"]]
        return {**invoice, "payments": {"object": "list", "data": payments, "has_more": False,
                                        "url": f"/v1/invoices/{invoice['id']}/payments"}}  # fmt: skip

    @staticmethod
    def _one(obj: dict[str, Any] | None, kind: str, id_: str) -> tuple[int, dict[str, Any]]:
        if obj is None:
            return 404, {"error": {"code": "resource_missing", "param": "id", "type": "invalid_request_error",
                                   "message": f"No such {kind}: '{id_}'"}}  # fmt: skip
        return 200, obj

    @staticmethod
    def _created(items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        since = int(query.get("created[gte]", "0"))
        return [i for i in items if i["created"] >= since]

    def _list(self, url: str, items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        ordered = sorted(items, key=lambda i: (i.get("created", 0), i["id"]), reverse=True)
        if "starting_after" in query:
            ids = [i["id"] for i in ordered]
            ordered = ordered[ids.index(query["starting_after"]) + 1 :]
        limit = min(int(query.get("limit", "10")), self.page_size)
        page = ordered[:limit]
        return {"object": "list", "url": url, "has_more": len(ordered) > limit, "data": page}
