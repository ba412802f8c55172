"""The README's commands, run as a newcomer would: a fresh copy of the checkout, a fresh HOME, nothing on PATH.

The first command runs with ``--no-serve`` (so it returns), then the "another terminal" block runs exactly as
the README writes it. The package cache (uv's) is shared with this machine's, as it would be on a machine that
has installed Python packages before: what is fresh is HOME (no data dir, no config, no PATH entries).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fresh_copy(into: Path) -> Path:
    # What a clone would hold: the tracked files and the new ones not ignored (this checkout's state).
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def _another_terminal_block() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    return next(block for block in blocks if "source .venv/bin/activate" in block)


@pytest.fixture
def newcomer_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: run as root, the embedded PostgreSQL runs as an unprivileged user, who cannot enter
    # pytest's private (0700) temporary tree to reach the venv's server binaries or the data dir in HOME.
    base = Path(tempfile.mkdtemp(prefix="otel-margin-readme-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_readme_commands_work_from_a_fresh_clone_in_a_fresh_home(newcomer_dir: Path) -> None:
    tmp_path = newcomer_dir
    clone = _fresh_copy(tmp_path / "otel-margin")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_MARGIN_", "VIRTUAL_ENV", "XDG_"))}
    env.update({"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "COLUMNS": "120",
                "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))})  # fmt: skip

    first = subprocess.run(["bash", "scripts/run.sh", "--no-serve"], cwd=clone, env=env, capture_output=True,
                           text=True, timeout=600)  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    assert "P&L by customer" in first.stdout

    second = subprocess.run(["bash", "-c", _another_terminal_block()], cwd=clone, env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    assert "by feature" in second.stdout
    for feature in ("deep-analysis", "clinical-summary", "support-bot", "image_generation", "search"):
        assert feature in second.stdout
    assert "Traceback" not in second.stderr
