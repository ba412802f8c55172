"""Hostile-input benchmark: does one client's worst-case input cost other clients availability or the server memory?

    python bench/hostile.py [--seconds 30] [--names-per-request 3000] [--name-clients 1] [--values 10000]
                            [--clients 4]

Starts a private TimescaleDB cluster and ``otel-margin serve`` as its own process, then runs two scenarios
(issue 12):

1. **Worst-case names.** Clients send OTLP/gRPC requests whose spans each carry a distinct model name built to
   be as slow as possible to resolve: gateway prefixes up to the 256-byte limit (``openai/openai/…/x-<n>``), no
   provider (so every provider's model-name patterns are tried), Bedrock and Vertex shapes, and names over the
   limit (``"openai/" * 4000``, 28 KiB, which took 6 s on the event loop before). Meanwhile ``GET /healthz`` is
   timed every 50 ms. Target: < 100 ms.
2. **Memory an attacker controls.** Clients send 10,000 spans, each with a distinct 1 MiB attribute value that
   the server reads (``server.address``, ``customer.id``, the model, the service tier, in turn; three spans per
   request, under gRPC's 4 MiB limit), about 10 GB in all. The server's RSS is sampled throughout. Target: peak
   < 300 MB.

Run against another checkout's server with ``PYTHONPATH=/path/to/checkout/backend`` (the server inherits it).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the private clusters the tests use

from tests.support.pgcluster import PgCluster, free_port  # noqa: E402
from tests.support.stores import TIMESCALE_SETTINGS  # noqa: E402

TOKEN = "bench-token"
MIB = 1_048_576
BIG_KEYS = ("server.address", "customer.id", "gen_ai.request.model", "openai.response.service_tier")


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _span(n: int, start_ns: int, attrs: dict[str, str | int]) -> Span:
    return Span(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        parent_span_id=b"\x00" * 7 + b"\x01",
        name="chat",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + 10**9,
        attributes=[_kv(k, v) for k, v in attrs.items()],
    )


def _request(spans: list[Span]) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(_kv("service.name", "hostile-bench"))
    rs.scope_spans.add().spans.extend(spans)
    return req.SerializeToString()


def worst_name(n: int) -> tuple[str, str]:
    """(provider, model): distinct per n, each shape as costly to resolve as the limits allow (and one in 500 over
    them, which the edge must refuse cheaply)."""
    unique = f"x-{n}"
    shapes = [
        ("", "openai/" * ((256 - len(unique)) // 7) + unique),  # prefixes up to the limit, no provider
        ("litellm", "openrouter/anthropic/" + "claude-" * 30 + unique),  # a gateway: the name decides
        ("", "us.anthropic." + "a" * 180 + unique + "-20240620-v1:0@20240620"),  # every loose variant applies
        ("aws.bedrock", f"arn:aws:bedrock:us-east-1:123:inference-profile/{'b' * 150}{unique}"),
        ("", "projects/p/locations/l/publishers/google/models/" + "g" * 150 + unique),
    ]
    if n % 500 == 0:
        return ("openai", "openai/" * 4000 + unique)  # 28 KiB: over the limit
    return shapes[n % len(shapes)]


def name_requests(count: int, per_request: int, start_ns: int, first: int) -> list[bytes]:
    bodies = []
    n = first
    for _ in range(count):
        spans = []
        for _ in range(per_request):
            provider, model = worst_name(n)
            attrs: dict[str, str | int] = {
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
                "gen_ai.response.model": model, "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10,
                "customer.id": f"acct_{n % 50}",
            }  # fmt: skip
            spans.append(_span(n, start_ns, attrs))
            n += 1
        bodies.append(_request(spans))
    return bodies


def big_value_request(first: int, start_ns: int, per_request: int = 3) -> bytes:
    spans = []
    for n in range(first, first + per_request):
        attrs: dict[str, str | int] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10, "customer.id": "acct_1",
        }  # fmt: skip
        attrs[BIG_KEYS[n % len(BIG_KEYS)]] = f"{n:010d}" + random.Random(n).choice("abcdef") * (MIB - 10)
        spans.append(_span(10**9 + n, start_ns, attrs))
    return _request(spans)


class Errors:
    """gRPC errors by status code (the shipped server answers none; an older one may)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self._lock = threading.Lock()

    def call(self, export: Callable[[bytes], ExportTraceServiceResponse], body: bytes) -> int:
        """Rejected spans of the answer, or 0 after counting the error."""
        try:
            return export(body).partial_success.rejected_spans
        except grpc.RpcError as exc:
            with self._lock:
                name = exc.code().name
                self.codes[name] = self.codes.get(name, 0) + 1
            return 0

    def __str__(self) -> str:
        return ", ".join(f"{n:,} {code}" for code, n in sorted(self.codes.items())) or "none"


def grpc_export(port: int) -> Callable[[bytes], ExportTraceServiceResponse]:
    channel = grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 8 * MIB)]
    )  # one channel per client thread
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=lambda b: b,
        response_deserializer=ExportTraceServiceResponse.FromString,
    )
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    return lambda body: export(body, metadata=metadata, timeout=120)


class HealthProbe:
    """Times ``GET /healthz`` every ``interval_s`` on one kept-alive connection until stopped."""

    def __init__(self, port: int, interval_s: float = 0.05) -> None:
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._port, self._interval = port, interval_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{self._port}", timeout=30) as client:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    ok = client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies.append(time.perf_counter() - t0)
                self.failures += not ok
                self._stop.wait(self._interval)


