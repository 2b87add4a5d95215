"""Both hosts' output interleaved in the order it was produced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

from sockdeploy.output.clock import ClockOffset


@dataclass(frozen=True)
class Source:
    """One terminal's output with the time each line began, on its own host's clock."""

    label: str
    output: str
    times: Sequence[float]
    remote: bool = False  # on the server host: its clock needs the offset removed


@dataclass(frozen=True)
class Entry:
    at: float  # local clock
    label: str
    text: str


def merge(sources: Sequence[Source], offset: Optional[ClockOffset]) -> List[Entry]:
    """Return every line of every source on the local clock, oldest first.

    Lines without a time of their own (more lines than times) take the last
    known one, so they stay after what came before them in the same terminal.
    """
    shift = offset.offset if offset else 0.0
    entries: List[Entry] = []
    for source in sources:
        lines = source.output.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        last = None
        for i, text in enumerate(lines):
            if i < len(source.times):
                last = source.times[i] - (shift if source.remote else 0.0)
            if last is None:
                continue  # nothing to place it by
            entries.append(Entry(last, source.label, text))
    # sorted() is stable: equal times keep each terminal's own order
    return sorted(entries, key=lambda e: e.at)


def clock_note(offset: Optional[ClockOffset], server_name: Optional[str]) -> str:
    """Say which clocks the timeline rests on."""
    if server_name is None:
        return "one clock: both programs ran on this machine"
    if offset is None:
        return f"{server_name}'s clock could not be read, so its lines are placed uncorrected"
    return (f"{server_name}'s clock is {offset.offset:+.3f} s from this one "
            f"(± {offset.uncertainty * 1000:.1f} ms), corrected")


def render(entries: Sequence[Entry], note: str) -> str:
    """Return timeline.txt: seconds since the first line, the terminal, the line."""
    width = max((len(e.label) for e in entries), default=6)
    start = entries[0].at if entries else 0.0
    out = [f"# merged timeline; {note}"]
    out += [f"{e.at - start:8.3f}s  {e.label:<{width}} | {e.text}" for e in entries]
    return "\n".join(out) + "\n"
