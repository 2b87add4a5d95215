"""Command line: thin commands over the library; the only place that maps errors to exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import click

from sockdeploy import __version__
from sockdeploy.errors import LabError, SockdeployError, Terminated

EXIT_CODES = """\b
Exit codes: 0 ok, 2 config/usage, 3 SSH connection/authentication/host key,
4 build, 5 network path, 6 the programs failed or timed out, 7 lab,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM)."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated("terminated (SIGTERM)", "partial transcripts are kept in the run folder")


def report_error(err: SockdeployError) -> None:
    """Print an error as what + how to fix, after any program output it carries."""
    if err.output:
        if err.command:
            click.echo(f"$ {err.command}", err=True)
        click.echo(err.output.rstrip("\n"), err=True)
    click.echo(f"sockdeploy: error: {err.headline()}", err=True)
    if err.hint:
        click.echo(f"  hint: {err.hint}", err=True)


def _fail(err: SockdeployError) -> "click.exceptions.Exit":
    report_error(err)
    return click.exceptions.Exit(err.exit_code)


def _confirm_fn() -> Optional[Callable[[str], bool]]:
    if sys.stdin.isatty():
        from sockdeploy.session import terminal_confirm

        return terminal_confirm
    return None


def _prompt_fn() -> Optional[Callable[[str, bool], str]]:
    if sys.stdin.isatty():
        from sockdeploy.session import terminal_prompt

        return terminal_prompt
    return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="sockdeploy")
def cli() -> None:
    """Run a client/server socket exercise across two hosts with one command.

    \b
    Example:
      sockdeploy run ex5            # server on the login host, client here
      sockdeploy demo               # the same on a built-in loopback lab
    """


@cli.command()
@click.argument("target")
@click.option("--payload", "payload_dir", metavar="DIR", help="Run your own sources in DIR with TARGET's plan.")
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml to use (default ./hosts.yaml, then ~/.config/sockdeploy/).")
@click.option("--via", type=click.Choice(["auto", "direct", "tunnel", "vpn"]), help="How the client reaches the server (overrides network.via).")
@click.option("--port", type=click.IntRange(1024, 65535), help="Pin the server's port instead of choosing a free one.")
@click.option("--local", is_flag=True, help="Run both programs on this machine.")
@click.option("--out", default="runs", show_default=True, metavar="DIR", help="Where run folders are created.")
@click.option("--accept-new", is_flag=True, help="Store an unknown host key (a changed key is still refused).")
@click.option("--keep-remote", is_flag=True, help="Keep the remote run directory for inspection.")
@click.option("--json", "as_json", is_flag=True, help="Print run.json, and only that, on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print no progress.")
@click.option("-v", "--verbose", is_flag=True, help="Print more detail.")
def run(target: str, payload_dir: Optional[str], hosts_path: Optional[str], via: Optional[str], port: Optional[int],
        local: bool, out: str, accept_new: bool, keep_remote: bool, as_json: bool, quiet: bool, verbose: bool) -> None:
    """Deploy, build and run TARGET (ex1..ex6, a bundled payload, or a payload folder).

    \b
    Examples:
      sockdeploy run ex5
      sockdeploy run ex5 --payload ~/studio/inet   # your server.c and client.c
      sockdeploy run ./my-payload --port 31522
    """
    from sockdeploy import config as config_mod
    from sockdeploy import payload as payload_mod
    from sockdeploy.orchestrator import RunOptions, run_payload
    from sockdeploy.progress import Progress

    try:
        payload = payload_mod.resolve(target, payload_dir)
        cfg = None
        if not (payload.local or local) or hosts_path:
            cfg = config_mod.load_config(hosts_path)
    except SockdeployError as err:
        raise _fail(err)
    progress = Progress(quiet=quiet, verbose=verbose)
    opts = RunOptions(out=Path(out), via=via, port=port, local=local, accept_new=accept_new, keep_remote=keep_remote,
                      confirm=_confirm_fn(), prompt=_prompt_fn())
    result = run_payload(payload, cfg, opts, progress)
    if as_json:
        click.echo(json.dumps(result.record, indent=2))
    if result.error is not None:
        raise _fail(result.error)
    if not as_json and not quiet:
        click.echo(f"run folder: {result.folder.path}", err=True)
        click.echo(f"transcript: {result.folder.path / 'transcript.md'}", err=True)


@cli.command()
@click.option("--out", default="runs", show_default=True, metavar="DIR", help="Where run folders are created.")
@click.option("--kind", type=click.Choice(["auto", "campus", "loopback"]), default="auto", show_default=True,
              help="campus (root): the Pi off campus, through the tunnel; loopback: sshd on 127.0.0.1.")
