"""The ``otel-margin`` command.

Every command turns otel-margin's own errors into one red line and a non-zero exit: users see what
went wrong and what to check, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from otel_margin_backend import __version__, logs
from otel_margin_backend.pipeline.errors import OtelMarginError
from otel_margin_backend.settings import ENV_PREFIX, Settings

app = typer.Typer(
    name="otel-margin",
    help="Per-customer AI margin from OpenTelemetry GenAI spans.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except OtelMarginError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def load_settings() -> Settings:
    """Read the configuration, or exit with a message naming each bad variable."""
    try:
        settings = Settings()
    except ValidationError as exc:
        for problem in exc.errors():
            name = ENV_PREFIX + "_".join(str(p) for p in problem["loc"]).upper()
            err.print(f"[bold red]error:[/] {name}: {problem['msg']}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    logs.configure(settings.log_level, settings.log_format)
    return settings


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def migrate() -> None:
    """Apply pending database migrations (safe to run from several processes at once)."""
    from otel_margin_backend.storage.database import Store
    from otel_margin_backend.storage.migrator import migrate as run_migrations

    settings = load_settings()
    with _user_errors(), Store(settings) as store, store.connection() as conn:
        password = settings.reader_password.get_secret_value() if settings.reader_password else None
        applied = run_migrations(conn, reader_role=settings.reader_role, reader_password=password)
        target = store.target
    table = Table("version", "migration", "applied at", "this run", title=f"Migrations on {target}")
    for m in applied:
        table.add_row(
            f"{m.version:04d}",
            m.name,
            m.applied_at.isoformat(timespec="seconds"),
            "[green]applied[/]" if m.newly_applied else "",
        )
    console.print(table)


@app.command()
def serve() -> None:
    """Run the backend: migrate, then serve health checks (and receivers) until interrupted."""
    from otel_margin_backend.service import serve as run_service

    settings = load_settings()
    with _user_errors():
        run_service(settings)


@app.command()
def doctor() -> None:
    """Show the database, its TimescaleDB edition, migrations and the effective configuration."""
    from otel_margin_backend.storage.database import Store, server_info
    from otel_margin_backend.storage.migrator import available, pending

    settings = load_settings()
    checks = Table("check", "result", title="otel-margin doctor", show_lines=False)
    ok = True
    with _user_errors(), Store(settings) as store:
        checks.add_row("database", store.target)
        try:
            with store.connection() as conn:
                info = server_info(conn)
                todo = pending(conn)
        except OtelMarginError as exc:
            checks.add_row("connection", f"[red]{exc}[/]")
            ok = False
        else:
            checks.add_row("connection", "[green]ok[/]")
            checks.add_row("PostgreSQL", info.server_version)
            ts = info.edition if info.timescaledb_version else "[yellow]not installed[/] (plain PostgreSQL works)"
            checks.add_row("TimescaleDB", ts)
            shipped = len(available())
            state = "[green]up to date[/]" if not todo else f"[yellow]{len(todo)} pending[/]: run otel-margin migrate"
            checks.add_row("migrations", f"{shipped - len(todo)}/{shipped} applied, {state}")
    console.print(checks)
    cfg = Table("variable", "value", title="Effective configuration (secrets masked)")
    for name, value in settings.effective().items():
        cfg.add_row(name, value)
    console.print(cfg)
    if not ok:
        raise typer.Exit(1)


_DURATION = re.compile(r"^(\d+)([hdw])$")


def parse_age(text: str) -> timedelta:
    """``400d``, ``12w`` or ``36h`` as a timedelta."""
    match = _DURATION.match(text.strip())
    if not match or int(match[1]) <= 0:
        raise typer.BadParameter(f"{text!r} is not an age; use a positive number with h, d or w, e.g. 400d")
    unit = {"h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: int(match[1])})


@app.command()
def retention(
    older_than: Annotated[str, typer.Option("--older-than", help="Drop raw usage older than this, e.g. 400d.")],
) -> None:
    """Delete raw usage events older than a cutoff (hourly rollups are kept)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from otel_margin_backend.storage.database import Store
    from otel_margin_backend.storage.retention import apply_retention

    age = parse_age(older_than)
    settings = load_settings()
    cutoff = datetime.now(UTC) - age
    with (
        _user_errors(),
        Store(settings) as store,
        store.connection() as conn,
        Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True) as progress,
    ):
        task = progress.add_task(f"removing usage before {cutoff:%Y-%m-%d %H:%M} UTC")
        result = apply_retention(
            conn, cutoff, on_progress=lambda n: progress.update(task, description=f"deleted {n:,} rows")
        )
    if result.method == "drop_chunks":
        console.print(
            f"Dropped {result.chunks_dropped} chunk(s) of usage_events older than {cutoff:%Y-%m-%d} "
            "(TimescaleDB drop_chunks)."
        )
    else:
        console.print(f"Deleted {result.rows_deleted:,} usage_events rows older than {cutoff:%Y-%m-%d}.")
