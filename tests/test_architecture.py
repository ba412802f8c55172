"""The layer contract in ``.importlinter`` holds, and it would catch an import up a floor in any package."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def layers() -> list[list[str]]:
    """The layers of the contract, top first, each a list of sibling packages."""
    config = configparser.ConfigParser()
    config.read(CONTRACT)
    raw = config["importlinter:contract:layers"]["layers"]
    return [[name.strip() for name in line.split("|")] for line in raw.split("\n") if line.strip()]


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / ".importlinter"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        check=False,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of both packages and the contract, to break on purpose."""
    tree = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "backend" / "otel_margin_backend", tree / "otel_margin_backend")
    shutil.copytree(ROOT / "otel_margin", tree / "otel_margin")
    shutil.copy(CONTRACT, tree / ".importlinter")
    return tree


def test_the_tree_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_every_package_is_in_a_layer() -> None:
    listed = {name for layer in layers() for name in layer}
    packages = {p.name for p in (ROOT / "backend" / "otel_margin_backend").iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in (ROOT / "backend" / "otel_margin_backend").glob("*.py") if not p.stem.startswith("_")}
    assert packages | modules == listed


UPWARD = [(low, high) for i, layer in enumerate(layers()) if i > 0 for low in layer for high in [layers()[i - 1][0]]]


@pytest.mark.parametrize(("low", "high"), UPWARD, ids=[f"{low}->{high}" for low, high in UPWARD])
def test_an_import_up_a_floor_breaks_the_contract(pristine: Path, tmp_path: Path, low: str, high: str) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(pristine, tree)
    package = tree / "otel_margin_backend" / low
    target = package / "__init__.py" if package.is_dir() else package.with_suffix(".py")
    target.write_text(target.read_text() + f"\nimport otel_margin_backend.{high}  # noqa\n")
    result = lint(tree)
    assert result.returncode != 0
    assert f"otel_margin_backend.{low} is not allowed to import otel_margin_backend.{high}" in " ".join(
        result.stdout.split()
    )
