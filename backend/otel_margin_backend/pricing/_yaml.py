"""YAML for user-edited files, validated by pydantic, with every error pointing at a file line.

PyYAML's ``compose`` keeps each node's position, so a pydantic error location such as
``('discounts', 2, 'percent')`` can be walked back to the line that holds it. Scalars other than
integers, booleans and nulls are passed on as their source text: ``0.15`` reaches pydantic as the
string ``"0.15"`` and becomes ``Decimal("0.15")`` exactly, never a binary approximation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import SafeConstructor

from otel_margin_backend.pricing.errors import PricingFileError, Problem

M = TypeVar("M", bound=BaseModel)

Loc = tuple[int | str, ...]
"""A location in a document, as pydantic reports it: keys and list indexes."""

_EXACT_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"})


def load_model(model: type[M], text: str, source: str | Path) -> tuple[M, yaml.Node | None]:
    """Parse YAML text and validate it as ``model``.

    Args:
        model: The pydantic model of the document (it should forbid extra keys).
        text: The YAML text.
        source: The file name used in error messages.

    Returns:
        The validated model and the document's root node (None for an empty document), which
        ``line_of`` can use to place later, cross-entry problems.

    Raises:
        PricingFileError: the YAML is malformed, has a duplicate key, or breaks the model; each
            problem names its line.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = f"invalid YAML: {exc.problem or exc}"
        if exc.context and exc.context_mark is not None:
            message += f" ({exc.context} from line {exc.context_mark.line + 1})"
        raise PricingFileError(source, [Problem(line, "", message)]) from None
    data = {} if root is None else _to_data(root, (), source)
    try:
        return model.model_validate(data), root
    except ValidationError as exc:
        raise PricingFileError(source, problems_from(exc, root)) from None


def problems_from(exc: ValidationError, root: yaml.Node | None) -> list[Problem]:
    """One line-numbered problem per pydantic error.

    Args:
        exc: The validation error.
        root: The document's root node.

    Returns:
        The problems, in pydantic's order.
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        message = str(error["msg"])
        if error["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
        elif error["type"] == "missing":
            message = f"missing key {loc[-1]!r}"
        elif error["type"] == "value_error" and "error" in error.get("ctx", {}):
            message = str(error["ctx"]["error"])
        problems.append(Problem(line_of(root, loc), format_loc(loc), message))
    return problems


def line_of(root: yaml.Node | None, loc: Loc) -> int:
    """The 1-based line of the deepest node along ``loc`` that exists in the document.

    A missing key points at the entry that lacks it; an unknown key at the key itself.

    Args:
        root: The document's root node.
        loc: Keys and indexes from the root.

    Returns:
        The line number (1 for an empty document).
    """
    node = root
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node, line = child
    return line


def format_loc(loc: Loc) -> str:
    """``('discounts', 2, 'percent')`` as ``discounts[2].percent``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_unique(
    items: Sequence[object],
    key: Callable[[object], object],
    *,
    section: str,
    root: yaml.Node | None,
    message: Callable[[object, int], str],
) -> list[Problem]:
    """Problems for entries whose key repeats an earlier entry's, each at the later entry's line.

    Args:
        items: The entries of one section.
        key: Their identity; ``None`` means the entry takes part in no comparison.
        section: The section's key in the document, for the location.
        root: The document's root node.
        message: Builds the message from the repeated key and the earlier entry's index.

    Returns:
        The problems found.
    """
    seen: dict[object, int] = {}
    problems = []
    for index, item in enumerate(items):
        k = key(item)
        if k is None:
            continue
        if k in seen:
            loc: Loc = (section, index)
            problems.append(Problem(line_of(root, loc), format_loc(loc), message(k, seen[k])))
        else:
            seen[k] = index
    return problems


def _child(node: yaml.Node | None, part: int | str) -> tuple[yaml.Node, int] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return value_node, key_node.start_mark.line + 1
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item, item.start_mark.line + 1
    return None


def _to_data(node: yaml.Node, loc: Loc, source: str | Path) -> object:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else ""
            if key in out:
                problem = Problem(key_node.start_mark.line + 1, format_loc((*loc, key)), f"duplicate key {key!r}")
                raise PricingFileError(source, [problem])
            out[key] = _to_data(value_node, (*loc, key), source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, (*loc, i), source) for i, item in enumerate(node.value)]
    if node.tag in _EXACT_TAGS:
        return SafeConstructor().construct_object(node)
    return str(node.value)
