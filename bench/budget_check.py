"""Budget-check benchmark: ``GET /v1/budgets/check`` at a fixed rate, p50 / p99 latency.

    python bench/budget_check.py [--rate 200] [--seconds 20] [--customers 200] [--interval 5] [--connections 8]

Starts a private TimescaleDB cluster and ``otel-margin serve`` as its own process, with one budget per customer,
one per feature, one for the organization, and usage of the current month for every customer (so states range
from ok to exceeded). Then an open-loop client in this process sends ``--rate`` checks a second for ``--seconds``
(each request at its scheduled time, whatever the earlier ones are doing, over ``--connections`` keep-alive
connections with a ``budgets:check`` token): random customers, a fifth of them unknown, half with a feature.
The backend's evaluation loop runs every ``--interval`` seconds meanwhile (default 5, harsher than the 60 s
default: each round of 213 budgets costs the database about 0.6 s of CPU here, and the two cores are shared), so
checks are answered while the state is refreshed. The same load is then sent to ``/healthz`` (no token, no work):
the HTTP stack's own latency on the machine at that moment, to read the check's figures against. Latency is from
sending to the full answer; "late" is how far a request's send fell behind its schedule (the client's own lag).
Target: p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the private clusters and event builders the tests use

from otel_margin_backend.storage.migrator import migrate  # noqa: E402
from otel_margin_backend.storage.writer import write_batch  # noqa: E402
from tests.support.events import event  # noqa: E402
from tests.support.pgcluster import PgCluster, free_port  # noqa: E402
from tests.support.stores import TIMESCALE_SETTINGS  # noqa: E402

ADMIN = "bench-admin-token-0123456789"
CHECK = "bench-check-token-0123456789"
FEATURES = [f"feature_{f}" for f in range(12)]


async def seed(url: str, customers: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, reader_role="otel_margin_reader", reader_password=None)
        conn.execute(
            "INSERT INTO budgets (name, customer_id, feature, period, currency, limit_amount, warning_percent, "
            "critical_percent, exceeded_percent, managed_by) "
            "SELECT 'cust-' || c, 'acct_' || c, NULL, 'month', 'USD', 100, 75, 90, 100, 'api' "
            "FROM generate_series(0, %(n)s - 1) c "
            "UNION ALL SELECT 'feat-' || f, NULL, 'feature_' || f, 'day', 'USD', 2000, 75, 90, 100, 'api' "
            "FROM generate_series(0, 11) f "
            "UNION ALL SELECT 'org', NULL, NULL, 'month', 'USD', 100000, 75, 90, 100, 'api'",
            {"n": customers},
        )
    now = datetime.now(UTC)
    # Customer c has spent about (c mod 120) dollars this month: ok, warning, critical and exceeded all occur.
    events = [
        event(
            c * 10 + k,
            customer=f"acct_{c}",
            feature=FEATURES[(c + k) % 12],
            cost=f"{(c % 120) / 4:.2f}",
            time=now - timedelta(minutes=k),
        )
        for c in range(customers)
        for k in range(4)
    ]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await write_batch(conn, events)


class Connection:
    """One keep-alive HTTP/1.1 connection, written by hand: httpx's client costs more CPU than the server's answer,
    and on two shared cores that would measure the client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, f"127.0.0.1:{port}")

    async def get(self, target: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {CHECK}\r\n\r\n"
                          .encode())  # fmt: skip
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
        return int(lines[0].split(" ", 2)[1]), await self.reader.readexactly(length)


