"""docs/rollout.md's gates are commands that run: each ``otel-margin`` line of its bash blocks, with the doc's own
CSV and YAML as the files it names, is accepted (no usage error, exit 0 or 1), and the JSON its ``jq`` reads has
the keys the filter names."""

from __future__ import annotations

import json
import logging
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from otel_margin_backend.cli.main import app

DOC = Path(__file__).resolve().parents[3] / "docs" / "rollout.md"


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The CLI points the root logger at the runner's stderr, closed afterwards; later tests must not log there."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)


def _commands() -> list[tuple[list[str], str]]:
    """Each command's arguments after ``otel-margin``, and the jq filter it is piped to ('' when none)."""
    found = []
    for block in _blocks("bash"):
        for command in block.replace("\\\n", " ").splitlines():
            if command.startswith("otel-margin "):
                line, _, pipe = command.partition("|")
                jq = shlex.split(pipe)[-1] if pipe else ""
                found.append((shlex.split(line)[1:], jq))
    return found


def test_the_doc_has_a_command_for_each_gate() -> None:
    names = [" ".join(a[:2]) for a, _ in _commands()]
    assert names.count("verify --estimate") >= 4 and "budgets apply" in names and "customers actions" in names


def test_every_gate_command_runs(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (estimate,) = _blocks("csv")
    (budgets,) = _blocks("yaml")
    monkeypatch.chdir(tmp_path)
    for name in ("canary.csv", "beta.csv", "estimate-2026-12.csv"):
        Path(name).write_text(estimate)
    Path("beta-budgets.yaml").write_text(budgets)
    env = {"OTEL_MARGIN_DATABASE_URL": db_url, "OTEL_MARGIN_LOG_FORMAT": "console", "COLUMNS": "200"}
    for args, jq in _commands():
        result = CliRunner().invoke(app, args, env=env)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.output)
        assert result.exit_code in (0, 1), (args, result.output)  # never 2, a usage error
        if jq:
            key = re.search(r"\.(\w+)", jq)
            assert key and key[1] in json.loads(result.stdout), (args, jq)
