"""The committed dashboard JSON is exactly what the grafana-foundation-sdk sources generate."""

from __future__ import annotations

import json
from pathlib import Path

from tests.dashboards.files import JSON_DIR, build_script


def test_committed_json_is_what_the_sources_generate() -> None:
    stale = build_script().stale()
    assert not stale, (
        f"dashboards/json is out of date ({', '.join(stale)}). The dashboards are code: edit "
        "dashboards/src/otel_margin_dashboards/*.py, run `python dashboards/build.py`, and commit the JSON it writes "
        "(never edit the JSON by hand)."
    )


def test_generation_is_deterministic_and_files_are_named_by_uid() -> None:
    build = build_script()
    first, second = build.render(), build.render()
    assert first == second
    for name, text in first.items():
        assert json.loads(text)["uid"] == name.removesuffix(".json")
    assert sorted(first) == sorted(p.name for p in JSON_DIR.glob("*.json"))


def test_check_mode_reports_a_hand_edited_file(tmp_path: Path) -> None:
    out = tmp_path
    build = build_script()
    assert build.write(out) == sorted(build.render())
    assert build.stale(out) == []
    victim = out / "otel-margin-overview.json"
    victim.write_text(victim.read_text(encoding="utf-8").replace('"Revenue"', '"Sales"'), encoding="utf-8")
    (out / "stray.json").write_text("{}", encoding="utf-8")
    assert build.stale(out) == ["otel-margin-overview.json", "stray.json"]
    build.write(out)
    assert build.stale(out) == [] and not (out / "stray.json").exists()
