"""Host checks: the tools on the server host and a free port there, and the client host when it is reached over SSH.

Both hosts run the shipped program doctor_tools.sh, which lists the tools it
finds and the ports in use.
"""

from __future__ import annotations

import shlex
from typing import Dict, Optional, Tuple

from sockdeploy.doctor.check import CLIENT, FAIL, FORWARDING, FREE_PORT, OK, TOOLS, WARN
from sockdeploy.doctor.findings import Findings
from sockdeploy.doctor.sshchecks import check_forwarding
from sockdeploy.errors import ConnectError, NetworkPathError, ScriptTimeout, SockdeployError
from sockdeploy.remote import marker
from sockdeploy.remote.scripts import load
from sockdeploy.run.ports import choose_port, parse_busy_ports
from sockdeploy.ssh.session import SshSession

REMOTE_TIMEOUT = 30.0
TOOLS_PROGRAM = "doctor_tools.sh"
TOOLS_WANTED = ("gcc", "cc", "sh", "python3", "tar", "base64", "setsid", "stdbuf")
TOOLS_REQUIRED = ("sh", "tar", "base64", "setsid")
TOOLS_OPTIONAL = {
    "python3": "only payloads written in Python need it",
    "stdbuf": "keeps the server's output line by line if it is killed",
}

Tools = Dict[str, Optional[str]]


def tools_command() -> str:
    """Return the command line that runs doctor_tools.sh for TOOLS_WANTED."""
    return " ".join(shlex.quote(w) for w in ["/bin/sh", "-c", load(TOOLS_PROGRAM), TOOLS_PROGRAM, *TOOLS_WANTED])


def parse_tools_output(text: str) -> Tuple[Tools, str]:
    """Split doctor_tools.sh output into {tool: path or None, "gcc_version": ...} and the port listing."""
    tools: Tools = {}
    lines = text.splitlines(keepends=True)
    for n, line in enumerate(lines):
        found = marker.parse_line(line)
        if found is None:
            continue
        if found.tag == "PORTS":
            return tools, "".join(lines[n + 1:])
        if found.tag == "HAVE":
            name, _, where = found.value.partition(" ")
            tools[name] = where or name
        elif found.tag == "MISSING":
            tools[found.value] = None
        elif found.tag == "GCC":
            tools["gcc_version"] = found.value
    return tools, ""


def check_server_host(f: Findings, session: SshSession) -> None:
    """Check the server host's tools and a free port there, then forwarding, over the logged-in session."""
    try:
        result = session.run(tools_command(), timeout=REMOTE_TIMEOUT)
    except ScriptTimeout:
        f.report.add(TOOLS, FAIL, f"the check script did not finish within {REMOTE_TIMEOUT:g} s",
                     "the server host may be overloaded; try again later")
        f.report.skip_until(FREE_PORT, "the server host did not answer")
        check_forwarding(f, session)
        return
    except ConnectError as err:
        f.report.fail(TOOLS, err)
        f.report.skip_until(FORWARDING, "the SSH connection was lost")
        return
    tools, ports_text = parse_tools_output(result.stdout)
    if not tools:
        f.report.add(TOOLS, FAIL, f"the check script did not run (exit status {result.exit_status}): "
                     f"{result.stderr.strip() or 'no output'}",
                     "the server host needs a POSIX /bin/sh with base64 (coreutils)")
        f.report.skip_until(FREE_PORT, "the check script did not run")
    else:
        _check_tools(f, tools)
        _check_free_port(f, ports_text)
    check_forwarding(f, session)


def _check_tools(f: Findings, tools: Tools) -> None:
    missing = [t for t in TOOLS_REQUIRED if not tools.get(t)]
    compiler = tools.get("gcc") or tools.get("cc")
    if not compiler:
        missing.insert(0, "gcc")
    found = [t for t in TOOLS_WANTED if tools.get(t) and t not in ("gcc", "cc")]
    parts = [f"compiler: {tools.get('gcc_version') or compiler or 'none'}", "found: " + " ".join(found)]
    notes = [f"no {t} ({why})" for t, why in TOOLS_OPTIONAL.items() if not tools.get(t)]
    if missing:
        f.report.add(TOOLS, FAIL, f"missing: {', '.join(missing)}; " + "; ".join(parts + notes),
                     f"ask the server host's admins to install {', '.join(missing)} "
                     "(Debian: build-essential coreutils tar util-linux), or use another server host")
    elif not tools.get("gcc"):
        f.report.add(TOOLS, WARN, "; ".join(parts + ["no gcc: only cc"] + notes),
                     "the built-in exercises build with gcc: edit payload.yaml to use cc, or install gcc")
    else:
        f.report.add(TOOLS, OK, "; ".join(parts + notes))


def _check_free_port(f: Findings, ports_text: str) -> None:
    lo, hi = f.cfg.network.ports
    busy = parse_busy_ports(ports_text)
    try:
        f.free_port = choose_port(busy, (lo, hi), set())
    except NetworkPathError as err:
        f.report.fail(FREE_PORT, err)
        return
    if not ports_text.strip():
        f.report.add(FREE_PORT, WARN, f"cannot list busy ports there (no /proc/net/tcp, no netstat); "
                     f"{f.free_port} was picked without checking", "a run may meet 'address in use' and retry")
        return
    used = len([p for p in busy if lo <= p <= hi])
    f.report.add(FREE_PORT, OK, f"{f.free_port} is free ({used} of {hi - lo + 1} ports in {lo}-{hi} in use)")


def check_client_host(f: Findings, pi: Optional[SshSession]) -> None:
    """Log in to the client host when it is reached over SSH (`pi`); the VPN and path checks then run there."""
    ssh = f.cfg.client.ssh
    if ssh is None or pi is None:
        f.report.add(CLIENT, OK, "this machine (client.host: local)")
        return
    try:
        pi.open()
        result = pi.run(tools_command(), timeout=REMOTE_TIMEOUT)
    except SockdeployError as err:
        pi.close()
        f.report.add(CLIENT, FAIL, f"{ssh.host}: {err.headline()}", err.hint or "")
        return
    except ScriptTimeout:
        pi.close()
        f.report.add(CLIENT, FAIL, f"{ssh.host} did not answer the check script within {REMOTE_TIMEOUT:g} s",
                     "check that the Pi is up and not overloaded")
        return
    f.client = pi
    tools, _ = parse_tools_output(result.stdout)
    compiler = tools.get("gcc") or tools.get("cc")
    missing = [t for t in ("sh", "setsid") if not tools.get(t)]
    resolved = f" ({pi.ssh_options.summary()})" if pi.ssh_options is not None else ""
    detail = (f"{ssh.host}{resolved}: logged in as {pi.login}; "
              f"compiler: {tools.get('gcc_version') or compiler or 'none'}")
    if missing or not compiler:
        f.report.add(CLIENT, FAIL, detail + f"; missing: {', '.join((['gcc'] if not compiler else []) + missing)}",
                     "on the Pi: sudo apt-get install build-essential util-linux")
    else:
        f.report.add(CLIENT, OK, detail + ("" if tools.get("python3") else "; no python3 (path probes need it)"))
