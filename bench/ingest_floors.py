"""Per-span CPU floors of the ingest path: what bounds "server CPU per GenAI span" in this architecture.

    python bench/ingest_floors.py [--spans 40000] [--mixed-spans 200000] [--repeat 3] [--senders 4] [--rounds 10]

``bench/ingest.py`` measures the whole server (40-55 us of CPU per GenAI span against a 25 us target). This
measures, in one run on the same machine and with the same requests (``make_requests``: 500-span requests, all
model calls, and a 5 % GenAI mix of HTTP and database spans), the costs the server cannot go below without
changing how it is built, each in microseconds of CPU per span:

1. protobuf decode: ``ExportTraceServiceRequest.FromString`` (upb).
2. attribute access: walking every span's ``attributes`` reading ``kv.key`` and ``kv.value`` and nothing else,
   on decoded requests: the least any pure-Python normalizer pays per attribute with upb protobuf.
3. normalize + price in this process: ``Normalizer().normalize(request, now=...)`` and ``price`` per event
   (decoding not included; the attribute walk is), with the normalizer and pricer built and warm; then the same
   while another process keeps the other core busy, as the client and PostgreSQL do while ``bench/ingest.py``
   runs the server: whether a busy neighbour changes the CPU time the same work takes.
4. the COPY write, client side: the priced GenAI events through ``UsageWriter`` (two concurrent writers, as the
   batcher runs them) in batches of 500 and of 5,000, into a private TimescaleDB cluster with durable settings.
   CPU is this process's (``time.process_time``); PostgreSQL's CPU is its own processes' and is excluded. Wall
   rows/s are the store's, on this machine. Each of ``--repeat`` runs writes into a fresh database: the least
   CPU and the best rows/s count.
5. gRPC receive: a bare ``grpc.aio`` server in a subprocess (CPU from ``/proc/<pid>/stat``) whose generic handler
   for ``TraceService/Export`` answers an empty ``ExportTraceServiceResponse`` without decoding, and a variant
   that also decodes; the pre-serialized requests come ``--rounds`` times from ``--senders`` client threads of this
   process.

Floors 1-3 are single-threaded CPU (``time.thread_time``), the least of ``--repeat`` runs. The closing line adds
the floors the server pays once each per span (receive, decode, normalize + price, COPY client side at 5,000
rows) for comparison with the server's measured CPU per span. On a small machine the client threads of floor 5
compete with the server for cores: its spans/s is this machine's, its CPU per span is the server's own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import grpc
import psycopg
from google.protobuf import __version__ as protobuf_version
from google.protobuf.internal import api_implementation
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from psycopg_pool import AsyncConnectionPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench.ingest and the private clusters the tests use

from bench.ingest import cpu_seconds, grpc_sender, make_requests, row_count, send_all  # noqa: E402
from otel_margin_backend.normalize import Normalizer  # noqa: E402
from otel_margin_backend.pipeline.events import UsageEvent  # noqa: E402
from otel_margin_backend.pricing import PricingConfig  # noqa: E402
from otel_margin_backend.pricing import create as create_pricer  # noqa: E402
from otel_margin_backend.storage.migrator import migrate  # noqa: E402
from otel_margin_backend.storage.writer import UsageWriter  # noqa: E402
from tests.support.pgcluster import PgCluster, free_port  # noqa: E402
from tests.support.stores import TIMESCALE_SETTINGS  # noqa: E402

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
PER_REQUEST = 500


def serve_noop(port: int, decode: bool) -> None:
    """The receive floor's server: bytes in, an empty response out (and, with ``decode``, a FromString)."""
    empty: bytes = ExportTraceServiceResponse().SerializeToString()

    async def export(body: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        if decode:
            ExportTraceServiceRequest.FromString(body)
        return empty

    async def run() -> None:
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 2**20)])
        method: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(export)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": method}),))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(run())


