"""`sockdeploy vpn status`: whether the openconnect VPN is up and carries traffic to the server host."""

from __future__ import annotations

import json
import socket
from typing import Optional

import click

from sockdeploy.cli import options
from sockdeploy.errors import NetworkPathError
from sockdeploy.output.table import render_table


@click.group()
def vpn() -> None:
    """Check the openconnect VPN."""


@vpn.command("status")
@options.hosts("hosts.yaml naming the server, for the route check (default ./hosts.yaml, then ~/.config/sockdeploy/).")
@options.as_json("Print the checks as JSON, and only that, on stdout.")
def vpn_status(hosts_path: Optional[str], as_json: bool) -> None:
    """Show whether the VPN is up and carries traffic to the server host (exit 5 if not).

    \b
    Example:
      sockdeploy vpn status
    """
    from sockdeploy.net import vpn as vpn_mod
    from sockdeploy.spec import hosts as config_mod

    cfg = config_mod.load_config(hosts_path)
    try:
        ip: Optional[str] = str(socket.getaddrinfo(cfg.server.host, None, socket.AF_INET)[0][4][0])
    except OSError:
        ip = None
    checks = vpn_mod.vpn_checks(ip, cfg.network.vpn_gateway)
    if as_json:
        click.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        rows = [[c.name, "ok" if c.ok else "FAIL", c.detail, c.fix] for c in checks]
        click.echo(render_table(rows, ["check", "result", "detail", "fix"]))
    failed = vpn_mod.first_failure(checks)
    if failed is not None:
        raise NetworkPathError(f"the VPN does not carry traffic to {cfg.server.host}: {failed.name}: {failed.detail}",
                               failed.fix or None)