class RssSampler:
    """Samples a process's resident set size every ``interval_s`` until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.samples: list[float] = []
        self._pid, self._interval = pid, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(status_mb(self._pid, "VmRSS"))
            self._stop.wait(self._interval)


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def scenario_names(args: argparse.Namespace, grpc_port: int, http_port: int) -> None:
    start_ns = int(time.time() * 1e9) - 3_600 * 10**9
    # Made before the clock starts, so the clients spend no CPU on it. Each client cycles through enough distinct
    # names (> the 10,000 the name caches keep) that every name is a cache miss again when it comes round.
    per_client = -(-12_000 // args.names_per_request)
    bodies = [
        name_requests(per_client, args.names_per_request, start_ns, first=(c + 1) * 10**8)
        for c in range(args.name_clients)
    ]
    print(f"\n1. worst-case names: {args.name_clients} client(s), {args.names_per_request:,} distinct names per "
          f"request ({len(bodies[0][0]) / MIB:.1f} MiB), {args.seconds:g} s")  # fmt: skip
    stop = time.monotonic() + args.seconds
    sent = [0] * args.name_clients
    rejected = [0] * args.name_clients
    errors = Errors()

    def client(index: int) -> None:
        export = grpc_export(grpc_port)
        for r in range(10**6):
            if time.monotonic() > stop:
                return
            rejected[index] += errors.call(export, bodies[index][r % per_client])
            sent[index] += args.names_per_request

    with HealthProbe(http_port) as probe:
        time.sleep(1.0)
        idle = list(probe.latencies)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.name_clients) as pool:
            list(pool.map(client, range(args.name_clients)))
        elapsed = time.perf_counter() - started
    loaded = probe.latencies[len(idle) :]
    print(f"  spans sent: {sum(sent):,} ({sum(sent) / elapsed:,.0f}/s); rejected at the edge (name over 256 bytes): "
          f"{sum(rejected):,}; gRPC errors: {errors}")  # fmt: skip
    print(f"  /healthz idle:  p50 {ms(statistics.median(idle))}, max {ms(max(idle))} ({len(idle)} probes)")
    print(
        f"  /healthz under load: p50 {ms(statistics.median(loaded))}, "
        f"p99 {ms(statistics.quantiles(loaded, n=100, method='inclusive')[98])}, max {ms(max(loaded))} "
        f"({len(loaded)} probes, {probe.failures} failed)"
    )


def scenario_memory(args: argparse.Namespace, grpc_port: int, http_port: int, pid: int) -> None:
    print(f"\n2. {args.values:,} distinct 1 MiB attribute values ({', '.join(BIG_KEYS)} in turn), 3 per request, "
          f"{args.clients} clients")  # fmt: skip
    start_ns = int(time.time() * 1e9) - 3_600 * 10**9
    before = status_mb(pid, "VmRSS")
    firsts = list(range(0, args.values, 3))
    rejected = [0]
    lock = threading.Lock()
    errors = Errors()

    def client(index: int) -> None:
        export = grpc_export(grpc_port)
        for first in firsts[index :: args.clients]:
            count = errors.call(export, big_value_request(first, start_ns, min(3, args.values - first)))
            with lock:
                rejected[0] += count

    with RssSampler(pid) as rss, HealthProbe(http_port) as probe:
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client, range(args.clients)))
        elapsed = time.perf_counter() - started
    print(f"  sent {args.values:,} values ({args.values / 1024:,.1f} GiB) in {elapsed:,.0f} s; "
          f"spans rejected at the edge (value over 256 bytes): {rejected[0]:,}; gRPC errors: {errors}")  # fmt: skip
    print(f"  server RSS: before {before:,.0f} MB, peak {max(rss.samples):,.0f} MB, after {rss.samples[-1]:,.0f} MB "
          f"(VmHWM {status_mb(pid, 'VmHWM'):,.0f} MB)")  # fmt: skip
    print(f"  /healthz meanwhile: p50 {ms(statistics.median(probe.latencies))}, max {ms(max(probe.latencies))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the worst-case-names scenario")
    parser.add_argument("--names-per-request", type=int, default=3_000)
    parser.add_argument("--values", type=int, default=10_000, help="distinct 1 MiB values in the memory scenario")
    parser.add_argument("--name-clients", type=int, default=1, help="clients sending worst-case names")
    parser.add_argument("--clients", type=int, default=4, help="clients sending 1 MiB values")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}"
    )
    with PgCluster(settings=TIMESCALE_SETTINGS) as cluster, tempfile.TemporaryDirectory() as data:
        http_port, grpc_port = free_port(), free_port()
        env = {
            **os.environ,
            "OTEL_MARGIN_DATABASE_URL": cluster.dsn("postgres"),
            "OTEL_MARGIN_HTTP_PORT": str(http_port),
            "OTEL_MARGIN_GRPC_PORT": str(grpc_port),
            "OTEL_MARGIN_INGEST_TOKEN": TOKEN,
            "OTEL_MARGIN_DATA_DIR": data,
            "OTEL_MARGIN_LOG_LEVEL": "ERROR",
            "OTEL_MARGIN_PRICE_SYNC_INTERVAL_S": "0",
        }
        server = subprocess.Popen([sys.executable, "-m", "otel_margin_backend", "serve"], env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{http_port}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("otel-margin serve did not become ready")
                time.sleep(0.2)
            scenario_names(args, grpc_port, http_port)
            scenario_memory(args, grpc_port, http_port, server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)


if __name__ == "__main__":
    main()
