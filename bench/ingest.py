"""End-to-end ingest benchmark: OTLP in, priced rows with rollups durable, against the writer alone.

    python bench/ingest.py [--spans 40000] [--per-request 500] [--senders 1,4,16] [--mixed-spans 200000]
                           [--workers 1,2]

Starts a private TimescaleDB cluster (durable settings: fsync on) and ``otel-margin serve`` as its
own process, then sends pre-serialized OTLP requests from this process: the client does no
encoding work while measuring. A request is acknowledged only once its events are committed, so
the acknowledgement latency is the receive-to-queryable latency; the benchmark also checks that
the rows are there. The protobuf-parse-only rate of the same requests is measured in the same run.

For each sender count (``--senders``, concurrent clients each waiting for its acknowledgement) it
reports acknowledged and queryable spans/s, p50/p99 receive->queryable latency, the server's own
CPU seconds (``/proc/<pid>/stat``) per 1,000 GenAI spans and its peak RSS. The GenAI runs are all
model calls, in three conventions (current gen_ai.* with cached tokens, OpenLLMetry llm.usage.*,
OpenInference llm.token_count.*); 200 customers, 5 features, 8 models over the last hour.

Writer alone: the busiest run's requests are normalized and priced in this process (not timed),
then the same rows go through ``UsageWriter`` into a second database of the same cluster, in
batches of ``--writer-batch`` with two concurrent writers (as the batcher does): the store's
ceiling, measured in the same run, so ``e2e rows/s / writer-alone rows/s`` is meaningful on a
shared machine. ``--mixed-spans`` then sends a Collector's fan-out of all traces: 95 % HTTP and
database spans, 5 % model calls (spans/s through the receiver).

``--workers 1,2`` runs everything once per worker count (``serve --workers N``), each on a database of its
own in the same cluster, back to back in one run. With more than one worker each sender has a connection
of its own (the kernel spreads connections, not requests, over the workers: SO_REUSEPORT), in every run
of the comparison, 1 worker included; CPU is then the sum over ``serve``'s processes and RSS the largest
process's peak (and the sum of peaks).
"""

from __future__ import annotations

import argparse
import asyncio
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
from psycopg_pool import AsyncConnectionPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the private clusters the tests use

from otel_margin_backend.normalize import Normalizer  # noqa: E402
from otel_margin_backend.pricing import PricingConfig  # noqa: E402
from otel_margin_backend.pricing import create as create_pricer  # noqa: E402
from otel_margin_backend.storage.migrator import migrate  # noqa: E402
from otel_margin_backend.storage.writer import UsageWriter  # noqa: E402
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
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("openai", "gpt-4.1"),
]


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def make_span(rnd: random.Random, start_ns: int, genai_share: float) -> Span:
    """A model call in one of three conventions with probability ``genai_share``, else an HTTP or DB span."""
    provider, model = rnd.choice(MODELS)
    customer = f"acct_{rnd.randint(1, 200)}"
    feature = f"feature_{rnd.randint(1, 5)}"
    inp, out = rnd.randint(100, 8000), rnd.randint(10, 1500)
    attrs: list[KeyValue]
    roll = rnd.random() / genai_share if genai_share else 1.0
    if roll < 0.6:
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
    elif roll < 0.8:
        attrs = [
            _kv("gen_ai.system", provider),
            _kv("llm.request.type", "chat"),
            _kv("gen_ai.request.model", model),
            _kv("gen_ai.response.model", model),
            _kv("llm.usage.prompt_tokens", inp),
            _kv("llm.usage.completion_tokens", out),
            _kv("llm.usage.total_tokens", inp + out),
            _kv("gen_ai.usage.cache_read_input_tokens", inp // 4),
            _kv("traceloop.association.properties.customer_id", customer),
            _kv("feature.name", feature),
        ]
        name = "openai.chat"
    elif roll < 1.0:
        attrs = [
            _kv("openinference.span.kind", "LLM"),
            _kv("llm.provider", provider),
            _kv("llm.model_name", model),
            _kv("llm.token_count.prompt", inp),
            _kv("llm.token_count.completion", out),
            _kv("llm.token_count.total", inp + out),
            _kv("llm.token_count.prompt_details.cache_read", inp // 5),
            _kv("user.id", customer),
        ]
        name = "ChatCompletion"
    elif rnd.random() < 0.5:
        attrs = [
            _kv("http.request.method", "GET"),
            _kv("url.path", "/v1/items"),
            _kv("http.response.status_code", 200),
            _kv("server.address", "api.internal"),
            _kv("network.protocol.version", "1.1"),
        ]
        name = "GET /v1/items"
    else:
        attrs = [
            _kv("db.system.name", "postgresql"),
            _kv("db.namespace", "shop"),
            _kv("db.operation.name", "SELECT"),
            _kv("db.query.text", "SELECT id, name FROM items WHERE owner = $1"),
            _kv("server.address", "db.internal"),
        ]
        name = "SELECT shop.items"
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


def make_requests(total_spans: int, per_request: int, seed: int, genai_share: float = 1.0) -> list[bytes]:
    rnd = random.Random(seed)
    start_ns = int(time.time() * 1e9) - 3_600 * 10**9
    step = 3_600 * 10**9 // max(1, total_spans)  # spread over the last hour
    bodies = []
    for r in range(total_spans // per_request):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.extend([_kv("service.name", "bench-app"), _kv("deployment.environment.name", "prod")])
        first = start_ns + r * per_request * step
        rs.scope_spans.add().spans.extend(make_span(rnd, first + i * step, genai_share) for i in range(per_request))
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


def grpc_sender(port: int, *, per_thread: bool = False) -> object:
    """One channel for every sender, or (``per_thread``) a channel and TCP connection per sender thread."""
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    local = threading.local()

    def export_of() -> object:
        # A local subchannel pool: channels to one target otherwise share one connection.
        options = [("grpc.use_local_subchannel_pool", 1)] if per_thread else []
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=options)
        return channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )

    shared = export_of()

    def send(body: bytes) -> None:
        export = shared
        if per_thread:
            export = getattr(local, "export", None) or export_of()
            local.export = export
        export(body, metadata=metadata, timeout=60)  # type: ignore[operator]

    return send


def http_sender(port: int, *, per_thread: bool = False) -> object:
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=httpx.Limits(max_connections=32))
    headers = {"content-type": "application/x-protobuf", "authorization": f"Bearer {TOKEN}"}
    local = threading.local()

    def send(body: bytes) -> None:
        own = client
        if per_thread:
            own = getattr(local, "client", None) or httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
            local.client = own
        response = own.post("/v1/traces", content=body, headers=headers)
        response.raise_for_status()

    return send


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def processes(pid: int) -> list[int]:
    """``pid`` and its descendants (``serve --workers N``: the parent and its workers)."""
    if "resource_tracker" in Path(f"/proc/{pid}/cmdline").read_text():
        return []  # multiprocessing's helper, not a worker
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            out += processes(int(child))
    return out


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system, all threads) of the process and its workers, while they run."""
    total = 0
    for each in processes(pid):
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_peaks(pid: int) -> str:
    """The largest process's peak RSS in MB, and with several processes the sum of their peaks."""
    peaks = [rss_peak_mb(each) for each in processes(pid)]
    peaks = [p for p in peaks if p > 0]
    return f"{max(peaks):,.0f}" if len(peaks) == 1 else f"{max(peaks):,.0f}/{sum(peaks):,.0f}"


