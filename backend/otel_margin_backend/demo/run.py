"""``otel-margin demo``: a month of a sample app's AI usage through the real pipeline, then the P&L.

Local (default): starts the backend on the configured database (the embedded one unless a URL is set), drives
the sample app's calls through it, books the subscriptions as revenue and applies budgets over its REST API,
prints the P&L, the budget alerts and the simulator's suggestions, and keeps serving.

Against a running deployment (``--backend-url``, e.g. in docker compose): the same, with spans sent to
``--otlp-endpoint`` (a Collector, say) and nothing started locally.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from otel_margin_backend.demo import scenario
from otel_margin_backend.demo.bill import book_bill
from otel_margin_backend.demo.extras import check_installed, instrumentation
from otel_margin_backend.demo.ids import NamedCallIds
from otel_margin_backend.demo.openai_stub import ContentUsage, OpenAIStub
from otel_margin_backend.demo.reset import ENVIRONMENT, reset
from otel_margin_backend.pipeline.errors import PermanentError, RetryableError
from otel_margin_backend.pipeline.periods import hour_end
from otel_margin_backend.service.backend import BackgroundBackend, prepare
from otel_margin_backend.service.tokens import resolve_token
from otel_margin_backend.settings import Settings
from otel_margin_backend.storage.database import Store


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``otel-margin demo`` was asked for on the command line."""

    days: int = 30
    backend_url: str | None = None
    """A running backend's HTTP URL; None starts one here."""
    otlp_endpoint: str | None = None
    """Where spans go (OTLP/HTTP); default: the backend."""
    token: str | None = None
    serve: bool = True
    """Keep the local backend serving after the demo (until Ctrl-C)."""
    reset: bool = False
    """Remove the demo's earlier data first (demo/reset.py)."""


