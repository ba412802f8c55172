"""``otel-margin serve --workers 2`` as a real process: two receivers on shared ports, one database, nothing twice.

Many connections (gRPC channels with their own subchannel pools, HTTP clients with one connection each) reach
both workers, as the kernel spreads them (SO_REUSEPORT); every request is also sent again on another connection
and protocol, so the same spans reach both workers at once. Each span must be stored once, with its exact
tokens and cost; each worker's own counters (``/v1/stats`` says which worker answered) add up to that; and a
SIGTERM in the middle of sending stops every process with every acknowledged span stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import grpc
import httpx
import psycopg
import pytest

from otel_margin_backend.receivers.config import default_workers
from otel_margin_backend.settings import Settings
from tests.deploy.ports import free_ports
from tests.support.spans import chat_attrs, request, span
from tests.support.stores import Server

TOKEN = "workers-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
CONNECTIONS = 16  # per protocol
PER_REQUEST = 40
REQUESTS = 64  # each sent twice: 2,560 distinct spans, 5,120 deliveries
INPUT_MTOK, OUTPUT_MTOK = Decimal("2.5"), Decimal("10")  # gpt-4o in the bundled price data, USD per million


def tokens(n: int) -> tuple[int, int]:
    return 1000 + n % 97, 200 + n % 13


def body(first: int) -> bytes:
    spans = []
    for n in range(first, first + PER_REQUEST):
        input_tokens, output_tokens = tokens(n)
        attrs = chat_attrs(customer=f"acct_{n % 7}", input_tokens=input_tokens, output_tokens=output_tokens)
        spans.append(span(n, attrs))
    data: bytes = request(spans).SerializeToString()
    return data


@pytest.fixture
def tsdb_url(timescale_server: Server) -> Iterator[str]:
    url, janitor = timescale_server.empty_database()  # serve migrates it
    yield url
    janitor.drop()


class Serve:
    """``otel-margin serve --workers 2`` on free ports, its log in a file."""

    def __init__(self, url: str | None, tmp: Path, *, http_port: int | None = None) -> None:
        self.http_port, self.grpc_port = free_ports(2)
        self.http_port = http_port or self.http_port
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_MARGIN_")}
        if url is not None:  # else the embedded PostgreSQL in the data dir
            env["OTEL_MARGIN_DATABASE_URL"] = url
        env.update({
            "OTEL_MARGIN_DATA_DIR": str(tmp),
            "OTEL_MARGIN_HTTP_PORT": str(self.http_port), "OTEL_MARGIN_GRPC_PORT": str(self.grpc_port),
            "OTEL_MARGIN_INGEST_TOKEN": TOKEN, "OTEL_MARGIN_LOG_FORMAT": "json",
            "OTEL_MARGIN_PRICE_SYNC_INTERVAL_S": "0", "OTEL_MARGIN_BATCH_MAX_WAIT_MS": "20",
        })  # fmt: skip
        self.log_path = tmp / "serve.log"
        self._log = self.log_path.open("w")
        command = [sys.executable, "-m", "otel_margin_backend", "serve", "--workers", "2"]
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=self._log)

    def lines(self) -> list[dict[str, object]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
        return out

    def wait_serving(self, timeout_s: float = 90) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            serving = [r for r in self.lines() if r["message"] == "serving" and "workers" in r]
            if serving:
                return serving[0]
            assert self.proc.poll() is None, self.log_path.read_text()
            time.sleep(0.2)
        raise AssertionError("serve --workers 2 did not report serving:\n" + self.log_path.read_text())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=90)
        self._log.close()
        return code


def channels(port: int) -> list[grpc.Channel]:
    # A local subchannel pool each: channels to one target otherwise share one TCP connection.
    return [
        grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(CONNECTIONS)
    ]


def clients(port: int) -> list[httpx.Client]:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return [
        httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, limits=limits, timeout=30)
        for _ in range(CONNECTIONS)
    ]


def send_grpc(channel: grpc.Channel, data: bytes) -> None:
    call = channel.unary_unary(EXPORT)
    call(data, metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=30)


def send_http(client: httpx.Client, data: bytes) -> None:
    answer = client.post("/v1/traces", content=data, headers={"content-type": "application/x-protobuf"})
    answer.raise_for_status()


def stored(url: str) -> list[tuple[int, int, int, Decimal, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT ('x' || encode(span_id, 'hex'))::bit(64)::bigint, input_tokens, output_tokens, cost_total,"
            " count(*) OVER (PARTITION BY event_id) FROM usage_events ORDER BY 1"
        ).fetchall()
    return [(int(n), int(i), int(o), Decimal(c), int(k)) for n, i, o, c, k in rows]


def expected_cost(n: int) -> Decimal:
    input_tokens, output_tokens = tokens(n)
    return (input_tokens * INPUT_MTOK + output_tokens * OUTPUT_MTOK) / 1_000_000


def stats_by_worker(port: int) -> dict[int, dict[str, int]]:
    """Each worker's own ``/v1/stats`` (and its budget check's state): fresh connections until both answered."""
    seen: dict[int, dict[str, int]] = {}
    for _ in range(200):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as client:  # a connection
            answer = client.get("/v1/stats").json()
            # Only the primary evaluates budgets; the other answers checks from the states it refreshes.
            check = client.get("/v1/budgets/check", params={"customer": "acct_1"})
        assert (check.status_code, check.json()["state"]) == (200, "none"), check.text
        seen[answer["worker"]] = answer
        if len(seen) == 2:
            break
    return seen


def test_two_workers_store_every_span_once_and_stop_with_nothing_lost(tsdb_url: str, tmp_path: Path) -> None:
    serve = Serve(tsdb_url, tmp_path)
    try:
        serving = serve.wait_serving()
        assert serving["workers"] == 2 and len(serving["pids"]) == 2  # type: ignore[arg-type]
        assert httpx.get(f"http://127.0.0.1:{serve.http_port}/readyz").json()["status"] == "ready"
        grpc_channels, http_clients = channels(serve.grpc_port), clients(serve.http_port)
        bodies = [body(1 + k * PER_REQUEST) for k in range(REQUESTS)]
        # Request k over gRPC on channel k and over HTTP on client k + 5: the same spans, two connections, at once.
        with ThreadPoolExecutor(16) as pool:
            sent = [pool.submit(send_grpc, grpc_channels[k % CONNECTIONS], b) for k, b in enumerate(bodies)]
            sent += [pool.submit(send_http, http_clients[(k + 5) % CONNECTIONS], b) for k, b in enumerate(bodies)]
            for result in sent:
                result.result()

        rows = stored(tsdb_url)
        distinct = REQUESTS * PER_REQUEST
        assert [r[0] for r in rows] == list(range(1, distinct + 1))  # every span, in order, none missing
        assert {r[4] for r in rows} == {1}  # none twice
        assert [(r[1], r[2]) for r in rows] == [tokens(n) for n in range(1, distinct + 1)]
        assert [r[3] for r in rows] == [expected_cost(n) for n in range(1, distinct + 1)]
        with psycopg.connect(tsdb_url) as conn:
            rolled = conn.execute("SELECT sum(calls), sum(input_tokens), sum(cost) FROM usage_hourly").fetchone()
        assert rolled == (
            distinct,
            sum(tokens(n)[0] for n in range(1, distinct + 1)),
            sum(expected_cost(n) for n in range(1, distinct + 1)),
        )

        workers = stats_by_worker(serve.http_port)
        assert sorted(workers) == [0, 1]
        assert all(w["spans_received"] > 0 for w in workers.values()), workers  # the kernel gave each some
        assert sum(w["spans_received"] for w in workers.values()) == 2 * distinct
        assert sum(w["events_stored"] for w in workers.values()) == distinct
        assert sum(w["events_redelivered"] for w in workers.values()) == distinct
        assert {w["pid"] for w in workers.values()} == set(serving["pids"])  # type: ignore[arg-type]

        # A second wave, and SIGTERM while it is in flight: what was acknowledged is stored, once.
        wave = [body(100_000 + k * PER_REQUEST) for k in range(REQUESTS)]
        acked: list[int] = []
        lock = threading.Lock()

        def deliver(k: int) -> None:
            try:
                if k % 2:
                    send_http(http_clients[k % CONNECTIONS], wave[k])
                else:
                    send_grpc(grpc_channels[k % CONNECTIONS], wave[k])
            except (grpc.RpcError, httpx.HTTPError):
                return  # refused or cut while stopping: not acknowledged, so the client would retry
            with lock:
                acked.append(k)

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(deliver, k) for k in range(REQUESTS)]
            deadline = time.monotonic() + 60
            while not acked and time.monotonic() < deadline:
                time.sleep(0.01)
            serve.proc.send_signal(signal.SIGTERM)
            for future in futures:
                future.result()
        for channel in grpc_channels:
            channel.close()
        for client in http_clients:
            client.close()
    finally:
        code = serve.stop()
    assert code == 0, serve.log_path.read_text()

    after = {r[0]: r for r in stored(tsdb_url)}
    assert {r[4] for r in after.values()} == {1}
    for k in acked:
        for n in range(100_000 + k * PER_REQUEST, 100_000 + (k + 1) * PER_REQUEST):
            assert after[n][1:4] == (*tokens(n), expected_cost(n)), n
    lines = serve.lines()
    stopped = [r for r in lines if r["message"] == "stopped"]
    assert sorted(str(r.get("worker", "parent")) for r in stopped) == ["0", "1", "parent"]
    parent = next(r for r in stopped if "worker" not in r)
    per_worker = [r for r in stopped if "worker" in r]
    assert parent["events_stored"] == sum(r["events_stored"] for r in per_worker) == len(after)  # type: ignore[misc]
    assert all(r["spans_received"] for r in per_worker)


def test_a_worker_that_dies_stops_the_others_and_serve_exits_1(tsdb_url: str, tmp_path: Path) -> None:
    serve = Serve(tsdb_url, tmp_path)
    try:
        pids = serve.wait_serving()["pids"]
        assert isinstance(pids, list)
        os.kill(pids[1], signal.SIGKILL)
        code = serve.proc.wait(timeout=90)
    finally:
        serve.stop()
    assert code == 1
    log = serve.log_path.read_text()
    assert f"worker 1 (pid {pids[1]}) exited with code -9, so every worker was stopped: see its log above" in log
    assert [r for r in serve.lines() if r["message"] == "stopped" and r.get("worker") == 0]  # drained, not killed
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)


@pytest.mark.parametrize(("cpus", "workers"), [(1, 1), (2, 1), (3, 1), (4, 2), (6, 3), (8, 4), (64, 4)])
def test_the_default_is_half_the_cpus_from_1_to_4(cpus: int, workers: int) -> None:
    assert default_workers(cpus) == workers


def test_the_setting_wins_over_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().receivers.worker_count == default_workers()
    monkeypatch.setenv("OTEL_MARGIN_WORKERS", "3")
    assert Settings().receivers.worker_count == 3


def test_a_port_another_process_holds_is_one_clear_line(tsdb_url: str, tmp_path: Path) -> None:
    with socket.socket() as other:  # a server without SO_REUSEPORT: sharing would be silent with it set
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        serve = Serve(tsdb_url, tmp_path, http_port=taken)
        code = serve.proc.wait(timeout=90)
        serve.stop()
    assert code == 1
    log = serve.log_path.read_text()
    assert "Traceback" not in log
    assert f"error: cannot bind 127.0.0.1:{taken} (OTEL_MARGIN_HTTP_PORT): Address already in use; is another " in log


def test_with_the_embedded_default_the_parent_starts_the_database_once_and_the_workers_attach(tmp_path: Path) -> None:
    serve = Serve(None, tmp_path)
    try:
        serving = serve.wait_serving()
        send_grpc(grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}"), body(1))
    finally:
        code = serve.stop()
    assert code == 0, serve.log_path.read_text()
    lines = serve.lines()
    embedded = [(r["message"], r.get("worker")) for r in lines if "embedded PostgreSQL" in str(r["message"])]
    assert embedded == [("embedded PostgreSQL started", None), ("embedded PostgreSQL stopped", None)]
    assert [r["worker"] for r in lines if r["message"] == "serving" and "worker" in r] in ([0, 1], [1, 0])
    assert serving["workers"] == 2
    parent = next(r for r in lines if r["message"] == "stopped" and "workers" in r)
    assert parent["events_stored"] == PER_REQUEST
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()  # stopped with the parent
