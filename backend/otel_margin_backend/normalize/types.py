"""Type aliases shared by the normalization modules."""

from __future__ import annotations

from typing import TypeAlias

AttrValue: TypeAlias = "str | int | float | bool | bytes | list[AttrValue] | dict[str, AttrValue] | None"
"""A decoded OTLP ``AnyValue``: scalars as Python scalars, arrays as lists, kvlists as dicts, unset as None."""

Attributes: TypeAlias = dict[str, AttrValue]
"""Decoded attributes of a span, resource or span event."""
