"""The marker lines host programs print for sockdeploy: `SD-TAG field field...`.

Host programs write a marker line where sockdeploy must tell its own messages
apart from the user's program output; this module is the only place that
knows the prefix and parses such lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterable, Iterator, List, Optional, Tuple

if TYPE_CHECKING:
    from sockdeploy.remote.host import CommandResult

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


def split_log(stdout: str) -> Tuple[str, Optional[str]]:
    """Split a program's output at its SD-LOG line: (the markers before it, the log after it or None)."""
    lines = stdout.splitlines(keepends=True)
    for n, line in enumerate(lines):
        found = parse_line(line)
        if found is not None and found.tag == "LOG":
            return "".join(lines[:n]), "".join(lines[n + 1:])
    return stdout, None


def tags(result: CommandResult) -> Dict[str, str]:
    """Return each marker's value by tag (the last one wins), up to the SD-LOG line."""
    head, _ = split_log(result.stdout)
    return {m.tag: m.value for m in markers(head.splitlines())}


def tag_values(result: CommandResult, tag: str) -> List[str]:
    """Return the value of every TAG marker before the SD-LOG line, in order."""
    head, _ = split_log(result.stdout)
    return values(head, tag)
