"""Scripts and command lines for the programs sockdeploy ships to hosts (remote/scripts/).

Values always travel as positional arguments, each quoted: never formatted into a program's text.
"""

from __future__ import annotations

import shlex
from typing import Sequence, Union

from sockdeploy.remote.scripts import load

Arg = Union[str, int, float]

# shell functions (group_alive, await_log, sweep_stale, ...) loaded in front of the programs that use them
PROCS = "run_procs.sh"


def with_args(script: str, *args: str) -> str:
    """Return SCRIPT preceded by `set --` giving it ARGS as its positional parameters, each quoted."""
    return "set -- " + " ".join(shlex.quote(a) for a in args) + "\n" + script


def program(name: str, *args: str) -> str:
    """Return a sh script that runs the shipped sh program NAME with ARGS as "$1", "$2", ..."""
    return with_args(load(name), *args)


def sh_command(*names: str, args: Sequence[Arg] = (), replace: bool = False) -> str:
    """Return a one-line command running the shipped shell files NAMES, joined in order, with ARGS as $1...

    With `replace`, the program takes the place of the calling shell (exec), so
    its $$ and $PPID are the caller's.
    """
    text = "\n".join(load(name) for name in names)
    words = [shlex.quote(text), shlex.quote(names[-1])] + [shlex.quote(str(a)) for a in args]
    return ("exec " if replace else "") + "/bin/sh -c " + " ".join(words)