def least_cpu(work: Callable[[], object], repeat: int) -> float:
    """The least thread CPU seconds of ``repeat`` runs of ``work``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.thread_time()
        work()
        best = min(best, time.thread_time() - started)
    return best


def with_a_busy_core(work: Callable[[], float]) -> float:
    """``work()`` while another process spins on a core."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        return work()
    finally:
        spinner.kill()
        spinner.wait()


def decode_all(bodies: list[bytes]) -> list[ExportTraceServiceRequest]:
    return [ExportTraceServiceRequest.FromString(body) for body in bodies]


def read_attributes(requests: list[ExportTraceServiceRequest]) -> None:
    for request in requests:
        for group in request.resource_spans:
            for scope in group.scope_spans:
                for span in scope.spans:
                    for kv in span.attributes:
                        _key = kv.key
                        _value = kv.value


class NormalizeAndPrice:
    """One normalizer and pricer, built (and their caches warmed) before anything is timed."""

    def __init__(self) -> None:
        self.normalizer, self.pricer = Normalizer(), create_pricer(PricingConfig())
        self.now = datetime.now(UTC)

    def __call__(self, requests: list[ExportTraceServiceRequest]) -> list[UsageEvent]:
        events = []
        for request in requests:
            for event in self.normalizer.normalize(request, now=self.now).events:
                self.pricer.price(event)
                events.append(event)
        return events


def copy_floor(
    cluster: PgCluster, events: list[UsageEvent], warmup: list[UsageEvent], batch: int, attempt: int
) -> tuple[float, float]:
    """This process's CPU us per row and wall rows/s of ``UsageWriter`` in batches of ``batch`` (own database)."""
    name = f"floor_{batch}_{attempt}"
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = cluster.dsn(name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, reader_role="otel_margin_reader", reader_password=None)
    parts = [events[i : i + batch] for i in range(0, len(events), batch)]

    async def write_all() -> tuple[float, float]:
        async with AsyncConnectionPool(url, min_size=2, max_size=2, kwargs={"autocommit": True}) as pool:
            await pool.wait()
            writer = UsageWriter(pool)
            await writer.write(warmup)  # rows of their own: type loading, first chunk, first-call costs
            queue = list(reversed(parts))

            async def one_writer() -> None:
                while queue:
                    await writer.write(queue.pop())

            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(one_writer(), one_writer())  # the batcher's two writers
            return time.process_time() - cpu, time.perf_counter() - wall

    cpu, wall = asyncio.run(write_all())
    stored = row_count(url) - len(warmup)
    assert stored == len(events), (stored, len(events))
    return cpu / stored * 1e6, stored / wall


