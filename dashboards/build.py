"""Generate otel-margin's Grafana dashboards: ``python dashboards/build.py`` (or ``--check`` to verify).

The sources are ``dashboards/src/otel_margin_dashboards/*.py`` (grafana-foundation-sdk builders); the output,
committed, is ``dashboards/json/<uid>.json``. Edit the sources, never the JSON, then run this script.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
OUT = HERE / "json"

sys.path.insert(0, str(SRC))

from otel_margin_dashboards import DASHBOARDS  # noqa: E402 - the sources live beside this script, not installed


def render() -> dict[str, str]:
    """Every dashboard as the exact text of its JSON file, by file name."""
    return {f"{uid}.json": json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            for uid, build in DASHBOARDS.items()}  # fmt: skip


def stale(out: Path = OUT) -> list[str]:
    """Files in ``out`` that differ from what the sources generate (missing, changed, or no longer generated)."""
    wanted = render()
    present = {p.name for p in out.glob("*.json")} if out.is_dir() else set()
    differing = [name for name, text in wanted.items()
                 if name not in present or (out / name).read_text(encoding="utf-8") != text]  # fmt: skip
    return sorted(differing + [name for name in present if name not in wanted])


def write(out: Path = OUT) -> list[str]:
    """Write every dashboard and remove files no dashboard generates; returns the names that changed."""
    changed = stale(out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = render()
    for name, text in wanted.items():
        (out / name).write_text(text, encoding="utf-8")
    for path in out.glob("*.json"):
        if path.name not in wanted:
            path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if dashboards/json is not up to date")
    args = parser.parse_args(argv)
    if args.check:
        differing = stale()
        for name in differing:
            print(f"dashboards/json/{name} is out of date: run `python dashboards/build.py`", file=sys.stderr)
        return 1 if differing else 0
    for name in write():
        print(f"wrote dashboards/json/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
