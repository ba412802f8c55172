"""Log format: readable lines on a terminal, JSON for everything else, unless chosen."""

from __future__ import annotations

import io
import json
import logging

import pytest

from otel_margin_backend import logs


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(("fmt", "tty", "json_lines"), [
    ("auto", True, False), ("auto", False, True), ("json", True, True), ("console", False, False),
])  # fmt: skip
def test_the_format_follows_the_terminal_unless_chosen(
    fmt: str, tty: bool, json_lines: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = _Stream(tty)
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("INFO", fmt)
        logging.getLogger("otel_margin_backend.test").info("batch stored", extra={"rows": 3})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    line = stream.getvalue().strip()
    if json_lines:
        assert json.loads(line)["message"] == "batch stored" and json.loads(line)["rows"] == 3
    else:
        assert line == "info    batch stored  rows=3"


def test_the_default_is_auto() -> None:
    assert logs.LogConfig().format == "auto"