def row_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM usage_events").fetchone()
    return int(found[0]) if found else 0


def writer_alone(cluster: PgCluster, bodies: list[bytes], batch: int) -> tuple[float, int]:
    """Rows/s of ``UsageWriter`` on the rows of ``bodies`` (normalized and priced first, not timed)."""
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE writer_alone")
    url = cluster.dsn("writer_alone")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, reader_role="otel_margin_reader", reader_password=None)
    normalizer, pricer = Normalizer(), create_pricer(PricingConfig())
    events = []
    for body in bodies:
        for event in normalizer.normalize(ExportTraceServiceRequest.FromString(body)).events:
            pricer.price(event)
            events.append(event)
    parts = [events[i : i + batch] for i in range(0, len(events), batch)]

    async def write_all() -> float:
        async with AsyncConnectionPool(url, min_size=2, max_size=2, kwargs={"autocommit": True}) as pool:
            writer = UsageWriter(pool)
            queue = list(reversed(parts))

            async def one_writer() -> None:
                while queue:
                    await writer.write(queue.pop())

            started = time.perf_counter()
            await asyncio.gather(one_writer(), one_writer())  # the batcher's two writers
            return time.perf_counter() - started

    elapsed = asyncio.run(write_all())
    stored = row_count(url)
    assert stored == len(events), (stored, len(events))
    return stored / elapsed, stored


def workers_answering(port: int) -> set[int]:
    """The workers that answer ``/v1/stats`` on fresh connections (each says which it is)."""
    seen = set()
    for _ in range(50):
        with httpx.Client(headers={"authorization": f"Bearer {TOKEN}"}) as client:
            seen.add(client.get(f"http://127.0.0.1:{port}/v1/stats").json()["worker"])
    return seen


