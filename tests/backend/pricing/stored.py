"""Helpers for the pricing tests that use a real database: read back versions, attempts and prices."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus, span_event_id
from otel_margin_backend.pricing import PriceBook
from otel_margin_backend.pricing.data import PriceData

TESTDATA = Path(__file__).with_name("testdata")
SMALL = TESTDATA / "data_small.json"
SMALL_VERSION = "genai-prices data sha256:3ed4bbc4d630"
BUNDLED_VERSION = PriceData.bundled().version


BUNDLED = PriceBook.bundled()


def usage(
    n: int, customer: str, model: str, at: str, *, provider: str = "openai", input_tokens: int = 0,
    cache_read: int = 0, output: int = 0, attributes: dict[str, str] | None = None,
    status: UsageStatus = UsageStatus.UNPRICED, reported_cost: str | None = None, reported_source: str | None = None,
) -> UsageEvent:  # fmt: skip
    """A call priced by the bundled book as ingestion would, identified by ``n``."""
    event = UsageEvent(
        time=datetime.fromisoformat(at).replace(tzinfo=UTC),
        event_id=span_event_id(n.to_bytes(16, "big"), n.to_bytes(8, "big")),
        customer_id=customer,
        feature="chat",
        provider=provider,
        request_model=model,
        response_model=model,
        input_tokens=input_tokens,
        cache_read_tokens=cache_read,
        output_tokens=output,
        attributes=attributes or {},
        status=status,
        reported_cost=Decimal(reported_cost) if reported_cost is not None else None,
        reported_cost_source=reported_source,
    )
    BUNDLED.price(event)
    return event


def active_version(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT price_version FROM price_versions WHERE active").fetchone()
    return str(row[0]) if row else None


def versions(url: str) -> list[tuple[str, str, bool]]:
    """(price_version, source, active) of every version, oldest first."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT price_version, source, active FROM price_versions ORDER BY version_id").fetchall()
    return [(str(v), str(s), bool(a)) for v, s, a in rows]


def attempts(url: str) -> list[tuple[str, str, str | None, bool, int | None, str | None]]:
    """(trigger, outcome, price_version, new_version, model_count, error) of every attempt, oldest first."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT trigger, outcome, price_version, new_version, model_count, error FROM price_sync_attempts"
            " ORDER BY attempt_id"
        ).fetchall()
    return [tuple(row) for row in rows]


def scalar(url: str, query: str, params: tuple[object, ...] = ()) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query.encode(), params).fetchone()
    assert row is not None
    return row[0]


class _Handler(BaseHTTPRequestHandler):
    routes: Mapping[str, tuple[int, bytes]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def http_server(routes: Mapping[str, tuple[int, bytes]]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering ``path -> (status, body)``; yields its base URL."""
    handler = type("Handler", (_Handler,), {"routes": dict(routes)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
