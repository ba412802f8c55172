"""``otel-margin serve``: the long-running backend.

Start order, downstream first: database (embedded if none is configured) -> migrations ->
connection pool -> writer and batcher -> receivers (OTLP/gRPC, HTTP). Stop order is the reverse:
receivers stop taking requests, the batcher writes what it holds, then the pool closes, so
nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn
from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.bills.job import BillSyncJob
from otel_margin_backend.bills.reconcile import set_thresholds as set_bill_thresholds
from otel_margin_backend.bills.routes import routes as bill_routes
from otel_margin_backend.budgets.check import BudgetStates
from otel_margin_backend.budgets.evaluation import run_evaluations
from otel_margin_backend.budgets.routes import routes as budget_routes
from otel_margin_backend.budgets.webhook import outbox_depth
from otel_margin_backend.ingest import latency as ingest_latency
from otel_margin_backend.ingest.batcher import Batcher
from otel_margin_backend.ingest.pipeline import IngestPipeline
from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.normalize import Normalizer
from otel_margin_backend.pricedata.sync_job import PriceSyncJob, stored_last_success
from otel_margin_backend.pricing import CurrentPriceBook, build_book
from otel_margin_backend.pricing import create as create_pricer
from otel_margin_backend.receivers import otlp_discard, otlp_grpc, otlp_http, rest_usage
from otel_margin_backend.receivers.grpc_health import GrpcHealth
from otel_margin_backend.revenue import prepare as prepare_revenue
from otel_margin_backend.revenue.routes import routes as revenue_routes
from otel_margin_backend.revenue.stripe_api import create_api as create_stripe_api
from otel_margin_backend.service.app import create_app
from otel_margin_backend.service.ports import bind_shared
from otel_margin_backend.service.telemetry import Telemetry
from otel_margin_backend.service.tokens import token_check
from otel_margin_backend.settings import Settings
from otel_margin_backend.simulator import create as create_simulator
from otel_margin_backend.simulator import routes as simulator_routes
from otel_margin_backend.simulator.job import Scheduler as SimulatorSchedule
from otel_margin_backend.storage.database import AsyncConn, Store, server_info
from otel_margin_backend.storage.migrator import AppliedMigration, migrate
from otel_margin_backend.storage.writer import UsageWriter

log = logging.getLogger(__name__)

GRPC_GRACE_S = 5.0
T = TypeVar("T")


def prepare(store: Store, settings: Settings) -> list[AppliedMigration]:
    """Migrate the database, put the revenue settings in it, and log what it is; return every migration."""
    config = store.config
    password = config.reader_password.get_secret_value() if config.reader_password else None
    with store.connection() as conn:
        applied = migrate(conn, reader_role=config.reader_role, reader_password=password)
        prepare_revenue(conn, settings.revenue)
        set_bill_thresholds(conn, settings.bills.gap_alert_percent, settings.bills.coverage_floor_percent)
        info = server_info(conn)
    log.info(
        "database ready",
        extra={
            "target": store.target,
            "edition": info.edition,
            "migrations": len(applied),
            "newly_applied": sum(m.newly_applied for m in applied),
        },
    )
    return applied


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``run`` owns SIGINT/SIGTERM for every server it starts."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True, slots=True)
class WorkerRole:
    """Which of ``serve --workers N``'s processes a backend is (one process: the only worker, the primary)."""

    index: int = 0
    """0 to ``count - 1``; worker 0 is the primary."""
    count: int = 1
    """How many workers share the ports."""

    @property
    def primary(self) -> bool:
        """The worker that runs the schedules: price sync, budgets and their webhooks, simulator runs, bills."""
        return self.index == 0

    @property
    def shared_ports(self) -> bool:
        """True when other workers bind the same ports (``SO_REUSEPORT``)."""
        return self.count > 1


