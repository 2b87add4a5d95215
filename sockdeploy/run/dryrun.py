"""What a run would do, as the commands a person would type by hand. Contacts nothing."""

from __future__ import annotations

import random
import shlex
from dataclasses import dataclass
from typing import List, Optional

from sockdeploy.spec.hosts import Config
from sockdeploy.spec.payload import Payload, render

PI = "on the Pi (this machine)"
_IP_MARK = "@@SERVER_IP@@"  # survives shell quoting, then becomes "$SERVER_IP"


@dataclass(frozen=True)
class Step:
    what: str  # why this step exists
    where: str  # PI, or PI and which terminal
    commands: List[str]


def _ssh_target(cfg: Optional[Config]) -> str:
    if cfg is None:
        return "YOU@shell.cec.wustl.edu"
    return shlex.quote(f"{cfg.server.user}@{cfg.server.host}" if cfg.server.user else cfg.server.host)


def _shell_path(path: str) -> str:
    """PATH as one shell word; a leading ~/ stays unquoted so the shell still expands it."""
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)


def _recursive(payload: Payload, flag: str) -> str:
    """`flag` when the sources include folders (cp -R, scp -r), else nothing."""
    return flag if payload.dirs else ""


def _port_flags(cfg: Optional[Config], flag: str) -> str:
    return f"{flag} {cfg.server.port} " if cfg and cfg.server.port and cfg.server.port != 22 else ""


def _client_line(command: str, stdin: Optional[str], duration: Optional[float]) -> str:
    line = command
    if duration is not None:
        # what pressing Ctrl-C after that long amounts to
        line = f"timeout -s INT {duration:g} {line}"
    if stdin:
        one_line = stdin.endswith("\n") and "\n" not in stdin[:-1]
        fed = f"printf '%s\\n' {shlex.quote(stdin[:-1])}" if one_line else f"printf %s {shlex.quote(stdin)}"
        line = f"{fed} | {line}"
    return line


def _top_entries(payload: Payload) -> List[str]:
    """The payload folder's entries to copy by hand: its top-level files and the folders holding the rest."""
    tops = {f.name.split("/", 1)[0] for f in payload.files} | {d.split("/", 1)[0] for d in payload.dirs}
    return sorted(tops)


def plan(payload: Payload, cfg: Optional[Config], *, via: Optional[str] = None, port: Optional[int] = None,
         local: bool = False) -> List[Step]:
    """Return the manual steps equivalent to `sockdeploy run` with these settings."""
    files = " ".join(shlex.quote(name) for name in _top_entries(payload))
    if payload.local or local:
        return _local_plan(payload, files, port)
    return _remote_plan(payload, cfg, files, via, port)


def _local_plan(payload: Payload, files: str, port: Optional[int]) -> List[Step]:
    """Return the steps of a run on this machine alone (server and client in two terminals)."""
    sock = "$HOME/sockdeploy-manual/sock"
    values = {"socket": sock, "ip": "127.0.0.1", "host": "localhost", "port": port or 31522}

    def local_line(command: str) -> str:
        return render(command, values).replace(shlex.quote(sock), f'"{sock}"')

    steps = [Step("make a private folder and copy the sources into it", PI,
                  ["mkdir -m 700 -p ~/sockdeploy-manual && cd ~/sockdeploy-manual",
                   f"cp {_recursive(payload, '-R ')}-- {files} ."])]
    builds = [b for b in (payload.server.build, payload.client.build) if b]
    if builds:
        steps.append(Step("compile both programs", PI, builds))
    steps.append(Step("start the server in one terminal and leave it running", PI + ", terminal 1",
                      [local_line(payload.server.commands[0])]))
    steps.append(Step("run the client in a second terminal (cd ~/sockdeploy-manual first), once per run",
                      PI + ", terminal 2", [_client_line(local_line(r.command), r.stdin, r.duration) for r in payload.runs]))
    steps.append(Step("copy both terminals' output into your answers, then clean up", PI,
                      ["rm -rf ~/sockdeploy-manual"]))
    return steps


