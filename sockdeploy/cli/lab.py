"""`sockdeploy lab up|down|status|exec`: a lab to practise in, kept in the background."""

from __future__ import annotations

import json
import sys
from typing import Any, Dict, Tuple

import click

from sockdeploy.cli import options
from sockdeploy.cli.console import say
from sockdeploy.errors import LabError

_KIND_HELP = "campus needs root and network namespaces; auto falls back to loopback."


@click.group()
def lab() -> None:
    """A lab to practise in: the campus lab (root: namespaces, firewall, VPN) or the loopback lab."""


def _running() -> Dict[str, Any]:
    """Return the running lab's state, or raise LabError when none is up."""
    from sockdeploy.daemons import lab as labd

    data = labd.read_state()
    if not data or not data.get("running"):
        raise LabError("no lab is up", "start one with: sockdeploy lab up")
    return data


@lab.command("up")
@click.option("--kind", type=click.Choice(["auto", "campus", "loopback"]), default="auto", show_default=True, help=_KIND_HELP)
@options.as_json("Print the lab's state as JSON, and only that, on stdout.")
def lab_up(kind: str, as_json: bool) -> None:
    """Start a lab in the background and write a hosts.yaml for it.

    \b
    Example:
      sudo sockdeploy lab up
      sudo sockdeploy lab exec -- sockdeploy run ex5 --hosts "$(sockdeploy lab status --hosts-file)"
    """
    from sockdeploy.daemons import lab as labd

    data = labd.up(kind)
    if data.get("note"):
        say(f"note: {data['note']}")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"lab up ({data['kind']}): server {data.get('server')}; hosts file {data['hosts_file']}")
    if data.get("home_ns"):
        say(f"run commands on the Pi with: sockdeploy lab exec -- COMMAND   (ip netns exec {data['home_ns']} ...)")


@lab.command("down")
def lab_down() -> None:
    """Stop the background lab and remove everything it made.

    \b
    Example:
      sockdeploy lab down
    """
    from sockdeploy.daemons import lab as labd

    click.echo("lab down" if labd.down() else "no lab was up")


@lab.command("status")
@click.option("--hosts-file", "hosts_only", is_flag=True, help="Print only the lab's hosts.yaml path.")
@options.as_json("Print the lab's state as JSON, and only that, on stdout.")
def lab_status(hosts_only: bool, as_json: bool) -> None:
    """Show whether a lab is up, its kind, hosts and namespaces (exit 7 if none).

    \b
    Example:
      sockdeploy lab status
    """
    try:
        data = _running()
    except LabError:
        if as_json:
            click.echo(json.dumps({"running": False}))
        raise
    if hosts_only:
        click.echo(data["hosts_file"])
    elif as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for key in ("kind", "status", "pid", "server", "server_ip", "gateway", "home_ns", "campus_ns", "hosts_file"):
            if data.get(key) is not None:
                click.echo(f"{key:<10} {data[key]}")


@lab.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def lab_exec(command: Tuple[str, ...]) -> None:
    """Run COMMAND on the lab's Pi (inside the home namespace of the campus lab).

    \b
    Example:
      sockdeploy lab exec -- sockdeploy vpn status
    """
    import os
    import shutil

    from sockdeploy.daemons import lab as labd

    argv = labd.exec_prefix(_running()) + list(command)
    if argv[0] == "sockdeploy" or (len(argv) > 4 and argv[4] == "sockdeploy"):
        idx = argv.index("sockdeploy")
        argv[idx:idx + 1] = [sys.executable, "-m", "sockdeploy"]
    if not shutil.which(argv[0]):
        raise LabError(f"command not found: {argv[0]}", "check the command")
    os.execvp(argv[0], argv)
