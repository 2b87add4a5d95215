"""Plain-text tables for people: one renderer for every command's table."""

from __future__ import annotations

from typing import List, Sequence


def render_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """Return ROWS under HEADER, columns padded to line up, a dashed rule below the header, no trailing blanks."""
    cells: List[List[str]] = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    rule = ["-" * w for w in widths]
    return "\n".join(_line(line, widths) for line in [cells[0], rule] + cells[1:])


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    # the last column is padded too, then stripped: no line ends in blanks
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