def _remote_plan(payload: Payload, cfg: Optional[Config], files: str, via: Optional[str],
                 port: Optional[int]) -> List[Step]:
    """Return the steps of a run with the server on the login host and the client here."""
    target = _ssh_target(cfg)
    workdir = (cfg.server.workdir if cfg else "~/.sockdeploy").rstrip("/") + "/manual-" + payload.name
    rdir = _shell_path(workdir)
    lo, hi = cfg.network.ports if cfg else (30000, 40000)
    chosen = port or random.Random(payload.name).randint(lo, hi)
    path = via or (cfg.network.via if cfg else "auto")
    host = cfg.server.host if cfg else "shell.cec.wustl.edu"
    ssh = f"ssh {_port_flags(cfg, '-p')}{target}"
    steps = [
        Step("make a private folder on the login host (only you can read it)", PI,
             [f"{ssh} {shlex.quote(f'umask 077 && mkdir -p -- {rdir}')}"]),
        Step("copy the server's sources there", PI,
             [f"scp {_recursive(payload, '-r ')}{_port_flags(cfg, '-P')}-- {files} {target}:{rdir}/"]),
    ]
    if payload.server.build:
        steps.append(Step("compile the server on the login host", PI,
                          [f"{ssh} {shlex.quote(f'cd {rdir} && {payload.server.build}')}"]))
    server_line = render(payload.server.commands[0], {"port": chosen})
    steps.append(Step(f"start the server on port {chosen} (any free port in {lo}-{hi}; sockdeploy finds a free one "
                      "for you) and leave this terminal open", PI + ", terminal 1",
                      [f"ssh -t {_port_flags(cfg, '-p')}{target} {shlex.quote(f'cd {rdir} && {server_line}')}"]))
    ip = _path_steps(steps, payload, cfg, path, chosen, host)
    if payload.client.build:
        steps.append(Step("compile the client here", PI + ", terminal 2",
                          [f"mkdir -m 700 -p ~/sockdeploy-manual && cp {_recursive(payload, '-R ')}-- " + files
                           + " ~/sockdeploy-manual/ && cd ~/sockdeploy-manual", payload.client.build]))
    values = {"ip": ip, "host": "localhost" if ip == "127.0.0.1" else host, "port": chosen}
    steps.append(Step("run the client, once per run (it connects to " + ("the tunnel" if ip == "127.0.0.1" else "$SERVER_IP")
                      + ")", PI + ", terminal 2",
                      [_client_line(render(r.command, values).replace(_IP_MARK, '"$SERVER_IP"'), r.stdin, r.duration)
                       for r in payload.runs]))
    end = [] if payload.server_exits else ["# in terminal 1: press Ctrl-C to stop the server"]
    if path in ("tunnel", "auto"):
        end.append(f"pkill -f {shlex.quote(f'ssh -f -N.*-L {chosen}:')}   # close the tunnel")
    end.append(f"{ssh} {shlex.quote(f'rm -rf -- {rdir}')}")
    steps.append(Step("stop what is left, copy both terminals' output into your answers, and remove the folder", PI, end))
    return steps


def _path_steps(steps: List[Step], payload: Payload, cfg: Optional[Config], path: str, chosen: int, host: str) -> str:
    """Add the steps that open the network path to STEPS; return the address the client connects to."""
    target = _ssh_target(cfg)
    if path in ("tunnel", "auto"):
        note = ("open an SSH tunnel: port {p} here leads to port {p} on the login host"
                + (" (auto: sockdeploy first checks whether the port is reachable directly and only then "
                   "decides; off campus it is not)" if path == "auto" else ""))
        steps.append(Step(note.format(p=chosen), PI + ", terminal 2",
                          [f"ssh -f -N {_port_flags(cfg, '-p')}{target} -L {chosen}:localhost:{chosen}"]))
        if payload.protocol == "udp":
            steps.append(Step("an SSH tunnel carries TCP only: for this UDP payload connect the VPN instead and use "
                              "the server's IP below (sockdeploy relays UDP over its own connection)", PI, []))
        return "127.0.0.1"
    gateway = cfg.network.vpn_gateway if cfg else "danforthvpn.wustl.edu"
    steps.append(Step((f"with the VPN connected (sudo openconnect {gateway}), " if path == "vpn" else "")
                      + "look up the server's numeric IP address once; the client commands use it", PI + ", terminal 2",
                      [f"SERVER_IP=$(getent hosts {shlex.quote(host)} | awk '{{print $1; exit}}'); echo \"$SERVER_IP\""]))
    return _IP_MARK


def render_plan(steps: List[Step], payload: Payload, cfg: Optional[Config]) -> str:
    """Return the steps as text a person can follow."""
    out = [f"# sockdeploy run {payload.name} --dry-run: nothing was contacted. By hand, this run is:"]
    if cfg is None:
        out.append("# (no hosts.yaml found: YOU stands for your login name; `sockdeploy init` writes one)")
    for n, step in enumerate(steps, 1):
        out.append("")
        out.append(f"# {n}. {step.what}  [{step.where}]")
        out += [f"  {c}" for c in step.commands]
    out.append("")
    if any(c.startswith(("ssh ", "scp ")) for s in steps for c in s.commands):
        out.append("# sockdeploy does all of this over one SSH connection (one login) and keeps both outputs.")
    else:
        out.append("# sockdeploy does all of this in one command and keeps both outputs.")
    return "\n".join(out) + "\n"