def receive_floor(
    bodies: list[bytes], warmup: list[bytes], decode: bool, senders: int, rounds: int
) -> tuple[float, float]:
    """The bare gRPC server's CPU us per span and spans/s, sent ``bodies`` ``rounds`` times by ``senders`` threads."""
    port = free_port()
    argv = [sys.executable, __file__, "--serve-noop", str(port)] + (["--decode"] if decode else [])
    server = subprocess.Popen(argv)
    try:
        send = grpc_sender(port)
        deadline = time.monotonic() + 30
        while True:
            try:
                for body in warmup:
                    send(body)  # type: ignore[operator]
                break
            except grpc.RpcError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the no-op gRPC server did not answer") from None
                time.sleep(0.1)
        before, elapsed = cpu_seconds(server.pid), 0.0
        for _ in range(rounds):  # /proc/<pid>/stat counts clock ticks (10 ms): enough rounds to be precise
            elapsed += send_all(bodies, senders, send)[0]
        cpu = cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        server.wait(timeout=30)
    spans = rounds * len(bodies) * PER_REQUEST
    return cpu / spans * 1e6, spans / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=40_000, help="spans of the all-GenAI set")
    parser.add_argument("--mixed-spans", type=int, default=200_000, help="spans of the 5 %% GenAI set; 0: none")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each floor but gRPC; the least CPU counts")
    parser.add_argument("--senders", type=int, default=4, help="client threads of the gRPC receive floor")
    parser.add_argument("--rounds", type=int, default=10, help="times the gRPC receive floor sends each set")
    parser.add_argument("--serve-noop", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--decode", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_noop is not None:
        serve_noop(args.serve_noop, args.decode)
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}, load average {os.getloadavg()[0]:.1f} at start; protobuf "
        f"{api_implementation.Type()} {protobuf_version}, psycopg {psycopg.pq.__impl__}, grpcio {grpc.__version__}"
    )
    sets = {"genai": make_requests(args.spans, PER_REQUEST, seed=1)}
    if args.mixed_spans:
        sets["mixed 5 %"] = make_requests(args.mixed_spans, PER_REQUEST, seed=99, genai_share=0.05)
    warmup = make_requests(2 * PER_REQUEST, PER_REQUEST, seed=0)
    us: dict[tuple[str, str], float] = {}
    events: dict[str, list[UsageEvent]] = {}
    normalize_and_price = NormalizeAndPrice()
    for label, bodies in sets.items():
        spans = len(bodies) * PER_REQUEST
        requests = decode_all(bodies)
        events[label] = normalize_and_price(requests)  # also the warm-up of floor 3 (price caches)
        us[label, "decode"] = least_cpu(partial(decode_all, bodies), args.repeat) / spans * 1e6
        attrs = least_cpu(partial(read_attributes, requests), args.repeat) / spans * 1e6
        us[label, "normalize"] = least_cpu(partial(normalize_and_price, requests), args.repeat) / spans * 1e6
        busy = with_a_busy_core(partial(least_cpu, partial(normalize_and_price, requests), args.repeat)) / spans * 1e6
        print(f"[{label}] {spans:,} spans, {len(events[label]):,} events")
        print(f"1 protobuf decode (FromString)          [{label}]: {us[label, 'decode']:6.2f} us/span")
        print(f"2 attribute access (kv.key, kv.value)   [{label}]: {attrs:6.2f} us/span")
        print(f"3 normalize + price                     [{label}]: {us[label, 'normalize']:6.2f} us/span")
        ratio = busy / us[label, "normalize"]
        print(f"3 the same, another core busy           [{label}]: {busy:6.2f} us/span ({ratio:.2f}x)")

    durable = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"}
    warm_events = normalize_and_price(decode_all(warmup))
    with PgCluster(settings={**TIMESCALE_SETTINGS, **durable}) as cluster:
        for batch in (500, 5_000):
            runs = [copy_floor(cluster, events["genai"], warm_events, batch, n) for n in range(args.repeat)]
            cpu, rate = min(cpu for cpu, _ in runs), max(rate for _, rate in runs)
            us["genai", f"copy {batch}"] = cpu
            print(f"4 COPY write, client CPU, batch {batch:>5,} [genai]: {cpu:6.2f} us/row, {rate:,.0f} rows/s wall")
    for label, bodies in sets.items():
        for decode in (False, True):
            cpu, rate = receive_floor(bodies, warmup, decode, args.senders, args.rounds)
            us[label, f"receive {decode}"] = cpu
            what = "receive + decode" if decode else "receive, no decode"
            print(
                f"5 gRPC {what:<18} [{label}]: {cpu:6.2f} us/span server CPU, {rate:,.0f} spans/s, "
                f"{args.senders} senders"
            )

    for label in sets:
        per_row = us["genai", "copy 5000"] * len(events[label]) / (len(sets[label]) * PER_REQUEST)
        parts = [us[label, "receive False"], us[label, "decode"], us[label, "normalize"], per_row]
        print(
            f"sum of floors [{label}]: receive {parts[0]:.2f} + decode {parts[1]:.2f} + normalize + price "
            f"{parts[2]:.2f} + COPY client {parts[3]:.2f} = {sum(parts):.2f} us/span"
        )


if __name__ == "__main__":
    main()
