"""``otel-margin serve [--workers N]``: one backend in this process, or N worker processes sharing the ports.

One Python process receives at most one core's worth of spans (decoding, normalizing and pricing are CPU-bound
under the GIL). With N workers the parent opens the database (starting the embedded one if none is configured)
and migrates it once, makes the default token once, then starts N processes (``spawn``: a clean interpreter, no
inherited gRPC state) that each run a whole ``Backend`` with its own pipeline, batcher and connection pool and bind
both ports with ``SO_REUSEPORT`` (``service/ports.py``). Worker 0, the primary, also runs the schedules (price
sync, budget evaluation and webhooks, simulator runs, bill imports); the others follow the price versions it
activates and refresh the budget states their checks answer from.

The parent only supervises: SIGTERM or SIGINT is passed on as SIGTERM to every worker, each drains as one
``serve`` does (its receivers stop taking requests, its batcher writes what it holds: nothing acknowledged is
lost), and the parent waits for all of them. A
worker that exits on its own (a crash, an error at start) stops the others and ``serve`` exits 1, so a supervisor
(systemd, Kubernetes, Docker's restart policy) restarts the whole set rather than serving with fewer workers.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue

from otel_margin_backend import logs
from otel_margin_backend.pipeline.errors import OtelMarginError
from otel_margin_backend.service.backend import Backend, WorkerRole, prepare, run
from otel_margin_backend.service.ports import bind_shared, check_free
from otel_margin_backend.service.tokens import resolve_token
from otel_margin_backend.settings import Settings
from otel_margin_backend.storage.database import Store

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 60.0
"""How long the parent waits for the workers to drain after SIGTERM before it kills them."""
POLL_S = 0.2

Event = tuple[int, str, dict[str, int]]
"""What a worker tells its parent: its index, ``ready`` or ``stopped``, and its pid or its final counters."""


def serve(settings: Settings, *, workers: int | None = None) -> None:
    """Run ``otel-margin serve``: migrate, then serve until SIGINT or SIGTERM.

    Args:
        settings: The settings.
        workers: Worker processes; default: ``OTEL_MARGIN_WORKERS`` or its rule (``ReceiversConfig.worker_count``).

    Raises:
        OtelMarginError: a port is in use, or a worker stopped on its own (every worker was stopped then).
    """
    count = workers if workers is not None else settings.receivers.worker_count
    with Store(settings.storage) as store:
        prepare(store, settings)
        if count == 1:
            asyncio.run(run(store, settings))
        else:
            supervise(store.url, settings, count)


def supervise(database_url: str, settings: Settings, count: int) -> None:
    """Start ``count`` workers on the shared ports, pass SIGTERM/SIGINT on, and wait until they have all drained.

    Raises:
        OtelMarginError: a port is in use, or a worker exited on its own.
    """
    receivers = settings.receivers
    check_free(receivers.grpc_host, receivers.grpc_port, setting="OTEL_MARGIN_GRPC_PORT")
    check_free(receivers.http_host, receivers.http_port, setting="OTEL_MARGIN_HTTP_PORT")
    # Held until every worker listens: the ports stay ours, and port 0 becomes one port every worker binds.
    holds: list[socket.socket] = []
    try:
        holds.append(bind_shared(receivers.grpc_host, receivers.grpc_port))
        holds.append(bind_shared(receivers.http_host, receivers.http_port))
    except OSError as exc:  # e.g. a port below 1024 without the privilege, or an address not on this host
        _release(holds)
        raise OtelMarginError(
            f"cannot bind the receivers' ports ({receivers.grpc_host}:{receivers.grpc_port}, "
            f"{receivers.http_host}:{receivers.http_port}): {exc.strerror or exc}; check OTEL_MARGIN_GRPC_HOST/_PORT "
            "and OTEL_MARGIN_HTTP_HOST/_PORT"
        ) from None
    grpc_port, http_port = (int(sock.getsockname()[1]) for sock in holds)
    ports = receivers.model_copy(update={"grpc_port": grpc_port, "http_port": http_port})
    settings = settings.model_copy(update={"receivers": ports})
    resolve_token(settings)  # a token made on first start is made once, here; the workers read its file
    context = multiprocessing.get_context("spawn")
    events: Queue[Event] = context.Queue()
    procs = [
        context.Process(
            target=_worker, args=(settings, database_url, WorkerRole(i, count), events), name=f"otel-margin-worker-{i}"
        )
        for i in range(count)
    ]
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    ready: dict[int, int] = {}
    final: dict[int, dict[str, int]] = {}
    failed: SpawnProcess | None = None
    try:
        for proc in procs:
            proc.start()
        while not stop.is_set():
            _drain(events, ready, final)
            if len(ready) == count and holds:
                _release(holds)
                log.info("serving", extra={"workers": count, "pids": [ready[i] for i in range(count)],
                                           "http": f"{receivers.http_host}:{http_port}",
                                           "grpc": f"{receivers.grpc_host}:{grpc_port}"})  # fmt: skip
            failed = next((proc for proc in procs if proc.exitcode is not None), None)
            if failed is not None:
                break
            wait([proc.sentinel for proc in procs], timeout=POLL_S)
    finally:
        _stop_all(procs)
        _drain(events, ready, final)
        _release(holds)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    totals: dict[str, int] = {}
    for counters in final.values():
        for name, value in counters.items():
            totals[name] = totals.get(name, 0) + value
    log.info("stopped", extra={"workers": count, **totals})
    if failed is not None:
        index = procs.index(failed)
        when = "" if index in ready else " before it was ready"
        raise OtelMarginError(
            f"worker {index} (pid {failed.pid}) exited with code {failed.exitcode}{when}, so every worker was "
            "stopped: see its log above"
        )


def _drain(events: Queue[Event], ready: dict[int, int], final: dict[int, dict[str, int]]) -> None:
    while not events.empty():
        try:
            index, kind, body = events.get_nowait()
        except Exception:  # queue.Empty: empty() is only a hint
            return
        if kind == "ready":
            ready[index] = body["pid"]
        else:
            final[index] = body


def _release(holds: list[socket.socket]) -> None:
    for sock in holds:
        sock.close()
    holds.clear()


def _stop_all(procs: list[SpawnProcess]) -> None:
    """SIGTERM to every worker still running, then wait for each to drain (killing one that takes too long)."""
    for proc in procs:
        if proc.pid is not None and proc.exitcode is None:
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    for index, proc in enumerate(procs):
        if proc.pid is None:
            continue
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.exitcode is None:
            log.error("worker did not stop in time; killed", extra={"worker": index, "timeout_s": DRAIN_TIMEOUT_S})
            proc.kill()
            proc.join()


class _WorkerTag(logging.Filter):
    """Puts the worker's index on every record, so each line says which process wrote it."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.index
        return True


def _worker(settings: Settings, database_url: str, role: WorkerRole, events: Queue[Event]) -> None:
    """A worker process's body: one ``Backend`` until SIGTERM, then its final counters to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # until serving: the parent's SIGTERM is what stops a worker
    logs.configure(settings.logs.level, settings.logs.format)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_WorkerTag(role.index))
    running: list[Backend] = []

    def ready(backend: Backend) -> None:
        running.append(backend)
        events.put((role.index, "ready", {"pid": os.getpid()}))

    try:
        asyncio.run(run(database_url, settings, role=role, on_ready=ready))
    except (OtelMarginError, OSError) as exc:  # a clear reason: one line, as the command prints its own
        log.error("worker stopped: %s", exc)
        sys.exit(1)
    except Exception:
        log.exception("worker failed")
        sys.exit(1)
    if running:
        events.put((role.index, "stopped", running[0].pipeline.stats.as_dict()))
    events.close()
    events.join_thread()
