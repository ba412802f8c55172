"""What every command shares: the settings, the one console pair, user-facing errors, and a database session.

A command never shows a traceback for otel-margin's own errors: ``user_errors`` prints one red line and
exits 1 (2 for bad configuration, 130 for Ctrl-C). Database errors become the store's own errors through
``storage.errors.db_errors``, so they read the same in every command.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from otel_margin_backend import logs
from otel_margin_backend.pipeline.errors import OtelMarginError
from otel_margin_backend.settings import ENV_PREFIX, Settings, variable_name
from otel_margin_backend.storage.database import AsyncConn, Store, connect_async
from otel_margin_backend.storage.errors import db_errors

T = TypeVar("T")


def _flag_without_type(
    display: Callable[[typer.core.TyperOption, typer.Context], str | None],
) -> Callable[..., str | None]:
    def label(option: typer.core.TyperOption, ctx: typer.Context) -> str | None:
        return None if option.is_flag else display(option, ctx)

    return label


# typer 0.29's help labels every flag `<bool>` (--help included), as if it took a value; flags take none.
typer.core.TyperOption.display_type_rich = _flag_without_type(typer.core.TyperOption.display_type_rich)  # type: ignore[method-assign]

console = Console()
"""Standard output: tables and results."""
err = Console(stderr=True)
"""Standard error: errors, warnings and progress."""


def fail(message: str, *, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise.

    Args:
        message: What went wrong and what to do (plain text; markup is escaped).
        code: The exit status.

    Returns:
        The ``typer.Exit`` to raise.
    """
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn otel-margin's errors (and database errors) into one red line and exit 1; Ctrl-C into exit 130."""
    try:
        with db_errors():
            yield
    except OtelMarginError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def load_settings(*, quiet: bool = False) -> Settings:
    """Read the configuration, or exit with a message naming each bad variable.

    Args:
        quiet: For commands that run a backend only as a means (demo, replay): log warnings and errors only,
            unless the user chose a level with ``OTEL_MARGIN_LOG_LEVEL``.

    Returns:
        The settings.

    Raises:
        typer.Exit: a variable has a bad value (exit 2).
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        for problem in exc.errors():
            name = variable_name(problem["loc"])
            err.print(f"[bold red]error:[/] {name}: {escape(problem['msg'])}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    level = "WARNING" if quiet and ENV_PREFIX + "LOG_LEVEL" not in os.environ else settings.logs.level
    logs.configure(level, settings.logs.format)
    return settings


@contextmanager
def session(settings: Settings | None = None) -> Iterator[Store]:
    """The store of the configured (or embedded) database, with errors as one red line.

    Args:
        settings: The settings; default: ``load_settings()``.

    Yields:
        The open store; leaving stops an embedded server this process started.
    """
    settings = settings or load_settings()
    with user_errors(), Store(settings.storage) as store, db_errors(target=store.target):
        yield store


def run_async(work: Callable[[AsyncConn], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run ``work`` on one async connection to the configured database, with errors as one red line.

    Args:
        work: What to do with the connection.
        settings: The settings; default: ``load_settings()``.

    Returns:
        What ``work`` returned.
    """

    async def go(store: Store) -> T:
        async with await connect_async(store.url, timeout_s=store.config.connect_timeout_s) as conn:
            return await work(conn)

    with session(settings) as store:
        return asyncio.run(go(store))