def window(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The simulated stretch: ``days`` whole UTC days back from midnight, to the end of the current hour.

    The P&L's range rule (pipeline/periods.py): ``pnl --from <first day> --to <today>`` is this range. Only the
    calls due by now are made.
    """
    now = now or datetime.now(UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    return start, hour_end(now)


def run_demo(settings: Settings, options: DemoOptions, console: Console) -> None:
    """Send the demo month through a backend, book its revenue and budgets, and print the report."""
    check_installed(embedded_database=settings.storage.embedded)
    with Store(settings.storage) as store:
        prepare(store, settings)
        if options.reset:
            removed = reset(store)
            console.print(f"Removed the demo's earlier data: {removed.calls:,} calls, "
                          f"{removed.revenue_entries} revenue entries, {removed.budgets} budgets.")  # fmt: skip
        local = options.backend_url is None
        backend = BackgroundBackend(settings, store.url).start() if local else None
        try:
            api = backend.http_url if backend is not None else str(options.backend_url).rstrip("/")
            token = resolve_token(settings) if local else (options.token or _configured_token(settings))
            start, end = window(options.days)
            console.print(f"[bold]otel-margin demo[/]: {options.days} days of a sample app's AI calls "
                          f"({start:%Y-%m-%d} to {end:%Y-%m-%d}), through {api}")  # fmt: skip
            _send_traffic(options.otlp_endpoint or api, token, start, end, console)
            _book_revenue(api, token, start, end)
            _apply_budgets(api, token, end)
            with store.connection() as conn:
                book_bill(conn, ENVIRONMENT, start, end)
            from otel_margin_backend.demo.report import print_report

            print_report(store, settings.pricing, settings.simulator, start, end, console)
            if backend is not None and options.serve:
                _serve_until_interrupted(backend, settings, console)
        finally:
            if backend is not None:
                backend.stop()


def _configured_token(settings: Settings) -> str | None:
    token = settings.receivers.ingest_token
    return token.get_secret_value() if token else None


def _send_traffic(endpoint: str, token: str | None, start: datetime, end: datetime, console: Console) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    import otel_margin
    from otel_margin_backend.demo import traffic
    from otel_margin_backend.demo.timeshift import ShiftedExporter, ShiftOnStart

    headers = {"authorization": f"Bearer {token}"} if token else {}
    exporter = ShiftedExporter(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces", headers=headers))
    provider = TracerProvider(
        resource=Resource.create({"service.name": "demo-app", "deployment.environment.name": ENVIRONMENT}),
        id_generator=NamedCallIds(),  # the same call, the same span: a rerun is a redelivery
    )
    provider.add_span_processor(ShiftOnStart())
    chosen = instrumentation()
    otel_margin.instrument(tracer_provider=provider, exporter=exporter, instrumentations=[chosen] if chosen else [])
    calls = traffic.planned_calls(scenario.WORKLOADS, start, min(end, datetime.now(UTC)))  # not the future
    with OpenAIStub(ContentUsage(), record=False) as stub, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("model calls", total=len(calls))
        traffic.run(stub.base_url, calls, on_done=lambda: progress.advance(task))
    if not provider.force_flush(60_000):
        raise RetryableError(f"not every span reached {endpoint} within a minute")
    console.print(f"Sent {len(calls):,} model calls as OpenTelemetry spans (openai client + {chosen}).")


def _request(method: str, url: str, token: str | None, body: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, url, json=body, headers=headers, timeout=30)
    except httpx.TransportError as exc:
        raise RetryableError(f"cannot reach {url}: {exc}") from None
    if response.status_code >= 400:
        raise PermanentError(f"{method} {url} answered {response.status_code}: {response.text[:300]}")
    return response


def _months(start: datetime, end: datetime) -> list[datetime]:
    months, month = [], start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while month < end:
        months.append(month)
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return months


def _book_revenue(api: str, token: str | None, start: datetime, end: datetime) -> None:
    entries = []
    for month in _months(start, end):
        last = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        for customer, amount in scenario.MONTHLY_REVENUE.items():
            entries.append({
                "external_id": f"demo-{customer}-{month:%Y-%m}", "customer_id": customer, "amount": amount,
                "currency": "USD", "period_start": f"{month:%Y-%m-%d}", "period_end": f"{last:%Y-%m-%d}",
            })  # fmt: skip
    _request("POST", f"{api}/v1/revenue", token, entries)


def _apply_budgets(api: str, token: str | None, now: datetime) -> None:
    month = f"{now:%Y-%m}"
    by_feature = _request("GET", f"{api}/v1/pnl?month={month}&by=feature", token, None).json()["rows"]
    images = next((r["cost"] for r in by_feature if r["key"] == "image_generation"), "0")
    for budget in (*scenario.BUDGETS, scenario.image_budget(images)):
        _request("PUT", f"{api}/v1/budgets/{budget['name']}", token, budget)


def _serve_until_interrupted(backend: BackgroundBackend, settings: Settings, console: Console) -> None:
    running = backend.running
    receivers = settings.receivers
    token_hint = (
        "OTEL_MARGIN_INGEST_TOKEN" if receivers.ingest_token else f"{settings.storage.data_dir / 'ingest-token'}"
    )
    http = f"http://{_reachable(receivers.http_host)}:{running.http_port}"
    console.print(
        f"\nThe backend keeps serving: OTLP/HTTP and REST on {http}, "
        f"OTLP/gRPC on {receivers.grpc_host}:{running.grpc_port} (admin token: {token_hint}).\n"
        f"In another terminal: {escape(cli_hint())}otel-margin pnl --by feature   ·   curl {http}/readyz\n"
        "Ctrl-C stops it.",
        soft_wrap=True,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _reachable(host: str) -> str:
    # A wildcard bind is reached on the loopback address from this machine.
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def cli_hint() -> str:
    """What to type before ``otel-margin`` in another terminal: nothing when it is on the PATH, else activate.

    Returns:
        ``""`` or ``"source <venv>/bin/activate, then "``.
    """
    command = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which("otel-margin")
    if found is not None and (command is None or Path(found).resolve() == command):
        return ""
    venv = Path(sys.prefix)
    try:
        shown = venv.relative_to(Path.cwd())
    except ValueError:
        shown = venv
    return f"source {shown}/bin/activate, then "
