"""Plain-text tables for people: one renderer for every command's table, fitted to the terminal.

Python's own textwrap does the wrapping: it breaks cells at word boundaries,
costs nothing at start-up (rich's table would add tens of milliseconds to
every `doctor` and `batch`, and a dependency) and its output is plain text
a student can paste into answers.
"""

from __future__ import annotations

import shutil
import textwrap
from typing import List, Optional, Sequence

GAP = "  "
PIPED_WIDTH = 80  # what a table is fitted to when stdout is not a terminal
MIN_COLUMN = 8
LONG_WORD = 24  # a column narrows to its longest word, up to this; longer words (paths) are broken


def terminal_width() -> int:
    """The terminal's width, or 80 columns when output is piped (COLUMNS wins when set)."""
    return shutil.get_terminal_size((PIPED_WIDTH, 24)).columns


def render_table(rows: Sequence[Sequence[object]], header: Sequence[str], width: Optional[int] = None) -> str:
    """Return ROWS under HEADER fitted to WIDTH (default: the terminal's), cells wrapped at word boundaries.

    Columns line up, a dashed rule sits below the header, no line ends in blanks.
    """
    cells: List[List[str]] = [[" ".join(str(c).split()) for c in header]]
    cells += [[" ".join(str(c).split()) for c in row] for row in rows]
    widths = _fit([max(len(line[i]) for line in cells) for i in range(len(header))], cells,
                  width or terminal_width())
    out = _lines(cells[0], widths) + [_join(["-" * w for w in widths])]
    for line in cells[1:]:
        out += _lines(line, widths)
    return "\n".join(out)


def _fit(natural: List[int], cells: List[List[str]], width: int) -> List[int]:
    """Narrow the widest columns, one character at a time, until the table fits WIDTH (or cannot narrow more)."""
    widths = list(natural)
    floors = [min(natural[i], max(MIN_COLUMN, min(LONG_WORD, _longest_word(cells, i)))) for i in range(len(natural))]
    while sum(widths) + len(GAP) * (len(widths) - 1) > width:
        candidates = [i for i in range(len(widths)) if widths[i] > floors[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _longest_word(cells: List[List[str]], column: int) -> int:
    return max((len(word) for line in cells for word in line[column].split()), default=0)


def _lines(cells: Sequence[str], widths: Sequence[int]) -> List[str]:
    wrapped = [textwrap.wrap(cell, width, break_on_hyphens=False) or [""] for cell, width in zip(cells, widths)]
    height = max(len(w) for w in wrapped)
    return [_join([(w[n] if n < len(w) else "").ljust(width) for w, width in zip(wrapped, widths)])
            for n in range(height)]


def _join(parts: Sequence[str]) -> str:
    # the last column is padded too, then stripped: no line ends in blanks
    return GAP.join(parts).rstrip()
