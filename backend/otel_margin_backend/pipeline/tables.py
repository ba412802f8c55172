"""Tables that never cut a cell: what the CLI and the demo print, at any terminal width.

Rich shortens a cell that does not fit its column with ``…``, which at 80 columns (a pipe, a small terminal)
turned a Stripe id into ``cus_QFj0rdO…`` and a cost into ``$542…``. Printed through ``LosslessConsole``, a cell
that does not fit wraps onto more lines instead (at spaces when it has some, else folded at the column's edge),
and the table stays within the terminal: no character is lost, and nothing is cut at the right margin. A wider
terminal (or ``COLUMNS=200``) gives one line per row; ``--format json`` or ``csv`` gives the values alone.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["LosslessConsole", "lossless"]


def lossless(table: Table) -> Table:
    """``table`` with every column set to wrap its cells onto more lines rather than cut them."""
    for column in table.columns:
        column.overflow = "fold"
        column.no_wrap = False  # a no-wrap cell that does not fit is cropped, even when folding
    return table


class LosslessConsole(Console):
    """A ``rich`` console that prints every table through ``lossless``."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Print like ``Console.print``; tables first made lossless."""
        super().print(*(lossless(o) if isinstance(o, Table) else o for o in objects), **kwargs)