class Backend:
    """Every long-lived part of ``serve``, started downstream-first and stopped upstream-first.

    With ``role`` a worker of several, it binds its ports shared (``SO_REUSEPORT``) and, unless it is the primary,
    runs no schedule: it follows the price versions the primary activates (docs/deploy.md, "Worker processes").
    """

    def __init__(self, settings: Settings, database_url: str, *, role: WorkerRole | None = None) -> None:
        self.settings = settings
        self.role = role = role or WorkerRole()
        self.pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
            database_url,
            min_size=1,
            max_size=settings.storage.pool_max,
            open=False,
            kwargs={"autocommit": True},
            timeout=settings.storage.connect_timeout_s,
            # A connection broken by a database restart is replaced instead of failing a batch.
            check=AsyncConnectionPool.check_connection,
        )
        self.telemetry = Telemetry(
            instance=f"{socket.gethostname()}/worker-{role.index}" if role.shared_ports else None
        )
        metrics = self.metrics = self.telemetry.metrics
        pricing = settings.pricing
        # The price-context attributes pick a price: normalization copies them onto events, the writer keeps them.
        writer = UsageWriter(self.pool, stored_attributes=frozenset(pricing.span_attributes), metrics=metrics)
        self.latency = ingest_latency.LatencyTally()
        self.batcher = Batcher(writer.write, settings.ingest, metrics=metrics, latency=self.latency)
        pricer = create_pricer(pricing)
        normalizer = Normalizer(settings.normalize, context_attributes=pricing.context_attributes)
        self.pipeline = IngestPipeline(normalizer, pricer, self.batcher, metrics=metrics)
        # The simulator prices with the same live book, so a synced price version applies to its next run.
        live = pricer if isinstance(pricer, CurrentPriceBook) else build_book(pricing)
        # Puts the stored price version in force at start, then syncs daily and swaps new versions in.
        self.price_sync = (
            PriceSyncJob(
                pricer,
                database_url,
                pricing,
                connect_timeout_s=settings.storage.connect_timeout_s,
                metrics=metrics,
                sync=role.primary,
            )
            if isinstance(pricer, CurrentPriceBook)
            else None
        )
        self.simulator = create_simulator(settings.simulator, live, QualityTable.load(pricing.quality_file))
        self.simulator_schedule = SimulatorSchedule(self.pool, self.simulator)
        # Imports the providers' bills daily (only those whose admin key is set).
        self.bill_sync = BillSyncJob(database_url, settings.bills, connect_timeout_s=settings.storage.connect_timeout_s)
        tokens = token_check(settings)
        # What /v1/budgets/check answers from: refreshed by every evaluation round and every REST change.
        self.budget_states = BudgetStates(settings.budgets.evaluate_interval_s)
        revenue = settings.revenue
        self.stripe_api = create_stripe_api(revenue)  # None without an API key
        receivers = settings.receivers
        self.discarded = otlp_discard.DiscardStats()
        self.grpc, self.grpc_port = otlp_grpc.create_server(
            self.pipeline,
            tokens,
            host=receivers.grpc_host,
            port=receivers.grpc_port,
            max_message_bytes=receivers.grpc_max_message_bytes,
            handlers=otlp_discard.grpc_handlers(tokens, self.discarded),
            metrics=metrics,
            reuse_port=role.shared_ports,
        )
        self.grpc_health = GrpcHealth()
        self.grpc_health.add_to(self.grpc)
        outbox: list[float] = []
        metrics.watch("outbox_depth", lambda: outbox[-1] if outbox else None)

        async def read_outbox() -> None:
            outbox[:] = [float(await outbox_depth(self.pool))]

        self.telemetry.before_scrape(read_outbox)
        price_sync = self.price_sync
        if price_sync is not None:

            async def read_price_sync() -> None:
                price_sync.saw_success(await stored_last_success(self.pool))

            self.telemetry.before_scrape(read_price_sync)
        body_limit = receivers.http_max_body_bytes
        app = create_app(
            self.pool,
            tokens,
            routes=[
                *otlp_http.routes(self.pipeline, tokens, max_body_bytes=body_limit, metrics=metrics),
                *otlp_discard.routes(tokens, self.discarded),
                *rest_usage.routes(
                    self.pipeline, tokens, max_body_bytes=body_limit, metrics=metrics, window=settings.normalize.window
                ),
                *budget_routes(self.pool, tokens, states=self.budget_states),
                *revenue_routes(revenue, self.pool, tokens, api=self.stripe_api, metrics=metrics),
                *simulator_routes.routes(self.pool, self.simulator, tokens=tokens),
                *bill_routes(self.pool, tokens),
                *self.telemetry.routes(tokens),
            ],
            stats=self.pipeline.stats,
            discarded=self.discarded,
            actions=settings.actions,
            worker={"worker": role.index, "pid": os.getpid()},
        )
        self.http = _HttpServer(
            uvicorn.Config(
                app,
                host=settings.receivers.http_host,
                port=settings.receivers.http_port,
                log_config=None,
                access_log=False,
                lifespan="off",
            )
        )
        self._http_task: asyncio.Task[None] | None = None
        self._budgets_task: asyncio.Task[None] | None = None
        self._latency_task: asyncio.Task[None] | None = None

    @property
    def http_port(self) -> int:
        """The bound HTTP port (differs from the setting when that is 0)."""
        port: int = self.http.servers[0].sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Start every part, downstream first, and return once both servers listen."""
        await self.pool.open()
        if self.price_sync is not None:
            await self.price_sync.start()  # the stored price version is in force before the first span
        if self.role.primary:  # one worker runs the schedules, however many serve
            await self.simulator_schedule.start()
            await self.bill_sync.start()
        await self.batcher.start()
        self._latency_task = asyncio.create_task(ingest_latency.run_recorder(self.pool, self.latency), name="latency")
        budgets = self.settings.budgets
        first_round = asyncio.Event()
        # The primary evaluates (and sends the webhooks); another worker only reads the states, for its checks.
        primary = self.role.primary
        self._budgets_task = asyncio.create_task(
            run_evaluations(self.pool, budgets.evaluate_interval_s, webhook=budgets.webhook if primary else None,
                            metrics=self.metrics, states=self.budget_states, ready=first_round, evaluate=primary),
            name="budgets",
        )  # fmt: skip
        # Budget checks answer from the first round's state (503 until then): wait for it, but never for a
        # database that does not answer (the round then fails after the connect timeout and the next one retries).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first_round.wait(), timeout=self.settings.storage.connect_timeout_s + 5)
        await self.grpc_health.serving()
        await self.grpc.start()
        # Several workers: each listens on its own SO_REUSEPORT socket of the one port (service/ports.py).
        sockets: list[socket.socket] | None = None
        if self.role.shared_ports:
            receivers = self.settings.receivers
            sockets = [bind_shared(receivers.http_host, receivers.http_port)]
        self._http_task = asyncio.create_task(self.http.serve(sockets=sockets), name="http")
        while not self.http.started:
            if self._http_task.done():
                await self._http_task  # raises why the HTTP server could not start
                receivers = self.settings.receivers
                raise OSError(f"the HTTP server did not start on {receivers.http_host}:{receivers.http_port}")
            await asyncio.sleep(0.01)
        log.info(
            "serving",
            extra={"http": f"{self.settings.receivers.http_host}:{self.http_port}",
                   "grpc": f"{self.settings.receivers.grpc_host}:{self.grpc_port}"},
        )  # fmt: skip

    async def wait(self) -> None:
        """Until the HTTP server stops (``stop`` or a signal)."""
        if self._http_task is not None:
            await self._http_task

    async def stop(self) -> None:
        """Stop taking requests, write what is queued, close the pool. Safe to call twice."""
        if self.price_sync is not None:
            await self.price_sync.shutdown()
        await self.grpc_health.stopping()  # probes see NOT_SERVING before the port closes
        self.http.should_exit = True
        if self._http_task is not None:
            await self._http_task
            self._http_task = None
        await self.grpc.stop(GRPC_GRACE_S)
        if self._budgets_task is not None:
            # Cancelling lets a webhook POST in flight finish and be recorded (never sent twice after a restart).
            self._budgets_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._budgets_task
            self._budgets_task = None
        await self.batcher.shutdown()
        if self._latency_task is not None:
            self._latency_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._latency_task
            self._latency_task = None
            await ingest_latency.record(self.pool, self.latency)  # what the drained batcher stored last
        self.pipeline.close()
        await self.simulator_schedule.shutdown()
        await self.bill_sync.shutdown()
        await self.pool.close()
        if self.stripe_api is not None:
            self.stripe_api.close()
        self.telemetry.shutdown()


async def run(
    store: Store | str,
    settings: Settings,
    *,
    role: WorkerRole | None = None,
    on_ready: Callable[[Backend], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then drain and stop.

    Args:
        store: The open store, or its URL (a worker attaches to the database its parent opened).
        settings: The settings.
        role: Which worker this is; default: the only one.
        on_ready: Called once both servers listen (a worker tells its parent).
    """
    backend = Backend(settings, store if isinstance(store, str) else store.url, role=role)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(backend.http, "should_exit", True))
    try:
        await backend.start()
        if on_ready is not None:
            on_ready(backend)
        # What is loaded now (price data, model facts, modules) lives as long as the process: keep it out of the
        # cyclic collector's full passes, which otherwise scan all of it and stopped every thread for 200+ ms.
        gc.collect()
        gc.freeze()
        await backend.wait()
    finally:
        await backend.stop()
        log.info("stopped", extra=backend.pipeline.stats.as_dict())


