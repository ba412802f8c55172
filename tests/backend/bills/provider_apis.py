"""Local stand-ins for OpenAI's Costs/Usage APIs and Anthropic's Usage & Cost Admin API.

They answer in the documented shapes: daily buckets (OpenAI ``start_time``/``end_time`` in Unix seconds, Anthropic
``starting_at``/``ending_at`` in RFC 3339) of ``results``, pages of ``data`` with ``has_more`` and an opaque
``next_page`` cursor; OpenAI amounts as JSON numbers in ``{"value", "currency": "usd"}``, Anthropic amounts as
decimal strings in cents. A bucket is answered for every day of the range, empty or not; pages hold ``page_days``
buckets (2 by default, so every import really pages). ``throttle`` makes the next requests answer 429 with a
``retry-after``; ``fail`` makes them answer 500. Tests change ``days`` between imports to revise figures. Every
request is recorded with its path, query and key header.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OPENAI_KEY = "sk-admin-otelmargin-test-0123456789"
ANTHROPIC_KEY = "sk-ant-admin01-otelmargin-test"


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    key: str


@dataclass
class BillApi:
    """What both stand-ins share: the days they hold, paging, throttling, the request log."""

    costs: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    usage: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    page_days: int = 2
    throttle: list[str] = field(default_factory=list)
    """``retry-after`` values of the next requests to answer 429 (one per request)."""
    fail: int = 0
    """How many of the next requests answer 500."""
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def answer(self, path: str, query: dict[str, list[str]], key: str) -> tuple[int, dict[str, str], Any]:
        self.requests.append(Request(path, query, key))
        if self.throttle:
            return 429, {"retry-after": self.throttle.pop(0)}, {"error": {"type": "rate_limit_error",
                                                                          "message": "Rate limited"}}  # fmt: skip
        if self.fail:
            self.fail -= 1
            return 500, {}, {"error": {"type": "api_error", "message": "Internal server error"}}
        return self.route(path, query, key)

    def route(self, path: str, query: dict[str, list[str]], key: str) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError

    def pages(self, first: date, end: date, query: dict[str, list[str]]) -> tuple[list[date], str | None]:
        limit = min(int(query.get("limit", ["7"])[0]), self.page_days)
        start = first
        if "page" in query:
            start = date.fromisoformat(base64.b64decode(query["page"][0]).decode())
        days = [start + timedelta(days=n) for n in range((end - start).days)][:limit]
        after = days[-1] + timedelta(days=1) if days else end
        cursor = base64.b64encode(after.isoformat().encode()).decode() if after < end else None
        return days, cursor


def _values(query: dict[str, list[str]], name: str) -> list[str]:
    return query.get(name, []) + query.get(f"{name}[]", [])


@dataclass
class OpenAIApi(BillApi):
    """``GET /v1/organization/costs`` and ``GET /v1/organization/usage/completions``."""

    def route(self, path: str, query: dict[str, list[str]], key: str) -> tuple[int, dict[str, str], Any]:
        if key != f"Bearer {OPENAI_KEY}":
            return 401, {}, {"error": {"message": "Invalid authorization header", "type": "invalid_request_error"}}
        kind = {"/v1/organization/costs": "costs", "/v1/organization/usage/completions": "usage"}.get(path)
        if kind is None:
            return 404, {}, {"error": {"message": f"Unknown path {path}"}}
        first = datetime.fromtimestamp(int(query["start_time"][0]), UTC).date()
        end = datetime.fromtimestamp(int(query["end_time"][0]), UTC).date()
        days, cursor = self.pages(first, end, query)
        held = self.costs if kind == "costs" else self.usage
        obj = "organization.costs.result" if kind == "costs" else "organization.usage.completions.result"
        data = [{"object": "bucket", "start_time": _epoch(d), "end_time": _epoch(d + timedelta(days=1)),
                 "results": [{"object": obj, **r} for r in held.get(d, [])]} for d in days]  # fmt: skip
        return 200, {}, {"object": "page", "data": data, "has_more": cursor is not None, "next_page": cursor}


@dataclass
class AnthropicApi(BillApi):
    """``GET /v1/organizations/cost_report`` and ``GET /v1/organizations/usage_report/messages``."""

    def route(self, path: str, query: dict[str, list[str]], key: str) -> tuple[int, dict[str, str], Any]:
        if key != ANTHROPIC_KEY:
            return 401, {}, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
        kind = {"/v1/organizations/cost_report": "costs", "/v1/organizations/usage_report/messages": "usage"}.get(path)
        if kind is None:
            return 404, {}, {"type": "error", "error": {"type": "not_found_error", "message": path}}
        first = datetime.fromisoformat(query["starting_at"][0]).date()
        end = datetime.fromisoformat(query["ending_at"][0]).date()
        days, cursor = self.pages(first, end, query)
        held = self.costs if kind == "costs" else self.usage
        data = [{"starting_at": _stamp(d), "ending_at": _stamp(d + timedelta(days=1)), "results": held.get(d, [])}
                for d in days]  # fmt: skip
        return 200, {}, {"data": data, "has_more": cursor is not None, "next_page": cursor}


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _stamp(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def group_by(request: Request) -> list[str]:
    """The ``group_by`` values of a request, however the client encoded the array."""
    return _values(request.query, "group_by")


@contextmanager
def serving(api: BillApi) -> Iterator[BillApi]:
    """Serve ``api`` on a free loopback port until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            key = self.headers.get("authorization") or self.headers.get("x-api-key") or ""
            status, headers, body = api.answer(parts.path, parse_qs(parts.query), key)
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api._server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
