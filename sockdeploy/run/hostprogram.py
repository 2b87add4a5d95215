"""Command lines that run sockdeploy's shipped shell programs on a host."""

from __future__ import annotations

import shlex
from typing import List, Optional, Sequence, Tuple, Union

from sockdeploy.remote import marker
from sockdeploy.remote.host import CommandResult
from sockdeploy.remote.scripts import load

Arg = Union[str, int, float]

# shell functions (group_alive, await_log, sweep_stale, ...) loaded in front of the programs that use them
PROCS = "run_procs.sh"


def sh_command(*names: str, args: Sequence[Arg] = (), replace: bool = False) -> str:
    """Return a one-line command running the shipped shell files NAMES, joined in order, with ARGS as $1...

    With `replace`, the program takes the place of the calling shell (exec), so
    its $$ and $PPID are the caller's.
    """
    text = "\n".join(load(name) for name in names)
    words = [shlex.quote(text), shlex.quote(names[-1])] + [shlex.quote(str(a)) for a in args]
    return ("exec " if replace else "") + "/bin/sh -c " + " ".join(words)


def split_log(stdout: str) -> Tuple[str, Optional[str]]:
    """Split a program's output at its SD-LOG line: (the markers before it, the log after it or None)."""
    lines = stdout.splitlines(keepends=True)
    for n, line in enumerate(lines):
        found = marker.parse_line(line)
        if found is not None and found.tag == "LOG":
            return "".join(lines[:n]), "".join(lines[n + 1:])
    return stdout, None


def tags(result: CommandResult) -> dict[str, str]:
    """Return each marker's value by tag (the last one wins), up to the SD-LOG line."""
    head, _ = split_log(result.stdout)
    return {m.tag: m.value for m in marker.markers(head.splitlines())}


def tag_values(result: CommandResult, tag: str) -> List[str]:
    """Return the value of every TAG marker before the SD-LOG line, in order."""
    head, _ = split_log(result.stdout)
    return marker.values(head, tag)
