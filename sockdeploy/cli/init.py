"""`sockdeploy init`: first-time setup, a few questions, hosts.yaml written, then the doctor."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

import click

from sockdeploy.cli import options
from sockdeploy.cli.console import confirm_fn, prompt_fn, say
from sockdeploy.cli.doctor import check_written_hosts

if TYPE_CHECKING:
    from sockdeploy.init.questions import Ask


def _asker(interactive: bool, never: bool) -> Ask:
    """Return how init asks: click's prompts on a terminal, one stdin line per question on a pipe, or defaults."""

    def on_terminal(question: str, default: str, choices: Optional[Sequence[str]]) -> str:
        kind = click.Choice(list(choices)) if choices else click.STRING
        return str(click.prompt(question, default=default, type=kind, show_choices=False, err=True))

    def from_lines(question: str, default: str, choices: Optional[Sequence[str]]) -> str:
        # scripted answers: one line each, an empty line or end of input takes the default
        click.echo(f"{question} [{default}]: ", err=True, nl=False)
        line = sys.stdin.readline()
        answer = line.rstrip("\n") or default
        say(answer if line else f"{default} (end of input: default)")
        return answer

    def defaults(question: str, default: str, choices: Optional[Sequence[str]]) -> str:
        return default

    if never:
        return defaults
    return on_terminal if interactive else from_lines


def _ssh_port(ssh_port: Optional[int], old_port: Optional[int]) -> Optional[int]:
    """Return the SSH port from --ssh-port or its deprecated spelling --port (which says so on stderr)."""
    if old_port is None:
        return ssh_port
    say("sockdeploy: note: `init --port` is deprecated (elsewhere --port is the course port); use --ssh-port")
    if ssh_port is not None and ssh_port != old_port:
        raise click.UsageError("--port (deprecated) and --ssh-port disagree; give only --ssh-port")
    return old_port


@click.command()
@click.option("--host", metavar="NAME", help="Login host [default: shell.cec.wustl.edu].")
@click.option("--user", metavar="NAME", help="Your login name there [default: your local user name].")
@click.option("--ssh-port", type=click.IntRange(1, 65535), help="SSH port [default: 22 or ~/.ssh/config's].")
@click.option("--port", "old_port", type=click.IntRange(1, 65535), hidden=True, help="Deprecated spelling of --ssh-port.")
@click.option("--identity", metavar="PATH", help="Private key to log in with (with --create-key: where to create it).")
@click.option("--create-key", is_flag=True, help="Create an ed25519 key (default ~/.ssh/id_ed25519; never overwrites).")
@click.option("--install-key/--no-install-key", default=None,
              help="Install the key on the host with one password login (ssh-copy-id).")
@options.via("How the client reaches the course ports [default: auto].")
@options.members("A group member's name (repeat for each).")
@options.out(None, "Where to write [default: ~/.config/sockdeploy/hosts.yaml].", metavar="PATH", old_names=("--output",))
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.option("--no-doctor", is_flag=True, help="Do not run `sockdeploy doctor` afterwards.")
@options.accept_new("Store the host's key if unknown (a changed key is still refused).")
@click.option("-y", "--yes", "--non-interactive", "never_ask", is_flag=True,
              help="Ask nothing: unanswered questions take their defaults.")
def init(host: Optional[str], user: Optional[str], ssh_port: Optional[int], old_port: Optional[int], identity: Optional[str],
         create_key: bool, install_key: Optional[bool], via: Optional[str], members: Tuple[str, ...], out: Optional[str],
         force: bool, no_doctor: bool, accept_new: bool, never_ask: bool) -> None:
    """First-time setup: ask a few questions, write hosts.yaml, then run the doctor.

    Each question not answered by a flag is asked on a terminal (default in
    brackets); without a terminal one line of stdin answers each question in
    turn (an empty line or end of input takes the default); --yes asks
    nothing. Without a terminal the defaults never create a key or log in.

    \b
    Example:
      sockdeploy init                                    # answer the questions
      sockdeploy init --user jdoe --create-key --install-key --via auto \\
          --member "Ada Lovelace" --member "Alan Turing"
    """
    from sockdeploy.init import wizard as setup

    interactive = sys.stdin.isatty() and not never_ask
    path = Path(out).expanduser() if out else setup.default_output()
    given = setup.Answers(host=host, user=user, port=_ssh_port(ssh_port, old_port), install_key=install_key, via=via,
                          members=list(members) if members else None)
    if create_key:
        given.identity, given.new_key = setup.CREATE, identity
    elif identity:
        given.identity = identity
    setup.check_writable(path, force)  # before any question: a refusal should not waste the answers
    answers = setup.ask_missing(given, _asker(interactive, never_ask), creating_allowed=interactive)
    plan = setup.make_plan(answers)
    setup.carry_out(plan, path, force, accept_new=accept_new, confirm=confirm_fn(), prompt=prompt_fn(), say=say)
    say(f"wrote {path}")
    shadow = setup.shadowing_file(path)
    if shadow is not None:
        say(f"note: {shadow} is used instead of {path} when you run sockdeploy from this folder")
    if not no_doctor:
        check_written_hosts(str(path))
