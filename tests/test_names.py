"""No two public classes of the server share a name, so a name in a traceback, a log or a review says which one.

Read from the source (``ast``), so only classes a module defines count: an import that re-exports a class is no
second class. Private classes (``_Strict``) are each module's own business and may repeat.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "backend" / "otel_margin_backend"


def public_classes(source: str) -> list[str]:
    """Names of the public classes a module defines at its top level."""
    tree = ast.parse(source)
    return [node.name for node in tree.body if isinstance(node, ast.ClassDef) and not node.name.startswith("_")]


def duplicates(package: Path) -> dict[str, list[str]]:
    """Each public class name defined in more than one module, with those modules."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        for name in public_classes(path.read_text(encoding="utf-8")):
            where[name].append(module)
    return {name: modules for name, modules in where.items() if len(modules) > 1}


def test_public_class_names_are_unique() -> None:
    found = duplicates(PACKAGE)
    assert found == {}, "rename so each says what it is: " + "; ".join(
        f"{name} in {', '.join(modules)}" for name, modules in sorted(found.items())
    )


def test_a_second_class_of_one_name_is_caught_and_a_re_export_is_not(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "a").mkdir(parents=True)
    (package / "a" / "one.py").write_text("class Shape:\n    pass\n\n\nclass _Private:\n    pass\n")
    (package / "a" / "two.py").write_text("from pkg.a.one import Shape\n\n\nclass _Private:\n    pass\n")
    assert duplicates(package) == {}

    (package / "b.py").write_text("class Shape:\n    pass\n")
    assert duplicates(package) == {"Shape": ["pkg.a.one", "pkg.b"]}