def start_server(
    url: str, data: str, extra: dict[str, str], workers: int = 1
) -> tuple[subprocess.Popen[bytes], int, int]:
    http_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "OTEL_MARGIN_DATABASE_URL": url,
        "OTEL_MARGIN_HTTP_PORT": str(http_port),
        "OTEL_MARGIN_GRPC_PORT": str(grpc_port),
        "OTEL_MARGIN_INGEST_TOKEN": TOKEN,
        "OTEL_MARGIN_DATA_DIR": data,
        "OTEL_MARGIN_LOG_LEVEL": "WARNING",
        "OTEL_MARGIN_WORKERS": str(workers),
        **extra,
    }
    server = subprocess.Popen([sys.executable, "-m", "otel_margin_backend", "serve"], env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/readyz").status_code == 200 and (
                workers == 1 or len(workers_answering(http_port)) == workers
            ):
                return server, http_port, grpc_port
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit("otel-margin serve did not become ready")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=40_000, help="GenAI spans per sender count")
    parser.add_argument("--per-request", type=int, default=500)
    parser.add_argument("--senders", default="1,4,16", help="comma-separated concurrent senders, one run each")
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--writer-batch", type=int, default=5_000, help="rows per batch in the writer-alone run")
    parser.add_argument("--mixed-spans", type=int, default=200_000, help="spans of the 95 %% non-GenAI run; 0: none")
    parser.add_argument("--mixed-senders", type=int, default=4)
    parser.add_argument(
        "--server-src", help="run the server from this backend/ folder (e.g. main's, for a before/after)"
    )
    parser.add_argument("--workers", default="1", help="comma-separated serve --workers counts, one run each")
    args = parser.parse_args()
    senders = [int(n) for n in args.senders.split(",")]
    worker_counts = [int(n) for n in args.workers.split(",")]
    per_thread = max(worker_counts) > 1
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}, load average {os.getloadavg()[0]:.1f} at start"
    )

    runs = {n: make_requests(args.spans, args.per_request, seed=n) for n in senders}
    mixed = make_requests(args.mixed_spans, args.per_request, seed=99, genai_share=0.05) if args.mixed_spans else []
    parse_rate = parse_only(runs[senders[0]], args.per_request)
    print(f"protobuf parse only: {parse_rate:,.0f} spans/s")

    durable = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"}
    rates: dict[tuple[int, int], float] = {}
    with PgCluster(settings={**TIMESCALE_SETTINGS, **durable}) as cluster, tempfile.TemporaryDirectory() as data:
        extra = {"PYTHONPATH": str(Path(args.server_src).resolve())} if args.server_src else {}
        for workers in worker_counts:
            with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE workers_{workers}")  # the same spans, stored afresh
            url = cluster.dsn(f"workers_{workers}")
            server, http_port, grpc_port = start_server(url, data, extra, workers)
            print(f"serve --workers {workers}" + (", a connection per sender" if per_thread else ""))
            try:
                run_server(args, server, url, grpc_port, http_port, runs, mixed, senders, per_thread, rates, workers)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=90)
        busiest = max(senders)
        alone, rows = writer_alone(cluster, runs[busiest], args.writer_batch)
        print(
            f"writer alone, the {busiest}-sender run's {rows:,} rows in batches of {args.writer_batch:,}: "
            f"{alone:,.0f} rows/s"
        )
        for workers in worker_counts:
            for n in senders:
                ratio = rates[workers, n] / alone
                print(f"  e2e / writer alone at {n:>2} senders, {workers} worker(s): {ratio:.0%}")


def run_server(
    args: argparse.Namespace,
    server: subprocess.Popen[bytes],
    url: str,
    grpc_port: int,
    http_port: int,
    runs: dict[int, list[bytes]],
    mixed: list[bytes],
    senders: list[int],
    per_thread: bool,
    rates: dict[tuple[int, int], float],
    workers: int,
) -> None:
    """The sender runs and the mixed run against one server."""
    if args.protocol == "grpc":
        send = grpc_sender(grpc_port, per_thread=per_thread)
    else:
        send = http_sender(http_port, per_thread=per_thread)
    for body in make_requests(2 * args.per_request, args.per_request, seed=0):
        send(body)  # type: ignore[operator]  # warm-up (rows of their own): price caches, pool, first-call costs
    print(
        f"{'senders':>7} {'acked/s':>9} {'queryable/s':>11} {'rows/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU s/1k':>8} {'RSS MB':>6}"
    )
    for n in senders:
        bodies = runs[n]
        before, cpu_before = row_count(url), cpu_seconds(server.pid)
        started = time.perf_counter()
        elapsed, latencies = send_all(bodies, n, send)
        stored = row_count(url) - before  # acknowledged means committed: the rows are there now
        queryable = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        spans = len(bodies) * args.per_request
        rates[workers, n] = stored / elapsed
        print(
            f"{n:>7} {spans / elapsed:>9,.0f} {spans / queryable:>11,.0f} {rates[workers, n]:>8,.0f} "
            f"{percentile(latencies, 50) * 1000:>7,.0f} {percentile(latencies, 99) * 1000:>7,.0f} "
            f"{cpu / spans * 1000:>8.3f} {rss_peaks(server.pid):>6}"
        )
    if mixed:
        cpu_before = cpu_seconds(server.pid)
        elapsed, latencies = send_all(mixed, args.mixed_senders, send)
        cpu = cpu_seconds(server.pid) - cpu_before
        spans = len(mixed) * args.per_request
        print(
            f"mixed (95 % non-GenAI), {args.mixed_senders} senders: {spans / elapsed:,.0f} spans/s through "
            f"the receiver, p50 {percentile(latencies, 50) * 1000:,.0f} ms, "
            f"server CPU {cpu / spans * 1e6:.1f} us/span, RSS {rss_peaks(server.pid)} MB"
        )


if __name__ == "__main__":
    main()