class BackgroundBackend:
    """``Backend`` on an event loop of its own thread, for callers that are not async (the demo, tests).

    ``start`` returns once both servers listen; ``stop`` drains and joins.
    """

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.database_url = database_url
        self.backend: Backend | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="otel-margin-backend", daemon=True)

    def call(self, coro: Coroutine[Any, Any, T], *, timeout_s: float = 60) -> T:
        """Run ``coro`` on the backend's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout_s)

    def start(self) -> BackgroundBackend:
        """Start the backend on its own thread and return once it listens."""
        self._thread.start()

        async def make() -> Backend:
            backend = Backend(self.settings, self.database_url)
            await backend.start()
            return backend

        self.backend = self.call(make())
        return self

    @property
    def running(self) -> Backend:
        """The running backend; raises RuntimeError before ``start``."""
        if self.backend is None:
            raise RuntimeError("the backend is not running")
        return self.backend

    @property
    def http_port(self) -> int:
        """The HTTP port the backend listens on."""
        return self.running.http_port

    @property
    def grpc_port(self) -> int:
        """The OTLP/gRPC port the backend listens on."""
        return self.running.grpc_port

    @property
    def http_url(self) -> str:
        """The backend's base HTTP URL on loopback."""
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        """Drain and stop the backend, then the loop. Safe to call twice."""
        if self.backend is not None:
            self.call(self.backend.stop())
            self.backend = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()