@click.option("-q", "--quiet", is_flag=True, help="Print no progress.")
def demo(out: str, kind: str, quiet: bool) -> None:
    """Run exercises 5 and 6 on a built-in lab and print both transcripts; no account needed.

    As root, the campus lab puts the "Pi" off campus behind a firewall, so the
    run takes the SSH tunnel; otherwise a throwaway sshd on loopback serves.

    \b
    Example:
      sockdeploy demo
    """
    from sockdeploy import labd
    from sockdeploy.progress import Progress

    progress = Progress(quiet=quiet)
    try:
        chosen, note = labd.choose_kind(kind)
        if note:
            progress.info(f"note: {note}")
        failed = _demo_campus(Path(out), progress) if chosen == "campus" else _demo_loopback(Path(out), progress)
    except SockdeployError as err:
        raise _fail(err)
    if failed is not None:
        raise _fail(failed)


def _demo_loopback(out: Path, progress) -> Optional[SockdeployError]:  # type: ignore[no-untyped-def]
    from sockdeploy import config as config_mod
    from sockdeploy import payload as payload_mod
    from sockdeploy.lab import LoopbackLab
    from sockdeploy.orchestrator import RunOptions, run_payload

    with LoopbackLab() as lab:
        progress.info(f"lab: sshd on 127.0.0.1:{lab.port} (folder {lab.dir})")
        cfg = config_mod.load_config(str(lab.hosts_file))
        for target in ("ex5", "ex6"):
            progress.info(f"--- sockdeploy run {target} (on the loopback lab) ---")
            result = run_payload(payload_mod.resolve(target), cfg, RunOptions(out=out), progress)
            click.echo((result.folder.path / "transcript.md").read_text())
            if result.error is not None:
                return result.error
        progress.info(f"SSH logins seen by the lab's sshd: {lab.login_count()} (one per run)")
    return None


def _demo_campus(out: Path, progress) -> Optional[SockdeployError]:  # type: ignore[no-untyped-def]
    from sockdeploy.campus import CampusLab
    from sockdeploy.errors import ProgramError

    out = out.resolve()
    with CampusLab() as lab:
        hosts = lab.write_hosts("auto")
        progress.info(f"campus lab: login host {lab.server_name} ({lab.server_ip}) behind a firewall; "
                      f"this run plays the Pi in namespace {lab.home_ns}, off campus without the VPN")
        for target in ("ex5", "ex6"):
            progress.info(f"--- sockdeploy run {target} --via auto (on the Pi) ---")
            proc = lab.home([sys.executable, "-m", "sockdeploy", "run", target, "--hosts", str(hosts), "--out", str(out), "--json"],
                            capture_output=False, stdout=subprocess.PIPE, text=True)
            try:
                record = json.loads(proc.stdout)
            except ValueError:
                return ProgramError(f"the demo run of {target} printed no result (exit {proc.returncode})", "run it again with -v")
            click.echo(Path(record["run_dir"], "transcript.md").read_text())
            if not record["ok"]:
                err = record["error"] or {}
                return ProgramError(err.get("message", "the demo run failed"), err.get("hint"))
        progress.info(f"SSH logins seen by the login host's sshd: {lab.login_count()} (one per run)")
    return None


@cli.command("payloads")
def payloads_cmd() -> None:
    """List the bundled exercises and payloads.

    \b
    Example:
      sockdeploy payloads
    """
    from sockdeploy import payload as payload_mod

    for name in payload_mod.bundled_names():
        try:
            p = payload_mod.resolve(name)
            where = "one host" if p.local else "two hosts"
            click.echo(f"{name:<14} {where:<9}  {p.description}  [{p.origin}]")
        except SockdeployError as err:
            click.echo(f"{name:<14} broken: {err.headline()}")


def _table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*map(str, r)) for r in rows])


@cli.command()
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml to check.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(hosts_path: Optional[str], as_json: bool) -> None:
    """Check, in order, everything a run needs, with a fix for each failure (one SSH login).

    \b
    Checks: config, name resolution, SSH port, host key, login, compiler and
    shell on the server host, a free port, forwarding, VPN, direct reach.
    Example:
      sockdeploy doctor
    """
    from sockdeploy import doctor as doctor_mod

    on_check = None
    if not as_json and sys.stderr.isatty():
        def on_check(c) -> None:  # type: ignore[no-untyped-def]
            click.echo(f"  {c.name}: {c.result}", err=True)
    checks = doctor_mod.run_doctor(hosts_path, prompt=_prompt_fn(), on_check=on_check)
    click.echo(json.dumps(doctor_mod.to_json(checks), indent=2) if as_json else doctor_mod.render_table(checks))
    code = doctor_mod.exit_code(checks)
    if code:
        raise click.exceptions.Exit(code)


