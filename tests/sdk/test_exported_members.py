"""The public surface of ``otel_margin``: a small sorted ``__all__`` that names every public member, nothing else."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import otel_margin


def test_all_is_sorted_small_and_exactly_the_public_names() -> None:
    public = [name for name in vars(otel_margin) if not name.startswith("_") or name == "__version__"]

    assert otel_margin.__all__ == sorted(otel_margin.__all__)
    assert len(otel_margin.__all__) <= 8
    assert sorted(public) == otel_margin.__all__
    assert otel_margin.__all__ == [
        "BudgetState", "InMemoryExporter", "__version__", "budget_state", "customer", "feature", "instrument"
    ]  # fmt: skip


def test_public_members_show_the_public_module_and_take_keywords_after_the_first_argument() -> None:
    for name in otel_margin.__all__:
        if name == "__version__":
            continue
        member = getattr(otel_margin, name)
        assert member.__module__ == "otel_margin", name
        parameters = list(inspect.signature(member).parameters.values())[1:]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters), (name, parameters)


def test_version_is_the_installed_distributions() -> None:
    assert otel_margin.__version__ == version("otel-margin")
