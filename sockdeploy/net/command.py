"""Command lines for the shipped host programs: the program's text, its values as positional arguments."""

from __future__ import annotations

import shlex

from sockdeploy.remote.scripts import load


def script_call(name: str, *args: str) -> str:
    """Return a sh script that runs the shipped sh program NAME with ARGS as "$1", "$2", ...

    The values are quoted into a `set --` line ahead of the unchanged program text.
    """
    return f"set -- {' '.join(shlex.quote(a) for a in args)}\n{load(name)}"
