"""A real OTLP collector between an instrumented app and the backend.

The app is the OpenTelemetry SDK with its OTLP/gRPC exporter; the collector is rotel (a Rust OTLP collector
shipped in the ``rotel`` wheel), forwarding with its OTLP exporter and the bearer
token; the backend is the real one, in-process, on TimescaleDB and on plain PostgreSQL. Every span must be
stored exactly once with its exact token counts, including spans sent while the backend was restarting or its
database was down, which rotel holds in memory and retries.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_margin_backend.storage.migrator import migrate
from tests.deploy.ports import HOST, free_ports
from tests.support.backend import TOKEN, running_backend
from tests.support.pgcluster import PgCluster
from tests.support.spans import chat_attrs
from tests.support.stores import READER_ROLE, TIMESCALE_SETTINGS

DELIVERY_TIMEOUT_S = 60.0
# Short backoffs keep the test quick; a deployment keeps rotel's defaults (5 s initial, 30 s max, 300 s overall).
ROTEL_RETRY_FLAGS = [
    "--otlp-exporter-retry-initial-backoff", "100ms",
    "--otlp-exporter-retry-max-backoff", "1s",
    "--otlp-exporter-retry-max-elapsed-time", "120s",
]  # fmt: skip
RETRY_LOG_LINE = "Exporting failed, will retry"


def rotel_agent() -> Path:
    """The collector binary inside the installed ``rotel`` wheel; the test fails (never skips) without it."""
    spec = importlib.util.find_spec("rotel")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the rotel collector is not installed: pip install rotel==0.0.1a15", pytrace=False)
    binary = Path(next(iter(spec.submodule_search_locations))) / "rotel-agent"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing from the rotel wheel", pytrace=False)
    return binary


def wait_for_port(port: int, *, timeout_s: float, alive: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive.poll() is not None:
            pytest.fail(f"rotel exited with {alive.returncode}:\n{log.read_text(errors='replace')}", pytrace=False)
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"rotel did not listen on {HOST}:{port} within {timeout_s} s:\n{log.read_text(errors='replace')}")


@dataclass
class Rotel:
    grpc_port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def rotel_forwarding_to(backend_grpc_port: int, workdir: Path) -> Iterator[Rotel]:
    """rotel listening on free ports, exporting OTLP/gRPC to the backend with the ingest token."""
    grpc_port, http_port = free_ports(2)
    log = workdir / "rotel.log"
    argv = [
        str(rotel_agent()), "start",
        "--otlp-grpc-endpoint", f"{HOST}:{grpc_port}",
        "--otlp-http-endpoint", f"{HOST}:{http_port}",
        "--exporter", "otlp",
        "--otlp-exporter-endpoint", f"http://{HOST}:{backend_grpc_port}",
        "--otlp-exporter-protocol", "grpc",
        "--otlp-exporter-custom-headers", f"authorization=Bearer {TOKEN}",
        *ROTEL_RETRY_FLAGS,
        "--batch-timeout", "50ms",
        "--pid-file", str(workdir / "rotel.pid"),
        "--log-file", str(workdir / "rotel-daemon.log"),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(grpc_port, timeout_s=15, alive=process, log=log)
        yield Rotel(grpc_port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


class App:
    """An instrumented app: the OTel SDK exporting OTLP/gRPC (no token) to the collector."""

    def __init__(self, collector_grpc_port: int) -> None:
        exporter = OTLPSpanExporter(endpoint=f"{HOST}:{collector_grpc_port}", insecure=True, timeout=30)
        self.provider = TracerProvider(resource=Resource.create({"service.name": "chat-api"}))
        self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
        self.tracer = self.provider.get_tracer("tests.deploy")
        self.sent: dict[bytes, tuple[str, int, int]] = {}
        """(trace_id + span_id) -> (customer, input tokens, output tokens) of every model call sent."""

    def request(self, n: int) -> None:
        """One request: an HTTP server span (not a model call) around one chat call."""
        customer, input_tokens, output_tokens = f"acct_{n % 3}", 1000 + n, 100 + n
        with (
            self.tracer.start_as_current_span("POST /chat", attributes={"http.route": "/chat"}),
            self.tracer.start_as_current_span(
                "chat gpt-4o",
                attributes=chat_attrs(customer=customer, input_tokens=input_tokens, output_tokens=output_tokens),
            ) as chat,
        ):
            ctx = chat.get_span_context()
            self.sent[ctx.trace_id.to_bytes(16, "big") + ctx.span_id.to_bytes(8, "big")] = (
                customer,
                input_tokens,
                output_tokens,
            )

    def requests(self, first: int, last: int) -> None:
        for n in range(first, last):
            self.request(n)
        assert self.provider.force_flush(timeout_millis=30_000), "the SDK could not hand its spans to the collector"

    def shutdown(self) -> None:
        self.provider.shutdown()


@contextmanager
def app_sending_to(collector: Rotel) -> Iterator[App]:
    app = App(collector.grpc_port)
    try:
        yield app
    finally:
        app.shutdown()


def stored(url: str) -> dict[bytes, tuple[str, int, int, int]]:
    """trace_id + span_id -> (customer, input, output, copies) of every stored event."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT trace_id || span_id, min(customer_id), min(input_tokens), min(output_tokens), count(*)"
            " FROM usage_events GROUP BY 1"
        ).fetchall()
    return {bytes(key): (customer, int(i), int(o), int(n)) for key, customer, i, o, n in rows}


