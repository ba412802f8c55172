"""Reading rich tables back from a command's output, to check that a narrow terminal lost nothing.

A table printed through ``pipeline/tables.py`` wraps a cell that does not fit onto more lines. Reading each
column top to bottom and joining its pieces gives back every cell of that column, in order, with only the line
breaks (and the spaces they replaced) gone: ``tables`` returns that, per table and header.
"""

from __future__ import annotations

WIDTH = 80


def tables(output: str) -> list[dict[str, str]]:
    """Each table in ``output`` as {header without spaces: the column's cells joined, spaces removed}."""
    lines = output.splitlines()
    found: list[dict[str, str]] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("┏"):
            i += 1
            continue
        edges = [k for k, ch in enumerate(lines[i]) if ch in "┏┳┓"]
        i += 1
        header: list[str] = [""] * (len(edges) - 1)
        while lines[i].startswith("┃"):
            for c in range(len(header)):
                header[c] += lines[i][edges[c] + 1 : edges[c + 1]].strip() + " "
            i += 1
        i += 1  # the ┡━━ rule
        body: list[str] = [""] * len(header)
        while i < len(lines) and lines[i].startswith("│"):
            for c in range(len(body)):
                body[c] += lines[i][edges[c] + 1 : edges[c + 1]].replace(" ", "")
            i += 1
        # A header wraps like a cell (at a space, or folded): known by its letters alone.
        found.append({h.replace(" ", ""): cells for h, cells in zip(header, body, strict=True)})
    return found


def assert_lossless(output: str, expected: dict[str, list[str]], *, table: int = 0) -> None:
    """No table line wider than 80 columns, no ``…``, and each expected cell readable whole in its column, in row
    order. (A hint printed with ``soft_wrap`` is one long line on purpose: the terminal wraps it, copy-paste
    keeps it whole.)"""
    assert "…" not in output
    assert max(len(line) for line in output.splitlines() if line[:1] in "┏┃┡│└") <= WIDTH
    columns = tables(output)[table]
    for header, cells in expected.items():
        joined = columns[header.replace(" ", "")]
        position = 0
        for cell in cells:
            found = joined.find(cell.replace(" ", ""), position)
            assert found >= 0, f"{header!r}: {cell!r} is not whole in {joined!r}"
            position = found + len(cell.replace(" ", ""))
