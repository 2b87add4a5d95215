"""What the CLI says to people (stderr) and how it asks them; machine output goes to stdout elsewhere."""

from __future__ import annotations

import sys
from typing import Callable, Optional

import click

from sockdeploy.errors import SockdeployError
from sockdeploy.output.progress import use_color


def say(text: str) -> None:
    """Print a line for people, on stderr."""
    click.echo(text, err=True)


def report_error(err: SockdeployError) -> None:
    """Print an error as what + how to fix, on stderr, after any program output it carries."""
    if err.output:
        if err.command:
            say(f"$ {err.command}")
        say(err.output.rstrip("\n"))
    color = use_color(sys.stderr)
    label = click.style("error:", fg="red", bold=True) if color else "error:"
    click.echo(f"sockdeploy: {label} {err.headline()}", err=True, color=color)
    if err.hint:
        hint = click.style("hint:", fg="yellow") if color else "hint:"
        click.echo(f"  {hint} {err.hint}", err=True, color=color)


def confirm_fn() -> Optional[Callable[[str], bool]]:
    """Return how to ask a yes/no question: on a terminal only, else None (refuse)."""
    if sys.stdin.isatty():
        from sockdeploy.ssh.terminal import terminal_confirm

        return terminal_confirm
    return None


def prompt_fn() -> Optional[Callable[[str, bool], str]]:
    """Return how to ask for a password or 2FA answer: on a terminal only, else None."""
    if sys.stdin.isatty():
        from sockdeploy.ssh.terminal import terminal_prompt

        return terminal_prompt
    return None

