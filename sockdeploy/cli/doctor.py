"""`sockdeploy doctor`: check everything a run needs, in order, with a fix for each failure."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Callable, Optional

import click

from sockdeploy.cli import options
from sockdeploy.cli.console import prompt_fn, say

if TYPE_CHECKING:
    from sockdeploy.doctor.check import Check


@click.command()
@options.hosts("hosts.yaml to check (default ./hosts.yaml, then ~/.config/sockdeploy/hosts.yaml).")
@options.as_json("Print the checks as JSON, and only that, on stdout.")
def doctor(hosts_path: Optional[str], as_json: bool) -> None:
    """Check, in order, everything a run needs, with a fix for each failure (one SSH login).

    \b
    Checks: config, name resolution, SSH port, host key, login, compiler and
    shell on the server host, a free port, forwarding, VPN, direct reach.
    Example:
      sockdeploy doctor
    """
    from sockdeploy.doctor import doctor as doctor_mod

    on_check: Optional[Callable[[Check], None]] = None
    if not as_json and sys.stderr.isatty():
        def on_check(c: Check) -> None:
            say(f"  {c.name}: {c.result}")
    checks = doctor_mod.run_doctor(hosts_path, prompt=prompt_fn(), on_check=on_check)
    click.echo(json.dumps(doctor_mod.to_json(checks), indent=2) if as_json else doctor_mod.render_table(checks))
    code = doctor_mod.exit_code(checks)
    if code:
        raise click.exceptions.Exit(code)


def check_written_hosts(path: str) -> None:
    """Run the doctor on a hosts.yaml just written; keep the file when a check fails and say how to re-check."""
    from sockdeploy.doctor import doctor as doctor_mod

    say(f"checking it: sockdeploy doctor --hosts {path}")
    checks = doctor_mod.run_doctor(path, prompt=prompt_fn())
    click.echo(doctor_mod.render_table(checks))
    code = doctor_mod.exit_code(checks)
    if code:
        # the file is right even when the host is not reachable yet: keep it, say how to re-check
        say(f"sockdeploy: the doctor found a problem (exit {code}); {path} is kept. "
            f"After fixing it, check again with: sockdeploy doctor --hosts {path}")
        raise click.exceptions.Exit(code)
