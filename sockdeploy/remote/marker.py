"""The marker lines host programs print for sockdeploy: `SD-TAG field field...`.

Host programs write a marker line where sockdeploy must tell its own messages
apart from the user's program output; this module is the only place that
knows the prefix and parses such lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional

PREFIX = "SD-"


@dataclass(frozen=True)
class Marker:
    """One marker line: its tag and the rest of the line after one space."""

    tag: str
    value: str

    @property
    def fields(self) -> List[str]:
        return self.value.split()


def parse_line(line: str) -> Optional[Marker]:
    """Return the marker on LINE, or None when the line is not one."""
    if not line.startswith(PREFIX):
        return None
    tag, _, value = line[len(PREFIX):].rstrip("\r\n").partition(" ")
    return Marker(tag, value) if tag else None


def markers(lines: Iterable[str]) -> Iterator[Marker]:
    """Yield every marker among LINES, in order."""
    for line in lines:
        found = parse_line(line)
        if found is not None:
            yield found


def values(text: str, tag: str) -> List[str]:
    """Return the value of every TAG marker in TEXT, in order."""
    return [m.value for m in markers(text.splitlines()) if m.tag == tag]


def first(text: str, tag: str) -> Optional[str]:
    """Return the value of the first TAG marker in TEXT, or None."""
    found = values(text, tag)
    return found[0] if found else None
