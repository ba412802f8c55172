"""The ``otel-margin`` command as a user runs it: a real process, real databases, real HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from otel_margin_backend.storage.migrator import available
from tests.support.pgcluster import free_port
from tests.support.stores import Server

COMMAND = [sys.executable, "-m", "otel_margin_backend"]


def otel_margin(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], env=_env(env), capture_output=True, text=True, timeout=timeout_s)


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_MARGIN_")}
    env.update({"OTEL_MARGIN_LOG_FORMAT": "console", "COLUMNS": "200"})
    env.update(extra or {})
    return env


@pytest.mark.parametrize("command", ["migrate", "serve", "doctor"])
def test_an_unreachable_database_is_one_clear_line(command: str) -> None:
    port = free_port()
    result = otel_margin(command, env={"OTEL_MARGIN_DATABASE_URL": f"postgresql://app:hunter2@127.0.0.1:{port}/margin"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "hunter2" not in result.stderr + result.stdout
    error_lines = [line for line in (result.stderr + result.stdout).splitlines() if "cannot connect" in line]
    assert len(error_lines) == 1
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}/margin" in error_lines[0]
    assert "Check that the server is running" in error_lines[0]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://x:pw@host:notaport/db", "the port is not a number"),
        ("mysql://x:pw@host/db", "not a PostgreSQL URL"),
    ],
)
def test_a_malformed_database_url_is_named(url: str, problem: str) -> None:
    result = otel_margin("migrate", env={"OTEL_MARGIN_DATABASE_URL": url})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and ":pw@" not in result.stderr
    assert result.stderr.strip() == (
        f"error: OTEL_MARGIN_DATABASE_URL: Value error, {problem}; expected postgresql://user:password@host:5432/dbname"
    )


def test_a_bad_setting_names_the_variable() -> None:
    result = otel_margin("migrate", env={"OTEL_MARGIN_HTTP_PORT": "eighty"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error: OTEL_MARGIN_HTTP_PORT: Input should be a valid integer" in result.stderr


def test_retention_rejects_a_bad_age() -> None:
    result = otel_margin("retention", "--older-than", "soon")
    assert result.returncode == 2
    assert "'soon' is not an age" in result.stderr


@pytest.fixture
def tsdb_url(timescale_server: Server) -> Iterator[str]:
    url, janitor = timescale_server.empty_database()
    yield url
    janitor.drop()


def test_migrate_then_doctor_on_timescaledb(tsdb_url: str) -> None:
    env = {"OTEL_MARGIN_DATABASE_URL": tsdb_url, "OTEL_MARGIN_READER_PASSWORD": "topsecret"}
    migrated = otel_margin("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert re.search(r"│ 0002\s+│ usage_events\s+│ [0-9T:+-]+ │ applied", migrated.stdout), migrated.stdout

    doctor = otel_margin("doctor", env=env)
    assert doctor.returncode == 0, doctor.stderr
    assert "TimescaleDB 2.19.3 (apache license)" in doctor.stdout
    shipped = len(available())
    assert f"{shipped}/{shipped} applied, up to date" in doctor.stdout
    assert "OTEL_MARGIN_READER_PASSWORD" in doctor.stdout and "topsecret" not in doctor.stdout


def test_serve_answers_health_and_readiness_then_stops_cleanly(tsdb_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = _env(
        {
            "OTEL_MARGIN_DATABASE_URL": tsdb_url,
            "OTEL_MARGIN_HTTP_PORT": str(port),
            "OTEL_MARGIN_GRPC_PORT": "0",
            "OTEL_MARGIN_DATA_DIR": str(tmp_path),
        }
    )
    proc = subprocess.Popen([*COMMAND, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = _wait_for(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "migrations": len(available())}
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "database ready" in err and "stopped" in err


def test_the_embedded_default_needs_no_database(tmp_path: Path) -> None:
    env = {"OTEL_MARGIN_DATA_DIR": str(tmp_path / "data")}
    result = otel_margin("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "embedded PostgreSQL started" in result.stderr
    assert "embedded PostgreSQL stopped" in result.stderr
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
    again = otel_margin("doctor", env=env)
    assert again.returncode == 0, again.stderr
    assert "embedded PostgreSQL in" in again.stdout and "up to date" in again.stdout


def test_a_command_beside_a_running_embedded_server_says_nothing_about_it(tmp_path: Path) -> None:
    from otel_margin_backend.storage.embedded import EmbeddedPostgres

    env = {"OTEL_MARGIN_DATA_DIR": str(tmp_path / "data")}
    assert otel_margin("migrate", env=env).returncode == 0
    running = EmbeddedPostgres(tmp_path / "data" / "postgres")  # as `serve` or the demo holds it
    running.start()
    try:
        result = otel_margin("pnl", env=env)
    finally:
        running.stop()
    assert result.returncode == 0, result.stderr
    assert "embedded PostgreSQL" not in result.stderr


def _wait_for(url: str, timeout_s: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_version_and_clean_help() -> None:
    from otel_margin_backend import __version__

    for args in (["--version"], ["version"]):
        result = otel_margin(*args)
        assert (result.returncode, result.stdout) == (0, f"otel-margin {__version__}\n"), result.stderr
    top = otel_margin("--help").stdout
    assert "--version" in top
    for command in (["pnl"], ["demo"], ["budgets", "status"], ["simulate"]):
        text = otel_margin(*command, "--help").stdout
        assert "<bool>" not in text, command  # flags take no value
        assert "--help" in text
