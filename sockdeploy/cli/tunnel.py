"""`sockdeploy tunnel open|status|close|print`: background tunnels to the course port, like `ssh -f -N -L`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import click

from sockdeploy.cli import options
from sockdeploy.cli.console import say
from sockdeploy.errors import UsageError
from sockdeploy.output.table import render_table
from sockdeploy.spec.hosts import Config

if TYPE_CHECKING:
    from sockdeploy.daemons.tunnel import TunnelState

_HOSTS_FILTER_HELP = "Only the tunnels opened with this hosts.yaml (default: every tunnel)."


@click.group()
def tunnel() -> None:
    """Background tunnels to the course port, like `ssh -f -N -L`."""


def _tunnel_port(cfg: Config, port: Optional[int]) -> int:
    if port is not None:
        return port
    from sockdeploy.run.netpath import local_busy_ports
    from sockdeploy.run.ports import choose_port

    return choose_port(local_busy_ports(), cfg.network.ports, set())


def _opened_with(hosts_path: Optional[str]) -> List[TunnelState]:
    """Return the open tunnels, only those opened with `hosts_path` when one is given."""
    from sockdeploy.daemons import tunnel as tunneld
    from sockdeploy.spec import hosts as config_mod

    found = tunneld.list_tunnels()
    if hosts_path is None:
        return found
    wanted = config_mod.find_hosts_file(hosts_path).resolve()
    return [t for t in found if t.data.get("hosts") and Path(t.data["hosts"]).resolve() == wanted]


@tunnel.command("open")
@click.option("--port", type=options.PORT_RANGE, help="Port on both ends (default: a free one in network.ports).")
@options.hosts()
@click.option("--local-port", type=options.PORT_RANGE, help="Listen here on another port than the server's.")
@options.accept_new()
@options.as_json("Print the tunnel's state as JSON, and only that, on stdout.")
def tunnel_open(port: Optional[int], hosts_path: Optional[str], local_port: Optional[int], accept_new: bool,
                as_json: bool) -> None:
    """Open a tunnel that outlives this command: 127.0.0.1:PORT here reaches PORT on the login host.

    With client.host set to a Pi over SSH, the tunnel listens on the Pi's
    127.0.0.1:PORT instead (joined here to the login host's connection), for
    typing the client command on the Pi by hand.

    \b
    Example:
      sockdeploy tunnel open --port 31522
      ./client 127.0.0.1 31522
    """
    from sockdeploy.daemons import tunnel as tunneld
    from sockdeploy.spec import hosts as config_mod

    cfg = config_mod.load_config(hosts_path)
    port = _tunnel_port(cfg, port)
    assert cfg.path is not None  # load_config always records where it read the file
    st = tunneld.open_tunnel(cfg.path, port, accept_new=accept_new, local_port=local_port)
    if as_json:
        click.echo(json.dumps(st.data, indent=2))
        return
    click.echo(f"tunnel open: {', '.join(st.data.get('listen', []))} -> 127.0.0.1:{port} on {st.data.get('host')} (pid {st.pid})")
    where = f" on {st.data['client_host']}" if st.data.get("client_host") else ""
    say(f"run your client{where} against 127.0.0.1 {st.port}; close it with: sockdeploy tunnel close --port {st.port}")


@tunnel.command("status")
@options.hosts(_HOSTS_FILTER_HELP)
@options.as_json("Print the tunnels as JSON, and only that, on stdout.")
def tunnel_status(hosts_path: Optional[str], as_json: bool) -> None:
    """List open tunnels and check each (process, listener, SSH connection).

    \b
    Example:
      sockdeploy tunnel status
    """
    reports = [t.report() for t in _opened_with(hosts_path)]
    if as_json:
        click.echo(json.dumps(reports, indent=2))
        return
    if not reports:
        click.echo("no tunnels open")
        return
    rows = [[r["local_port"], f"{r.get('host', '?')}:{r.get('remote_port')}", r.get("pid"), "yes" if r["running"] else "NO",
             "yes" if r["listening"] else "NO", "yes" if r["ssh_alive"] else r.get("status", "NO"), r.get("reconnects", 0)]
            for r in reports]
    click.echo(render_table(rows, ["port", "to", "pid", "running", "listening", "ssh", "reconnects"]))


@tunnel.command("close")
@click.option("--port", type=options.PORT_RANGE, help="Close only this one (default: all).")
@options.hosts(_HOSTS_FILTER_HELP)
def tunnel_close(port: Optional[int], hosts_path: Optional[str]) -> None:
    """Close background tunnels.

    \b
    Example:
      sockdeploy tunnel close --port 31522
    """
    from sockdeploy.daemons import tunnel as tunneld

    if hosts_path is None:
        closed = tunneld.close_tunnels(port)
    else:
        ports = [t.port for t in _opened_with(hosts_path) if port is None or t.port == port]
        if port is not None and not ports:
            raise UsageError(f"no tunnel opened with {hosts_path} is open on port {port}",
                             "list them with: sockdeploy tunnel status")
        closed = [p for one in ports for p in tunneld.close_tunnels(one)]
    click.echo(f"closed: {', '.join(map(str, closed))}" if closed else "no tunnels were open")


@tunnel.command("print")
@click.option("--port", type=options.PORT_RANGE, help="Course port (default: a free one in network.ports).")
@options.hosts()
def tunnel_print(port: Optional[int], hosts_path: Optional[str]) -> None:
    """Print the equivalent OpenSSH command, an ~/.ssh/config stanza and a systemd user unit.

    \b
    Example:
      sockdeploy tunnel print --port 31522
    """
    import getpass
    import shlex

    from sockdeploy.spec import hosts as config_mod

    cfg = config_mod.load_config(hosts_path)
    port = _tunnel_port(cfg, port)
    user = cfg.server.user or getpass.getuser()
    host = cfg.server.host
    login = f"{user}@{host}"
    port_opt = f" -p {cfg.server.port}" if cfg.server.port and cfg.server.port != 22 else ""

    def fill(name: str) -> str:
        text = (_recipes_folder() / name).read_text()
        for key, value in (("{host}", host), ("{user}", user), ("{port}", str(port)), ("{login}", login)):
            text = text.replace(key, value)
        return text

    click.echo("# The course's command (the login host then connects to its own loopback):")
    click.echo(f"ssh -f -N{port_opt} -L 127.0.0.1:{port}:127.0.0.1:{port} {shlex.quote(login)}")
    click.echo(f"# then: ./client 127.0.0.1 {port}\n")
    click.echo("# ~/.ssh/config:")
    click.echo(fill("ssh_config.example"))
    click.echo("# ~/.config/systemd/user/sockdeploy-tunnel@.service:")
    click.echo(fill("sockdeploy-tunnel@.service"))


def _recipes_folder() -> Path:
    """Return the tunnels/ recipes: beside the package in a checkout, inside it when installed."""
    package = Path(__file__).resolve().parent.parent
    folder = package.parent / "tunnels"
    return folder if folder.is_dir() else package / "tunnels"
