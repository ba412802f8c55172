"""``otel-margin grafana push``: install the datasource, folder, dashboards and alert rules into a Grafana.

Mounted on the main command by ``app.add_typer(grafana_app, name="grafana")``. The datasource's database comes
from the backend's configuration (``OTEL_MARGIN_DATABASE_URL`` for host, port and name; ``OTEL_MARGIN_READER_ROLE``
and ``OTEL_MARGIN_READER_PASSWORD`` for the login), each overridable by a flag, since Grafana may reach the
database under another name than the backend does. Errors are one red line and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qs, unquote, urlsplit

import typer
from rich.table import Table

from otel_margin_backend.cli.common import console, fail, load_settings
from otel_margin_backend.grafana.push import (
    DEFAULT_FOLDER,
    Assets,
    DatasourceSettings,
    GrafanaError,
    Step,
    apply,
    connect,
    default_assets_dir,
    plan,
    require_client,
)

if TYPE_CHECKING:
    from otel_margin_backend.settings import Settings

grafana_app = typer.Typer(
    name="grafana",
    help="Grafana: install otel-margin's datasource, dashboards and alert rules into a Grafana you run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_STYLES = {"create": "green", "update": "yellow", "unchanged": "dim", "skip": "magenta"}


@grafana_app.callback()
def grafana() -> None:
    """Grafana: install otel-margin's datasource, dashboards and alert rules into a Grafana you run."""


def datasource_settings(
    settings: Settings,
    *,
    host: str | None,
    port: int | None,
    name: str | None,
    user: str | None,
    password: str | None,
    sslmode: str | None,
    timescaledb: bool,
) -> DatasourceSettings:
    """The datasource from the flags, falling back to the backend's configuration.

    Raises:
        GrafanaError: the host, database name or password is known from neither.
    """
    database_url = settings.storage.database_url
    url = urlsplit(database_url.get_secret_value()) if database_url else None
    host = host or (url.hostname if url else None)
    name = name or (unquote(url.path.lstrip("/")) if url and url.path.strip("/") else None)
    if not host or not name:
        raise GrafanaError("the datasource needs the database's host and name: set OTEL_MARGIN_DATABASE_URL or give "
                           "--db-host and --db-name (as Grafana reaches the database)")  # fmt: skip
    if password is None and settings.storage.reader_password is not None:
        password = settings.storage.reader_password.get_secret_value()
    if not password:
        raise GrafanaError(
            f"the read-only role {user or settings.storage.reader_role} has no password, so Grafana could not log in: "
            "set OTEL_MARGIN_READER_PASSWORD (as for `otel-margin serve`) or give --db-password"
        )
    url_sslmode = parse_qs(url.query).get("sslmode", [None])[0] if url else None
    return DatasourceSettings(
        host=host,
        port=port or (url.port if url and url.port else 5432),
        database=name,
        user=user or settings.storage.reader_role,
        password=password,
        sslmode=sslmode or url_sslmode or "require",
        timescaledb=timescaledb,
    )


def plan_table(steps: list[Step], *, title: str) -> Table:
    """The steps of a push as a table: what will be (or was) created, updated, left or skipped."""
    table = Table(title=title, title_justify="left")
    table.add_column("object", no_wrap=True)
    table.add_column("uid", no_wrap=True, min_width=max((len(step.uid) for step in steps), default=3))
    table.add_column("action", no_wrap=True)
    table.add_column("note")
    for step in steps:
        table.add_row(step.kind, step.uid, f"[{_STYLES[step.action]}]{step.action}[/]", step.note)
    return table


@grafana_app.command()
def push(
    url: Annotated[str, typer.Option(envvar="OTEL_MARGIN_GRAFANA_URL", help="Grafana's URL, e.g. http://grafana:3000.",
                                     show_default=False)],
    token: Annotated[str, typer.Option(envvar="OTEL_MARGIN_GRAFANA_TOKEN", show_default=False,
                                       help="A service-account token with Editor rights (or an admin's API key).")],
    folder: Annotated[str, typer.Option(help="Folder for the dashboards and alert rules.")] = DEFAULT_FOLDER,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Write every object, even unchanged ones (e.g. after "
                                                        "rotating the reader password).")] = False,
    dashboards: Annotated[Path | None, typer.Option(envvar="OTEL_MARGIN_DASHBOARDS_DIR", file_okay=False,
                                                    help="The dashboards/ folder to push (default: the one "
                                                         "shipped with otel-margin).")] = None,
    db_host: Annotated[str | None, typer.Option(help="Database host as Grafana reaches it. (default: from "
                                                     "OTEL_MARGIN_DATABASE_URL)")] = None,
    db_port: Annotated[int | None, typer.Option(min=1, max=65535, help="Database port. (default: from "
                                                                     "OTEL_MARGIN_DATABASE_URL, else 5432)")] = None,
    db_name: Annotated[str | None, typer.Option(help="Database name. (default: from "
                                                     "OTEL_MARGIN_DATABASE_URL)")] = None,
    db_user: Annotated[str | None, typer.Option(help="Login role. (default: OTEL_MARGIN_READER_ROLE)")] = None,
    db_password: Annotated[str | None, typer.Option(help="The role's password. (default: "
                                                         "OTEL_MARGIN_READER_PASSWORD)")] = None,
    db_sslmode: Annotated[str | None, typer.Option(help="disable, require, verify-ca or verify-full. (default: the "
                                                        "database URL's sslmode, else require)")] = None,
    timescaledb: Annotated[bool, typer.Option(help="The database has TimescaleDB ($__timeGroup uses "
                                                   "time_bucket); --no-timescaledb for plain PostgreSQL.")] = True,
) -> None:  # fmt: skip
    """Install otel-margin's datasource, folder, dashboards and alert rules into an existing Grafana.

    Idempotent: objects are matched by uid and written only when they differ.
    """
    if db_sslmode is not None and db_sslmode not in ("disable", "require", "verify-ca", "verify-full"):
        raise typer.BadParameter(f"{db_sslmode!r}: use disable, require, verify-ca or verify-full",
                                 param_hint="--db-sslmode")  # fmt: skip
    settings = load_settings()
    try:
        require_client()
        root = dashboards or default_assets_dir()
        if root is None:
            raise GrafanaError("otel-margin's dashboards are not installed with this package: give --dashboards, "
                               "the repository's dashboards/ folder")  # fmt: skip
        assets = Assets.load(root)
        datasource = datasource_settings(settings, host=db_host, port=db_port, name=db_name, user=db_user,
                                         password=db_password, sslmode=db_sslmode, timescaledb=timescaledb)  # fmt: skip
        api = connect(url, token)
        steps = plan(api, url, assets=assets, datasource=datasource, folder=folder, force=force)
        if dry_run:
            console.print(plan_table(steps, title=f"Plan for {url} (dry run: nothing written)"))
            return
        apply(steps)
    except GrafanaError as exc:
        raise fail(str(exc)) from None
    console.print(plan_table(steps, title=f"Pushed to {url}"))
