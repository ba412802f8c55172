"""Every command that reads a user's file answers a binary, non-UTF-8 or unreadable file with one line naming the
file and the line, never a traceback, and never prints what the file holds (issue 12).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from otel_margin_backend.cli.main import app

SECRET = "sk_live_51Hh2ZZsecretvalue"
ENV_FILE = f"STRIPE_API_KEY={SECRET}\nOTEL_MARGIN_INGEST_TOKEN=tok_also_secret\n"
BINARY = b"version: 1\nbudgets: []\n\x00\x01\x02binary"
NOT_UTF8 = b"date,currency,rate\n2026-11-01,EUR,\xff\xfe1.08\n"


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The CLI points the root logger at the runner's stderr, closed afterwards; later tests must not log there."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _invoke(db_url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    environment = {"OTEL_MARGIN_DATABASE_URL": db_url, "OTEL_MARGIN_LOG_FORMAT": "console", "COLUMNS": "200",
                   **(env or {})}  # fmt: skip
    return CliRunner().invoke(app, list(args), env=environment)


COMMANDS: dict[str, Callable[[Path], tuple[list[str], dict[str, str]]]] = {
    "budgets apply": lambda f: (["budgets", "apply", str(f)], {}),
    "revenue import": lambda f: (["revenue", "import", str(f)], {}),
    "fx import": lambda f: (["fx", "import", str(f)], {}),
    "replay": lambda f: (["replay", str(f)], {}),
    "prices (overrides)": lambda f: (["prices", "list"], {"OTEL_MARGIN_PRICE_OVERRIDES_FILE": str(f)}),
    "simulate --quality-file": lambda f: (["simulate", "--quality-file", str(f)], {}),
}


def _one_line(result: Result) -> str:
    text = result.output.strip()
    assert result.exit_code == 1, text
    assert ("Traceback" not in text and result.exception is None) or isinstance(result.exception, SystemExit), text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) <= 2, text  # the error, and at most a hint of what to do
    return " ".join(text.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_a_binary_file_is_one_line_naming_file_and_line(db_url: str, tmp_path: Path, command: str) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(BINARY)
    args, env = COMMANDS[command](path)
    message = _one_line(_invoke(db_url, *args, env=env))
    assert f"{path}:3: a NUL byte: this is a binary file" in message
    assert "binary" in message and "\x01" not in message


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_that_is_not_utf8_is_one_line_naming_file_and_line(db_url: str, tmp_path: Path, command: str) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(NOT_UTF8)
    args, env = COMMANDS[command](path)
    message = _one_line(_invoke(db_url, *args, env=env))
    assert f"{path}:2: not UTF-8 text (byte 34: invalid start byte)" in message


@pytest.mark.parametrize("command", COMMANDS)
def test_a_directory_is_one_line(db_url: str, tmp_path: Path, command: str) -> None:
    args, env = COMMANDS[command](tmp_path)
    result = _invoke(db_url, *args, env=env)
    assert result.exit_code in (1, 2), result.output  # 2: typer refuses a directory itself
    assert "Traceback" not in result.output and str(tmp_path.name) in result.output


@pytest.mark.parametrize("command", ["revenue import", "fx import", "budgets apply", "replay", "prices (overrides)"])
def test_an_environment_file_never_has_its_secrets_printed(db_url: str, tmp_path: Path, command: str) -> None:
    path = tmp_path / ".env"
    path.write_text(ENV_FILE)
    args, env = COMMANDS[command](path)
    result = _invoke(db_url, *args, env=env)
    assert result.exit_code == 1, result.output
    assert SECRET not in result.output and "tok_also_secret" not in result.output, result.output
    assert "Traceback" not in result.output
    assert str(path) in " ".join(result.output.split())


def test_a_csv_whose_first_line_is_not_a_header_says_so(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(ENV_FILE)
    message = _one_line(_invoke(db_url, "revenue", "import", str(path)))
    assert message.startswith(f"error: {path}:1: the first line is not a header of column names; expected amount,")