@cli.group()
def vpn() -> None:
    """Check the openconnect VPN."""


@vpn.command("status")
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml naming the server (for the route check).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def vpn_status(hosts_path: Optional[str], as_json: bool) -> None:
    """Show whether the VPN is up and carries traffic to the server host (exit 5 if not).

    \b
    Example:
      sockdeploy vpn status
    """
    import socket as _socket

    from sockdeploy import config as config_mod
    from sockdeploy import vpn as vpn_mod

    try:
        cfg = config_mod.load_config(hosts_path)
    except SockdeployError as err:
        raise _fail(err)
    try:
        ip: Optional[str] = _socket.getaddrinfo(cfg.server.host, None, _socket.AF_INET)[0][4][0]
    except OSError:
        ip = None
    checks = vpn_mod.vpn_checks(ip, cfg.network.vpn_gateway)
    if as_json:
        click.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        click.echo(_table([[c.name, "ok" if c.ok else "FAIL", c.detail, c.fix] for c in checks], ["check", "result", "detail", "fix"]))
    if vpn_mod.first_failure(checks) is not None:
        raise click.exceptions.Exit(5)


@cli.group()
def tunnel() -> None:
    """Background tunnels to the course port, like `ssh -f -N -L`."""


def _tunnel_port(cfg, port: Optional[int]) -> int:  # type: ignore[no-untyped-def]
    if port is not None:
        return port
    from sockdeploy import paths, process

    return process.choose_port(paths.local_busy_ports(), cfg.network.ports, set())


@tunnel.command("open")
@click.option("--port", type=click.IntRange(1024, 65535), help="Port on both ends (default: a free one in network.ports).")
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml to use.")
@click.option("--local-port", type=click.IntRange(1024, 65535), help="Listen here on another port than the server's.")
@click.option("--accept-new", is_flag=True, help="Store an unknown host key.")
def tunnel_open(port: Optional[int], hosts_path: Optional[str], local_port: Optional[int], accept_new: bool) -> None:
    """Open a tunnel that outlives this command: 127.0.0.1:PORT here reaches PORT on the login host.

    \b
    Example:
      sockdeploy tunnel open --port 31522
      ./client 127.0.0.1 31522
    """
    from sockdeploy import config as config_mod
    from sockdeploy import tunneld

    try:
        cfg = config_mod.load_config(hosts_path)
        port = _tunnel_port(cfg, port)
        st = tunneld.open_tunnel(cfg.path, port, accept_new=accept_new, local_port=local_port)  # type: ignore[arg-type]
    except SockdeployError as err:
        raise _fail(err)
    click.echo(f"tunnel open: {', '.join(st.data.get('listen', []))} -> 127.0.0.1:{port} on {st.data.get('host')} (pid {st.pid})")
    click.echo(f"run your client against 127.0.0.1 {st.port}; close it with: sockdeploy tunnel close --port {st.port}")


@tunnel.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tunnel_status(as_json: bool) -> None:
    """List open tunnels and check each (process, listener, SSH connection).

    \b
    Example:
      sockdeploy tunnel status
    """
    from sockdeploy import tunneld

    reports = [t.report() for t in tunneld.list_tunnels()]
    if as_json:
        click.echo(json.dumps(reports, indent=2))
        return
    if not reports:
        click.echo("no tunnels open")
        return
    rows = [[r["local_port"], f"{r.get('host', '?')}:{r.get('remote_port')}", r.get("pid"), "yes" if r["running"] else "NO",
             "yes" if r["listening"] else "NO", "yes" if r["ssh_alive"] else r.get("status", "NO"), r.get("reconnects", 0)]
            for r in reports]
    click.echo(_table(rows, ["port", "to", "pid", "running", "listening", "ssh", "reconnects"]))


@tunnel.command("close")
@click.option("--port", type=click.IntRange(1024, 65535), help="Close only this one (default: all).")
def tunnel_close(port: Optional[int]) -> None:
    """Close background tunnels.

    \b
    Example:
      sockdeploy tunnel close --port 31522
    """
    from sockdeploy import tunneld

    try:
        closed = tunneld.close_tunnels(port)
    except SockdeployError as err:
        raise _fail(err)
    click.echo(f"closed: {', '.join(map(str, closed))}" if closed else "no tunnels were open")


