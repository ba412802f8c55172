"""Shipped SQL stays DRY from now on: no migration repeats a function body, and the rollup upsert lives once."""

from __future__ import annotations

import re
from importlib import resources

MIGRATIONS = resources.files("otel_margin_backend.storage.migrations")
ROLLUP_UPSERT_SINCE = 60
"""Migrations from this version on may not spell out the rollup upsert: they call usage_rollups_add()."""
_FUNCTION = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(\w+)\s*\(.*?\$\$(.*?)\$\$", re.S | re.I)
_ROLLUP_UPSERT = re.compile(r"INSERT\s+INTO\s+usage_(?:hourly|daily)\b[^;]*ON\s+CONFLICT[^;]*DO\s+UPDATE", re.S | re.I)


def migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in MIGRATIONS.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name[:4]), entry.name, entry.read_text()))
    return sorted(found)


def bodies(sql: str) -> list[tuple[str, str]]:
    return [(name, " ".join(body.split())) for name, body in _FUNCTION.findall(sql)]


def test_no_migration_repeats_a_function_body() -> None:
    seen: dict[str, str] = {}
    for _, filename, sql in migrations():
        for name, body in bodies(sql):
            where = f"{filename}:{name}"
            assert body not in seen, f"{where} repeats the body of {seen[body]}: call that function instead"
            seen[body] = where


def test_the_rollup_upsert_is_defined_once_from_now_on() -> None:
    places = []
    for version, filename, sql in migrations():
        if version < ROLLUP_UPSERT_SINCE:
            continue
        for name, body in bodies(sql):
            if _ROLLUP_UPSERT.search(body):
                places.append(f"{filename}:{name}")
    assert places == ["0060_rollups_upsert.sql:usage_rollups_add"]


def test_the_writer_adds_to_the_rollups_through_the_one_upsert() -> None:
    latest = {}
    for _, _, sql in migrations():
        latest.update(dict(bodies(sql)))
    assert "PERFORM usage_rollups_add()" in latest["usage_hourly_add_staged"]
    assert not _ROLLUP_UPSERT.search(latest["usage_hourly_add_staged"])