def wait_until_stored(url: str, count: int, rotel: Rotel) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        if len(stored(url)) >= count:
            return
        time.sleep(0.1)
    pytest.fail(
        f"only {len(stored(url))} of {count} spans arrived within {DELIVERY_TIMEOUT_S} s; rotel said:\n"
        f"{rotel.output()[-4000:]}"
    )


def assert_stored_exactly_once(url: str, app: App) -> None:
    rows = stored(url)
    assert set(rows) == set(app.sent), "the stored model calls differ from those the app made"
    for key, (customer, input_tokens, output_tokens) in app.sent.items():
        assert rows[key] == (customer, input_tokens, output_tokens, 1), key.hex()
    with psycopg.connect(url) as conn:
        rolled = conn.execute("SELECT sum(calls), sum(input_tokens), sum(output_tokens) FROM usage_hourly").fetchone()
    assert rolled == (
        len(app.sent),
        sum(i for _, i, _ in app.sent.values()),
        sum(o for _, _, o in app.sent.values()),
    ), "the hourly rollups counted a span twice or missed one"


def test_spans_reach_the_backend_through_the_collector_exactly_once(db_url: str, tmp_path: Path) -> None:
    with (
        running_backend(db_url, tmp_path) as backend,
        rotel_forwarding_to(backend.grpc_port, tmp_path) as rotel,
        app_sending_to(rotel) as app,
    ):
        app.requests(0, 30)
        wait_until_stored(db_url, 30, rotel)
        time.sleep(0.5)  # anything sent twice would arrive now
        assert_stored_exactly_once(db_url, app)
    with psycopg.connect(db_url) as conn:
        events = conn.execute("SELECT count(*) FROM usage_events").fetchone()
    assert events == (30,), "the HTTP server spans around the model calls must not become usage events"


def wait_for_retries(rotel: Rotel, *, reason: str, count: int = 5) -> None:
    """Until rotel has logged ``count`` more failed exports it will retry, the latest mentioning ``reason``.

    Five retries with the backoffs above keep the outage going for about 2.5 s, longer than a retry limit of
    1 s would tolerate: the test fails if rotel gives up early instead of holding the spans.
    """
    before = rotel.output().count(RETRY_LOG_LINE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        retries = [line for line in rotel.output().splitlines() if RETRY_LOG_LINE in line]
        if len(retries) - before >= count and reason in retries[-1]:
            return
        time.sleep(0.1)
    pytest.fail(f"rotel logged fewer than {count} retries ({reason}) within 30 s:\n{rotel.output()[-4000:]}")


def test_the_collector_retries_across_a_backend_restart(db_url: str, tmp_path: Path) -> None:
    # The new backend must come back where rotel sends: the same ports.
    http_port, grpc_port = free_ports(2)
    ports = {"http_port": http_port, "grpc_port": grpc_port}
    with rotel_forwarding_to(grpc_port, tmp_path) as rotel, app_sending_to(rotel) as app:
        with running_backend(db_url, tmp_path, **ports):
            app.requests(0, 10)
            wait_until_stored(db_url, 10, rotel)
        # The backend is gone; the app keeps working and the collector accepts its spans.
        app.requests(10, 20)
        wait_for_retries(rotel, reason="Connect")
        assert len(stored(db_url)) == 10
        with running_backend(db_url, tmp_path, **ports):
            wait_until_stored(db_url, 20, rotel)
            app.requests(20, 25)
            wait_until_stored(db_url, 25, rotel)
            time.sleep(0.5)
        assert_stored_exactly_once(db_url, app)


@pytest.fixture
def pausable_cluster() -> Iterator[PgCluster]:
    """A TimescaleDB cluster of this test's own, so it can be stopped without touching other tests'."""
    with PgCluster(settings=TIMESCALE_SETTINGS) as cluster:
        with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
            migrate(conn, reader_role=READER_ROLE, reader_password=None)
        yield cluster


def test_the_collector_retries_while_the_database_is_down(pausable_cluster: PgCluster, tmp_path: Path) -> None:
    url = pausable_cluster.dsn("postgres")
    with (
        running_backend(url, tmp_path, db_connect_timeout_s=1.0) as backend,
        rotel_forwarding_to(backend.grpc_port, tmp_path) as rotel,
        app_sending_to(rotel) as app,
    ):
        app.requests(0, 10)
        wait_until_stored(url, 10, rotel)
        pausable_cluster.pause()
        try:
            app.requests(10, 20)
            # The backend answers UNAVAILABLE (with a retry hint) while it cannot write; rotel retries.
            wait_for_retries(rotel, reason="Unavailable")
        finally:
            pausable_cluster.resume()
        wait_until_stored(url, 20, rotel)
        time.sleep(0.5)
        assert_stored_exactly_once(url, app)
