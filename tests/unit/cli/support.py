"""Helpers for the CLI tests: a CliRunner for click 8.1 and 8.2+, the one-line error check, command walks."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import List, Sequence, Tuple

import click
from click.testing import CliRunner


def make_runner() -> CliRunner:
    """Return a runner whose result has .stdout and .stderr apart (click 8.1 mixes them unless told)."""
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:  # click 8.1
        return CliRunner(mix_stderr=False)
    return CliRunner()


def one_line_error(stderr: str, exit_code: int, result_code: int) -> None:
    """Assert an error was reported as one `error:` line and one `hint:` line, with its exit code, no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines[-2].startswith("sockdeploy: error: ") and lines[-1].startswith("  hint: "), stderr
    assert result_code == exit_code, stderr


def hosts_file(folder: Path, *extra: str) -> Path:
    path = folder / "hosts.yaml"
    path.write_text("\n".join(["server:", "  host: lab0", *extra]) + "\n")
    return path


def commands(group: click.Group, prefix: Sequence[str] = ()) -> List[Tuple[Tuple[str, ...], click.Command]]:
    """Return (path, command) for every command under `group`, subcommands included."""
    found = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            found += commands(cmd, (*prefix, name))
        else:
            found.append(((*prefix, name), cmd))
    return found