async def load(
    port: int, args: argparse.Namespace, *, path: str = "/v1/budgets/check"
) -> tuple[list[float], list[float], Counter[str]]:
    rng = random.Random(7)
    total = int(args.rate * args.seconds)
    latencies: list[float] = []
    late: list[float] = []
    outcomes: Counter[str] = Counter()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(args.connections):  # opened before the clock starts
        idle.put_nowait(await Connection.open(port))

    async def one(target: str, due: float) -> None:
        connection = await idle.get()  # all busy: the request waits, and its wait shows as "late"
        started = time.perf_counter()
        late.append(started - due)
        status, body = await connection.get(target)
        latencies.append(time.perf_counter() - started)
        idle.put_nowait(connection)
        outcomes[json.loads(body).get("state", "200") if status == 200 else str(status)] += 1

    tasks = []
    t0 = time.perf_counter() + 0.1
    for i in range(total):
        c = rng.randrange(int(args.customers * 1.25))  # a fifth unknown to the backend
        query = {"customer": f"acct_{c}"}
        if rng.random() < 0.5:
            query["feature"] = rng.choice(FEATURES)
        due = t0 + i / args.rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(f"{path}?{urlencode(query)}", due)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().writer.close()
    return latencies, late, outcomes


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="checks per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--customers", type=int, default=200, help="customers with a budget of their own")
    parser.add_argument("--interval", type=float, default=5.0, help="the backend's budget evaluation interval (s)")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    with PgCluster(settings=TIMESCALE_SETTINGS) as cluster, tempfile.TemporaryDirectory() as data:
        url = cluster.dsn("postgres")
        asyncio.run(seed(url, args.customers))
        http_port, grpc_port = free_port(), free_port()
        env = {
            **os.environ,
            "OTEL_MARGIN_DATABASE_URL": url,
            "OTEL_MARGIN_HTTP_PORT": str(http_port),
            "OTEL_MARGIN_GRPC_PORT": str(grpc_port),
            "OTEL_MARGIN_INGEST_TOKEN": ADMIN,
            "OTEL_MARGIN_TOKENS": f"app:budgets:check:{CHECK}",
            "OTEL_MARGIN_DATA_DIR": data,
            "OTEL_MARGIN_LOG_LEVEL": "ERROR",
            "OTEL_MARGIN_PRICE_SYNC_INTERVAL_S": "0",
            "OTEL_MARGIN_SIMULATOR_INTERVAL_S": "86400",
            "OTEL_MARGIN_BUDGET_EVALUATE_INTERVAL_S": str(args.interval),
        }
        server = subprocess.Popen([sys.executable, "-m", "otel_margin_backend", "serve"], env=env)
        base = f"http://127.0.0.1:{http_port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    check = httpx.get(f"{base}/v1/budgets/check", params={"customer": "acct_0"},
                                      headers={"authorization": f"Bearer {CHECK}"})  # fmt: skip
                    if check.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("otel-margin serve did not answer budget checks")
                time.sleep(0.2)
            print(f"{args.customers} customer budgets + 12 feature budgets + 1 organization budget; evaluation every "
                  f"{args.interval:g} s; {args.rate:g} checks/s for {args.seconds:g} s over {args.connections} "
                  "connections")  # fmt: skip
            started, cpu_before = time.perf_counter(), cpu_s(server.pid)
            latencies, late, outcomes = asyncio.run(load(http_port, args))
            elapsed, server_cpu = time.perf_counter() - started, cpu_s(server.pid) - cpu_before
            # The same load on /healthz (no token, no work): what the HTTP stack alone costs on this machine now.
            base_cpu = cpu_s(server.pid)
            baseline, _, _ = asyncio.run(load(http_port, args, path="/healthz"))
            base_cpu = cpu_s(server.pid) - base_cpu
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"  {len(latencies):,} checks in {elapsed:,.1f} s ({len(latencies) / elapsed:,.0f}/s): "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())))  # fmt: skip
    print(f"  latency: p50 {ms(statistics.median(latencies))}, p90 {ms(q[89])}, p99 {ms(q[98])}, "
          f"max {ms(max(latencies))}")  # fmt: skip
    bq = statistics.quantiles(baseline, n=100, method="inclusive")
    print(f"  /healthz at the same rate, after: p50 {ms(statistics.median(baseline))}, p90 {ms(bq[89])}, "
          f"p99 {ms(bq[98])}, max {ms(max(baseline))}; "
          f"server CPU {base_cpu / len(baseline) * 1e6:,.0f} µs per request")  # fmt: skip
    lq = statistics.quantiles(late, n=100, method="inclusive")
    print(f"  server CPU: {server_cpu:,.2f} s in all, {server_cpu / len(latencies) * 1e6:,.0f} µs per check "
          f"(evaluation rounds included)")  # fmt: skip
    print(f"  client send lag behind schedule: p50 {ms(statistics.median(late))}, p99 {ms(lq[98])}")
    print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