@tunnel.command("print")
@click.option("--port", type=click.IntRange(1024, 65535), help="Course port (default: a free one in network.ports).")
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml to use.")
def tunnel_print(port: Optional[int], hosts_path: Optional[str]) -> None:
    """Print the equivalent OpenSSH command, an ~/.ssh/config stanza and a systemd user unit.

    \b
    Example:
      sockdeploy tunnel print --port 31522
    """
    import getpass
    import shlex

    from sockdeploy import config as config_mod

    try:
        cfg = config_mod.load_config(hosts_path)
        port = _tunnel_port(cfg, port)
    except SockdeployError as err:
        raise _fail(err)
    user = cfg.server.user or getpass.getuser()
    host = cfg.server.host
    login = f"{user}@{host}"
    port_opt = f" -p {cfg.server.port}" if cfg.server.port and cfg.server.port != 22 else ""
    folder = Path(__file__).resolve().parent.parent / "tunnels"
    if not folder.is_dir():
        folder = Path(__file__).resolve().parent / "tunnels"

    def fill(name: str) -> str:
        text = (folder / name).read_text()
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


@cli.group()
def lab() -> None:
    """A lab to practise in: the campus lab (root: namespaces, firewall, VPN) or the loopback lab."""


@lab.command("up")
@click.option("--kind", type=click.Choice(["auto", "campus", "loopback"]), default="auto", show_default=True,
              help="campus needs root and network namespaces; auto falls back to loopback.")
def lab_up(kind: str) -> None:
    """Start a lab in the background and write a hosts.yaml for it.

    \b
    Example:
      sudo sockdeploy lab up
      sudo sockdeploy lab exec -- sockdeploy run ex5 --hosts "$(sockdeploy lab status --hosts-file)"
    """
    from sockdeploy import labd

    try:
        data = labd.up(kind)
    except SockdeployError as err:
        raise _fail(err)
    if data.get("note"):
        click.echo(f"note: {data['note']}", err=True)
    click.echo(f"lab up ({data['kind']}): server {data.get('server')}; hosts file {data['hosts_file']}")
    if data.get("home_ns"):
        click.echo(f"run commands on the Pi with: sockdeploy lab exec -- COMMAND   (ip netns exec {data['home_ns']} ...)")


@lab.command("down")
def lab_down() -> None:
    """Stop the background lab and remove everything it made.

    \b
    Example:
      sockdeploy lab down
    """
    from sockdeploy import labd

    click.echo("lab down" if labd.down() else "no lab was up")


@lab.command("status")
@click.option("--hosts-file", "hosts_only", is_flag=True, help="Print only the lab's hosts.yaml path.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def lab_status(hosts_only: bool, as_json: bool) -> None:
    """Show whether a lab is up, its kind, hosts and namespaces (exit 7 if none).

    \b
    Example:
      sockdeploy lab status
    """
    from sockdeploy import labd

    data = labd.read_state()
    if not data or not data.get("running"):
        if as_json:
            click.echo(json.dumps({"running": False}))
        else:
            click.echo("no lab is up (start one with: sockdeploy lab up)", err=not hosts_only)
        raise click.exceptions.Exit(7)
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
def lab_exec(command: tuple) -> None:
    """Run COMMAND on the lab's Pi (inside the home namespace of the campus lab).

    \b
    Example:
      sockdeploy lab exec -- sockdeploy vpn status
    """
    import os
    import shutil

    from sockdeploy import labd

    data = labd.read_state()
    if not data or not data.get("running"):
        raise _fail(LabError("no lab is up", "start one with: sockdeploy lab up"))
    argv = labd.exec_prefix(data) + list(command)
    if argv[0] == "sockdeploy" or (len(argv) > 4 and argv[4] == "sockdeploy"):
        idx = argv.index("sockdeploy")
        argv[idx:idx + 1] = [sys.executable, "-m", "sockdeploy"]
    if not shutil.which(argv[0]):
        raise _fail(LabError(f"command not found: {argv[0]}", "check the command"))
    os.execvp(argv[0], argv)


def _quiet_libraries() -> None:
    import logging

    # paramiko logs channel failures at WARNING; sockdeploy reports them itself.
    for name in ("paramiko", "invoke", "fabric"):
        logging.getLogger(name).addHandler(logging.NullHandler())
        logging.getLogger(name).propagate = False


def main(argv: Optional[List[str]] = None) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    _quiet_libraries()
    try:
        cli.main(args=argv, prog_name="sockdeploy", standalone_mode=True)
    except SockdeployError as err:  # raised outside a run (e.g. SIGTERM during start-up)
        report_error(err)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("sockdeploy: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
