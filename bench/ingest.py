"""End-to-end ingest benchmark: OTLP in, priced rows with rollups durable, over gRPC and over HTTP.

    python bench/ingest.py [--spans 200000] [--per-request 500] [--concurrency 8]

Starts a private TimescaleDB cluster (durable settings: fsync on) and ``otel-margin serve`` as its
own process, then sends pre-serialized OTLP requests from this process: the client does no
encoding work while measuring. A request is acknowledged only once its events are committed, so
the acknowledgement latency is the receive-to-queryable latency; the benchmark also checks that
the rows are there. The protobuf-parse-only rate of the same requests is measured in the same run.

The mix per request: 70 % model-call spans in three conventions (current gen_ai.*, OpenLLMetry
llm.usage.*, OpenInference llm.token_count.*), 10 % agent/workflow parents (never priced), 20 %
plain HTTP/database spans (ignored); 200 customers, 12 features, 6 models.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the private clusters the tests use

from tests.support.pgcluster import PgCluster, free_port  # noqa: E402
from tests.support.stores import TIMESCALE_SETTINGS  # noqa: E402

TOKEN = "bench-token"
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("gcp.gemini", "gemini-1.5-flash"),
    ("openai", "o3-mini"),
    ("mistral_ai", "mistral-large-latest"),
]


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def make_span(rnd: random.Random, start_ns: int) -> Span:
    roll = rnd.random()
    provider, model = rnd.choice(MODELS)
    customer = f"acct_{rnd.randint(1, 200)}"
    feature = f"feature_{rnd.randint(1, 12)}"
    inp, out = rnd.randint(100, 8000), rnd.randint(10, 1500)
    attrs: list[KeyValue]
    if roll < 0.4:
        attrs = [
            _kv("gen_ai.operation.name", "chat"),
            _kv("gen_ai.provider.name", provider),
            _kv("gen_ai.request.model", model),
            _kv("gen_ai.response.model", model),
            _kv("gen_ai.usage.input_tokens", inp),
            _kv("gen_ai.usage.output_tokens", out),
            _kv("gen_ai.usage.cache_read.input_tokens", inp // 3),
            _kv("customer.id", customer),
            _kv("feature.name", feature),
            _kv("server.address", "api.openai.com"),
        ]
        name = f"chat {model}"
    elif roll < 0.55:
        attrs = [
            _kv("gen_ai.system", provider),
            _kv("llm.request.type", "chat"),
            _kv("gen_ai.request.model", model),
            _kv("gen_ai.response.model", model),
            _kv("llm.usage.prompt_tokens", inp),
            _kv("llm.usage.completion_tokens", out),
            _kv("llm.usage.total_tokens", inp + out),
            _kv("traceloop.association.properties.customer_id", customer),
            _kv("feature.name", feature),
        ]
        name = "openai.chat"
    elif roll < 0.7:
        attrs = [
            _kv("openinference.span.kind", "LLM"),
            _kv("llm.provider", provider),
            _kv("llm.model_name", model),
            _kv("llm.token_count.prompt", inp),
            _kv("llm.token_count.completion", out),
            _kv("llm.token_count.total", inp + out),
            _kv("user.id", customer),
        ]
        name = "ChatCompletion"
    elif roll < 0.8:
        attrs = [
            _kv("gen_ai.operation.name", "invoke_agent"),
            _kv("gen_ai.agent.name", "planner"),
            _kv("gen_ai.usage.input_tokens", inp * 3),
            _kv("customer.id", customer),
        ]
        name = "invoke_agent planner"
    else:
        attrs = [_kv("http.request.method", "GET"), _kv("url.path", "/v1/items"), _kv("http.response.status_code", 200)]
        name = "GET /v1/items"
    return Span(
        trace_id=rnd.randbytes(16),
        span_id=rnd.randbytes(8),
        parent_span_id=rnd.randbytes(8),
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + 800_000_000,
        attributes=attrs,
    )


def make_requests(total_spans: int, per_request: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    start_ns = int(time.time() * 1e9) - 3_600 * 10**9
    bodies = []
    for r in range(total_spans // per_request):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.extend([_kv("service.name", "bench-app"), _kv("deployment.environment.name", "prod")])
        rs.scope_spans.add().spans.extend(make_span(rnd, start_ns + r * 1_000_000) for _ in range(per_request))
        bodies.append(req.SerializeToString())
    return bodies


def parse_only(bodies: list[bytes], per_request: int) -> float:
    started = time.perf_counter()
    for body in bodies:
        ExportTraceServiceRequest.FromString(body)
    return len(bodies) * per_request / (time.perf_counter() - started)


def send_all(bodies: list[bytes], concurrency: int, send: object) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()

    def one(body: bytes) -> None:
        t0 = time.perf_counter()
        send(body)  # type: ignore[operator]
        elapsed = time.perf_counter() - t0
        with lock:
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, bodies))
    return time.perf_counter() - started, latencies


def grpc_sender(port: int) -> object:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    return lambda body: export(body, metadata=metadata, timeout=60)


def http_sender(port: int) -> object:
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=httpx.Limits(max_connections=32))
    headers = {"content-type": "application/x-protobuf", "authorization": f"Bearer {TOKEN}"}

    def send(body: bytes) -> None:
        response = client.post("/v1/traces", content=body, headers=headers)
        response.raise_for_status()

    return send


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--per-request", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}"
    )

    grpc_bodies = make_requests(args.spans, args.per_request, seed=1)
    http_bodies = make_requests(args.spans, args.per_request, seed=2)
    parse_rate = parse_only(grpc_bodies, args.per_request)
    print(f"protobuf parse only:     {parse_rate:>10,.0f} spans/s")

    durable = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"}
    with PgCluster(settings={**TIMESCALE_SETTINGS, **durable}) as cluster, tempfile.TemporaryDirectory() as data:
        url = cluster.dsn("postgres")
        http_port, grpc_port = free_port(), free_port()
        env = {
            **os.environ,
            "OTEL_MARGIN_DATABASE_URL": url,
            "OTEL_MARGIN_HTTP_PORT": str(http_port),
            "OTEL_MARGIN_GRPC_PORT": str(grpc_port),
            "OTEL_MARGIN_INGEST_TOKEN": TOKEN,
            "OTEL_MARGIN_DATA_DIR": data,
            "OTEL_MARGIN_LOG_LEVEL": "WARNING",
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
            for label, bodies, sender in (
                ("gRPC", grpc_bodies, grpc_sender(grpc_port)),
                ("HTTP", http_bodies, http_sender(http_port)),
            ):
                with psycopg.connect(url) as conn:
                    before = conn.execute("SELECT count(*) FROM usage_events").fetchone()
                elapsed, latencies = send_all(bodies, args.concurrency, sender)
                with psycopg.connect(url) as conn:
                    after = conn.execute("SELECT count(*) FROM usage_events").fetchone()
                spans = len(bodies) * args.per_request
                stored = (after[0] if after else 0) - (before[0] if before else 0)
                print(
                    f"end to end over {label}:   {spans / elapsed:>10,.0f} spans/s "
                    f"({stored:,} priced rows from {spans:,} spans, {args.concurrency} concurrent clients)"
                )
                print(
                    f"  receive->queryable p50 {percentile(latencies, 50) * 1000:,.0f} ms, "
                    f"p99 {percentile(latencies, 99) * 1000:,.0f} ms (per {args.per_request}-span request)"
                )
            print(f"backend peak RSS:        {rss_peak_mb(server.pid):>10,.0f} MB")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
