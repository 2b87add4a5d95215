"""`sockdeploy doctor`: check, in order, everything a run needs, and say how to fix what fails.

The eleven checks, always reported in this order, each with a result of
"ok", "fail", "warn" (not an error for the configured network path, but
worth knowing) or "skip" (an earlier failure makes it meaningless):

    check            exit code when it is the first "fail"
    config           2  hosts.yaml found and valid (ConfigError)
    name resolution  3  server.host (or its ssh-config HostName) resolves
    ssh port         3  TCP connect within 5 s and an "SSH-" banner
    host key         3  known / unknown (with fingerprint) / changed
    login            3  authentication works
    server tools     4  gcc (or cc), sh, tar, base64, setsid; python3 and stdbuf are optional
    free port        5  a port of network.ports is free on the server host
    forwarding       5  sshd allows local forwards (the tunnel)
    client host      3  this machine, or (client.host over SSH) host key, login and gcc there
    vpn              5  openconnect up and routing to the server
    direct reach     5  a course port on the server answers from here

The codes are those of the domain errors the same problem raises during a
run (ConfigError 2, ConnectError 3, BuildError 4, NetworkPathError 5);
`exit_code` returns 0 when nothing failed, warnings included.

Decisions:
- All remote checks share ONE SSH connection and one login. It is opened
  with accept_new=False and confirm=None, so an unknown or changed host key
  fails the host key check before any credential is sent, and doctor never
  writes known_hosts.
- ssh config: the file the session would read (server.ssh_config, or
  ~/.ssh/config unless it is "none") is scanned for HostName, Port,
  ProxyJump and ProxyCommand in matching `Host` blocks, first value wins as
  in ssh. `Match` and `Include` are not evaluated (paramiko does not follow
  Include either). A HostName/Port is what the name and port checks test;
  with a proxy both are "skip" because the jump host resolves and connects,
  and the login check covers that path.
- A failing name or SSH port check makes the SSH checks "skip" rather than
  wait for the session's own 15 s timeout to say the same thing.
- vpn: "fail" only with via vpn. With any other via a VPN that is down is a
  "warn" naming why it is not needed (auto falls back to the tunnel; tunnel
  needs none; direct expects the ports to answer without it), so the
  loopback lab (via direct) shows "warn" here and exits 0.
- forwarding forbidden: "fail" with via tunnel; "warn" otherwise, because
  --via tunnel and auto's fallback cannot work.
- direct reach (a probe of the free port found on the server, before
  anything listens there: refused or connected means the path is open):
  unreachable is "fail" with via direct or vpn; "warn" with via tunnel; with
  via auto "warn" when forwarding is allowed (the run takes the tunnel) and
  "fail" when it is not (no path would work).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from sockdeploy.errors import (
    AuthError,
    ConnectError,
    ForwardingForbidden,
    HostKeyError,
    NetworkPathError,
    ScriptTimeout,
    SockdeployError,
)
from sockdeploy.net import vpn
from sockdeploy.run import netpath as paths
from sockdeploy.run.ports import choose_port, parse_busy_ports
from sockdeploy.spec.hosts import Config, ServerConfig, load_config
from sockdeploy.ssh.session import Prompt, SshSession, fingerprint

OK, FAIL, WARN, SKIP = "ok", "fail", "warn", "skip"
RESULTS = (OK, FAIL, WARN, SKIP)

CONFIG = "config"
RESOLVE = "name resolution"
SSH_PORT = "ssh port"
HOST_KEY = "host key"
LOGIN = "login"
TOOLS = "server tools"
FREE_PORT = "free port"
FORWARDING = "forwarding"
CLIENT = "client host"
VPN = "vpn"
DIRECT = "direct reach"
ORDER: Tuple[str, ...] = (CONFIG, RESOLVE, SSH_PORT, HOST_KEY, LOGIN, TOOLS, FREE_PORT, FORWARDING, CLIENT, VPN, DIRECT)
EXIT_CODES: Dict[str, int] = {
    CONFIG: 2, RESOLVE: 3, SSH_PORT: 3, HOST_KEY: 3, LOGIN: 3,
    TOOLS: 4, FREE_PORT: 5, FORWARDING: 5, CLIENT: 3, VPN: 5, DIRECT: 5,
}

SSH_PORT_TIMEOUT = 5.0
REMOTE_TIMEOUT = 30.0
MAX_ADDRESSES = 3  # bounds the SSH port check to 3 x 5 s on a name with many dead addresses
TOOLS_WANTED = ("gcc", "cc", "sh", "python3", "tar", "base64", "setsid", "stdbuf")
TOOLS_REQUIRED = ("sh", "tar", "base64", "setsid")
TOOLS_OPTIONAL = {
    "python3": "only payloads written in Python need it",
    "stdbuf": "keeps the server's output line by line if it is killed",
}
MARK = "SD-"

OnCheck = Callable[["Check"], None]


@dataclass(frozen=True)
class Check:
    name: str
    result: str
    detail: str
    fix: str = ""


# -- public API -----------------------------------------------------------------------


def run_doctor(hosts_path: Optional[str], *, prompt: Optional[Prompt] = None,
               on_check: Optional[OnCheck] = None) -> List[Check]:
    """Run every check in ORDER and return one Check per name; diagnosed problems never raise.

    `prompt` relays password or 2FA prompts (None: key logins only); `on_check`
    sees each check as soon as its result is final, for live output.
    """
    report = _Report(on_check)
    try:
        cfg = load_config(hosts_path)
    except SockdeployError as err:
        report.add(CONFIG, FAIL, err.headline(), err.hint or "")
        report.skip_rest("hosts.yaml must load first")
        return report.checks
    lo, hi = cfg.network.ports
    report.add(CONFIG, OK, f"{cfg.path}: server {cfg.server.host}, via {cfg.network.via}, ports {lo}-{hi}")
    _Doctor(cfg, report, prompt).run()
    return report.checks


def exit_code(checks: Sequence[Check]) -> int:
    """Return 0 if nothing failed, else the exit code of the first failing check (see the module docstring)."""
    failed = next((c for c in checks if c.result == FAIL), None)
    return 0 if failed is None else EXIT_CODES.get(failed.name, 1)


def render_table(checks: Sequence[Check]) -> str:
    """Return the checks as a plain-text table: check, result, detail, fix."""
    header = ["check", "result", "detail", "fix"]
    rows = [[c.name, c.result.upper() if c.result == FAIL else c.result, c.detail, c.fix] for c in checks]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def line(cells: List[str]) -> str:
        # the last column is not padded, so lines carry no trailing blanks
        return "  ".join(cell.ljust(w) for cell, w in zip(cells[:-1], widths)) + "  " + cells[-1]

    return "\n".join([line(header).rstrip(), line(["-" * w for w in widths])] + [line(r).rstrip() for r in rows])


def to_json(checks: Sequence[Check]) -> list:
    """Return the checks as a list of {name, result, detail, fix} dicts."""
    return [asdict(c) for c in checks]


# -- ssh config -----------------------------------------------------------------------


def ssh_config_file(server: ServerConfig) -> Optional[Path]:
    """Return the ssh config the session would read, if there is one."""
    if server.ssh_config == "none":
        return None
    path = Path(server.ssh_config or os.path.join(os.path.expanduser("~"), ".ssh", "config"))
    return path if path.is_file() else None


def _host_matches(host: str, patterns: Sequence[str]) -> bool:
    host = host.lower()
    matched = False
    for pat in patterns:
        negated = pat.startswith("!")
        if fnmatch.fnmatchcase(host, pat.lstrip("!").lower()):
            if negated:
                return False  # ssh: a matching negation rules the whole line out
            matched = True
    return matched


def ssh_config_route(path: Optional[Path], host: str) -> Dict[str, Tuple[str, str]]:
    """Return {key: (value, "FILE:LINE")} for hostname/port/proxyjump/proxycommand set for `host`."""
    found: Dict[str, Tuple[str, str]] = {}
    if path is None:
        return found
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return found
    applies = True  # lines before the first Host apply to every host
    for no, raw in enumerate(lines, 1):
        m = re.match(r"\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*?)\s*$", raw)
        if not m or raw.lstrip().startswith("#"):
            continue
        key, value = m.group(1).lower(), m.group(2)
        if key == "host":
            try:
                patterns = shlex.split(value, comments=True)
            except ValueError:  # an unbalanced quote: ssh would refuse the file; read it plainly
                patterns = value.split()
            applies = _host_matches(host, patterns)
        elif key == "match":
            applies = False  # not evaluated; see the module docstring
        elif applies and key in ("hostname", "port", "proxyjump", "proxycommand") and key not in found:
            found[key] = (value.strip('"').replace("%h", host), f"{path}:{no}")
    # "none" still counts as set (first value wins), but means no proxy
    return {k: v for k, v in found.items() if not (k.startswith("proxy") and v[0].lower() == "none")}


# -- the checks -----------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Report:
    """The checks so far, in ORDER; each is final when added."""

    def __init__(self, on_check: Optional[OnCheck]) -> None:
        self.checks: List[Check] = []
        self.on_check = on_check

    def add(self, name: str, result: str, detail: str, fix: str = "") -> Check:
        expected = ORDER[len(self.checks)]
        assert name == expected and result in RESULTS, (name, expected, result)
        check = Check(name, result, _one_line(detail), _one_line(fix))
        self.checks.append(check)
        if self.on_check is not None:
            self.on_check(check)
        return check

    def result(self, name: str) -> Optional[str]:
        return next((c.result for c in self.checks if c.name == name), None)

    def skip_until(self, last: str, why: str) -> None:
        while len(self.checks) <= ORDER.index(last):
            self.add(ORDER[len(self.checks)], SKIP, why)

    def skip_rest(self, why: str) -> None:
        self.skip_until(ORDER[-1], why)


class _Doctor:
    """The checks after config, sharing one SSH session."""

    def __init__(self, cfg: Config, report: _Report, prompt: Optional[Prompt]) -> None:
        self.cfg = cfg
        self.report = report
        self.prompt = prompt
        self.via = cfg.network.via
        self.gateway = cfg.network.vpn_gateway
        self.addresses: List[str] = []
        self.server_ip: Optional[str] = None
        self.free_port: Optional[int] = None

    def run(self) -> None:
        route = ssh_config_route(ssh_config_file(self.cfg.server), self.cfg.server.host)
        reachable = self._network(route)
        session = SshSession(self.cfg.server, accept_new=False, confirm=None, prompt=self.prompt)
        try:
            if reachable and self._login(session):
                self.server_ip = session.peer_ip or self.server_ip or _ipv4(session.hostname)
                self._remote(session)
            else:
                why = "needs a login" if reachable else "needs the SSH port reachable"
                self.report.skip_until(FORWARDING, why)
        finally:
            session.close()
        self.client: Optional[SshSession] = None
        try:
            self._client_host()
            self._vpn()
            self._direct()
        finally:
            if self.client is not None:
                self.client.close()

    def _client_host(self) -> None:
        """Log in to the client host when it is reached over SSH; the VPN and path checks then run there."""
        ssh = self.cfg.client.ssh
        if ssh is None:
            self.report.add(CLIENT, OK, "this machine (client.host: local)")
            return
        pi = SshSession(ssh, accept_new=False, confirm=None, prompt=self.prompt)
        pi.role = "client host"
        try:
            pi.open()
            result = pi.run(TOOLS_SCRIPT, timeout=REMOTE_TIMEOUT)
        except SockdeployError as err:
            pi.close()
            self.report.add(CLIENT, FAIL, f"{ssh.host}: {err.headline()}", err.hint or "")
            return
        except ScriptTimeout:
            pi.close()
            self.report.add(CLIENT, FAIL, f"{ssh.host} did not answer the check script within {REMOTE_TIMEOUT:g} s",
                            "check that the Pi is up and not overloaded")
            return
        self.client = pi
        tools, _ = parse_tools_output(result.stdout)
        compiler = tools.get("gcc") or tools.get("cc")
        missing = [t for t in ("sh", "setsid") if not tools.get(t)]
        detail = f"{ssh.host}: logged in as {pi.login}; compiler: {tools.get('gcc_version') or compiler or 'none'}"
        if missing or not compiler:
            self.report.add(CLIENT, FAIL, detail + f"; missing: {', '.join((['gcc'] if not compiler else []) + missing)}",
                            "on the Pi: sudo apt-get install build-essential util-linux")
        else:
            self.report.add(CLIENT, OK, detail + ("" if tools.get("python3") else "; no python3 (path probes need it)"))

    # 2 and 3 --------------------------------------------------------------------------
    def _network(self, route: Dict[str, Tuple[str, str]]) -> bool:
        """Check the name and the SSH port; return whether an SSH login is worth trying."""
        add = self.report.add
        proxy = route.get("proxyjump") or route.get("proxycommand")
        if proxy:
            why = f"reached through a proxy ({proxy[0]}, {proxy[1]}): the login check covers that path"
            add(RESOLVE, SKIP, why)
            add(SSH_PORT, SKIP, why)
            return True
        name = route.get("hostname", (self.cfg.server.host, ""))[0]
        port = self.cfg.server.port or _int(route.get("port", ("22", ""))[0]) or 22
        alias = f" (HostName in {route['hostname'][1]})" if "hostname" in route else ""
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
            if not infos:
                raise OSError("no addresses")
        except (OSError, UnicodeError) as exc:
            add(RESOLVE, FAIL, f"cannot resolve {name}{alias}: {getattr(exc, 'strerror', None) or exc}",
                "check server.host in hosts.yaml (or HostName in your ssh config) and that you are online")
            self.report.skip_until(SSH_PORT, "the name does not resolve")
            return False
        self.addresses = list(dict.fromkeys(str(i[4][0]) for i in infos))
        # the VPN route check and the probe need an IPv4 address when there is one, as a run does
        self.server_ip = next((a for a in self.addresses if ":" not in a), self.addresses[0])
        add(RESOLVE, OK, f"{name}{alias} -> {', '.join(self.addresses[:MAX_ADDRESSES])}")
        return self._ssh_port(port)

    def _ssh_port(self, port: int) -> bool:
        tried: List[str] = []
        for ip in self.addresses[:MAX_ADDRESSES]:
            outcome, text = ssh_banner(ip, port, SSH_PORT_TIMEOUT)
            if outcome == "banner":
                self.report.add(SSH_PORT, OK, f"{_addr(ip, port)} answered: {text}")
                return True
            tried.append(f"{_addr(ip, port)} {text}")
        self.report.add(SSH_PORT, FAIL, "; ".join(tried),
                        "check server.port in hosts.yaml (usually 22), that the host is up, and that you are online")
        return False

    # 4 and 5 --------------------------------------------------------------------------
    def _login(self, session: SshSession) -> bool:
        add = self.report.add
        try:
            session.open()
        except HostKeyError as err:
            add(HOST_KEY, FAIL, err.headline(), err.hint or "")
            add(LOGIN, SKIP, "not tried: the host key is not trusted, so no credential was sent")
            return False
        except AuthError as err:
            add(HOST_KEY, OK, "known: the server proved it holds the trusted key before any credential was sent")
            add(LOGIN, FAIL, err.headline(), err.hint or "")
            return False
        except ConnectError as err:
            add(HOST_KEY, FAIL, f"no SSH connection to check it on: {err.headline()}", err.hint or "")
            add(LOGIN, SKIP, "needs an SSH connection")
            return False
        except Exception as exc:
            # SshSession lets paramiko's ssh-config parse errors through; doctor reports, it does not crash
            add(HOST_KEY, FAIL, f"connecting raised {type(exc).__name__}: {exc}",
                "if it names a line of your ssh config, fix that file (or set server.ssh_config: none in "
                "hosts.yaml); otherwise report this as a sockdeploy bug")
            add(LOGIN, SKIP, "needs an SSH connection")
            return False
        try:
            key = session.transport.get_remote_server_key()
            add(HOST_KEY, OK, f"known: {key.get_name()} {fingerprint(key)}")
        except ConnectError as err:
            add(HOST_KEY, FAIL, err.headline(), err.hint or "")
            add(LOGIN, SKIP, "the SSH connection was lost")
            return False
        kex = "yes" if session.strict_kex else "no (the server lacks the Terrapin fix)"
        add(LOGIN, OK, f"logged in as {session.login}; strict key exchange: {kex}")
        return True

    # 6, 7 and 8 -----------------------------------------------------------------------
    def _remote(self, session: SshSession) -> None:
        try:
            result = session.run(TOOLS_SCRIPT, timeout=REMOTE_TIMEOUT)
        except ScriptTimeout:
            self.report.add(TOOLS, FAIL, f"the check script did not finish within {REMOTE_TIMEOUT:g} s",
                            "the server host may be overloaded; try again later")
            self.report.skip_until(FREE_PORT, "the server host did not answer")
            self._forwarding(session)
            return
        except ConnectError as err:
            self.report.add(TOOLS, FAIL, err.headline(), err.hint or "")
            self.report.skip_until(FORWARDING, "the SSH connection was lost")
            return
        tools, ports_text = parse_tools_output(result.stdout)
        if not tools:
            self.report.add(TOOLS, FAIL, f"the check script did not run (exit status {result.exit_status}): "
                            f"{result.stderr.strip() or 'no output'}",
                            "the server host needs a POSIX /bin/sh with base64 (coreutils)")
            self.report.skip_until(FREE_PORT, "the check script did not run")
        else:
            self._tools(tools)
            self._free_port(ports_text)
        self._forwarding(session)

    def _tools(self, tools: Dict[str, Optional[str]]) -> None:
        missing = [t for t in TOOLS_REQUIRED if not tools.get(t)]
        compiler = tools.get("gcc") or tools.get("cc")
        if not compiler:
            missing.insert(0, "gcc")
        found = [t for t in TOOLS_WANTED if tools.get(t) and t not in ("gcc", "cc")]
        parts = [f"compiler: {tools.get('gcc_version') or compiler or 'none'}", "found: " + " ".join(found)]
        notes = [f"no {t} ({why})" for t, why in TOOLS_OPTIONAL.items() if not tools.get(t)]
        if missing:
            self.report.add(TOOLS, FAIL, f"missing: {', '.join(missing)}; " + "; ".join(parts + notes),
                            f"ask the server host's admins to install {', '.join(missing)} "
                            "(Debian: build-essential coreutils tar util-linux), or use another server host")
        elif not tools.get("gcc"):
            self.report.add(TOOLS, WARN, "; ".join(parts + ["no gcc: only cc"] + notes),
                            "the built-in exercises build with gcc: edit payload.yaml to use cc, or install gcc")
        else:
            self.report.add(TOOLS, OK, "; ".join(parts + notes))

    def _free_port(self, ports_text: str) -> None:
        lo, hi = self.cfg.network.ports
        busy = parse_busy_ports(ports_text)
        try:
            self.free_port = choose_port(busy, (lo, hi), set())
        except NetworkPathError as err:
            self.report.add(FREE_PORT, FAIL, err.headline(), err.hint or "")
            return
        if not ports_text.strip():
            self.report.add(FREE_PORT, WARN, f"cannot list busy ports there (no /proc/net/tcp, no netstat); "
                            f"{self.free_port} was picked without checking", "a run may meet 'address in use' and retry")
            return
        used = len([p for p in busy if lo <= p <= hi])
        self.report.add(FREE_PORT, OK, f"{self.free_port} is free ({used} of {hi - lo + 1} ports in {lo}-{hi} in use)")

    def _forwarding(self, session: SshSession) -> None:
        try:
            session.check_forwarding()
        except ForwardingForbidden as err:
            if self.via == "tunnel":
                self.report.add(FORWARDING, FAIL, err.headline(), err.hint or "")
            else:
                self.report.add(FORWARDING, WARN, f"{err.headline()}; not needed with via {self.via}, "
                                "but --via tunnel and auto's fallback cannot work",
                                "if the course ports are firewalled from here, use the VPN: "
                                f"sudo openconnect {self.gateway}")
            return
        except ConnectError as err:
            self.report.add(FORWARDING, FAIL, err.headline(), err.hint or "")
            return
        self.report.add(FORWARDING, OK, "allowed: sshd accepted a test forward (so --via tunnel works)")

    # 9 and 10 -------------------------------------------------------------------------
    def _vpn(self) -> None:
        if self.server_ip is None and self.via != "vpn":
            self.report.add(VPN, SKIP, "the server's address is unknown")
            return
        facts = vpn.remote_facts(self.client, self.server_ip) if self.client is not None else None
        checks = vpn.vpn_checks(self.server_ip, self.gateway, facts)
        failed = vpn.first_failure(checks)
        if failed is None:
            self.report.add(VPN, OK, "connected: " + "; ".join(f"{c.name}: {c.detail}" for c in checks))
            return
        what = f"no: {failed.name}: {failed.detail}"
        if self.via == "vpn":
            self.report.add(VPN, FAIL, what + " (via vpn needs it)", failed.fix)
            return
        needless = {
            "auto": "via auto falls back to the tunnel",
            "tunnel": "via tunnel goes through SSH",
            "direct": "via direct reaches the course ports without it; see direct reach",
        }[self.via]
        self.report.add(VPN, WARN, f"{what} (not needed: {needless})")

    def _direct(self) -> None:
        if self.free_port is None or self.server_ip is None:
            self.report.add(DIRECT, SKIP, "needs a free port on the server host" if self.server_ip
                            else "the server's address is unknown")
            return
        found = (paths.probe_from(self.client, self.server_ip, self.free_port) if self.client is not None
                 else paths.probe(self.server_ip, self.free_port))
        if found.reachable:
            self.report.add(DIRECT, OK, found.describe())
            return
        blocked = paths.blocked_hint(self.gateway)
        if self.via == "tunnel":
            self.report.add(DIRECT, WARN, f"{found.describe()}; not needed: via tunnel goes through SSH")
        elif self.via == "auto" and self.report.result(FORWARDING) == OK:
            self.report.add(DIRECT, WARN, f"{found.describe()}; via auto will use the tunnel", blocked)
        elif self.via == "auto":
            self.report.add(DIRECT, FAIL, f"{found.describe()}, and the tunnel fallback is unavailable "
                            f"(forwarding: {self.report.result(FORWARDING)})",
                            f"bring up the VPN: sudo openconnect {self.gateway}, or run from campus")
        elif self.via == "vpn" and self.report.result(VPN) == OK:
            self.report.add(DIRECT, FAIL, f"{found.describe()} although the VPN is up",
                            f"the VPN does not let you reach port {self.free_port}; use --via tunnel")
        else:
            self.report.add(DIRECT, FAIL, found.describe(), blocked)


# -- helpers ----------------------------------------------------------------------------

TOOLS_SCRIPT = f"""
for c in {' '.join(TOOLS_WANTED)}; do
  if p=$(command -v "$c" 2>/dev/null); then echo "{MARK}HAVE $c $p"; else echo "{MARK}MISSING $c"; fi
done
v=$(gcc --version 2>/dev/null | head -n 1)
[ -n "$v" ] && echo "{MARK}GCC $v"
echo "{MARK}PORTS"
cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null || netstat -an 2>/dev/null
exit 0
"""


def parse_tools_output(text: str) -> Tuple[Dict[str, Optional[str]], str]:
    """Split TOOLS_SCRIPT output into {tool: path or None, "gcc_version": ...} and the port listing."""
    tools: Dict[str, Optional[str]] = {}
    head, _, ports = text.partition(f"{MARK}PORTS\n")
    for line in head.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == f"{MARK}HAVE":
            name, _, where = rest.partition(" ")
            tools[name] = where or name
        elif kind == f"{MARK}MISSING":
            tools[rest] = None
        elif kind == f"{MARK}GCC":
            tools["gcc_version"] = rest
    return tools, ports


def ssh_banner(ip: str, port: int, timeout: float) -> Tuple[str, str]:
    """Connect to ip:port and read the SSH identification line; return (outcome, text).

    outcome is "banner" (text is the server's version line) or one of
    "refused", "timeout", "unreachable", "no-banner" (text says what happened).
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect((ip, port))
        except ConnectionRefusedError:
            return "refused", "refused the connection (nothing listens there)"
        except (socket.timeout, TimeoutError):
            return "timeout", f"did not answer within {timeout:g} s (a firewall, or the host is down)"
        except OSError as exc:
            return "unreachable", f"is unreachable ({exc.strerror or exc})"
        data = b""
        try:
            # servers may send other lines before the version line (RFC 4253 4.2)
            while len(data) < 8192:
                chunk = sock.recv(1024)
                if not chunk:
                    break
                data += chunk
                for line in data.split(b"\n")[:-1]:
                    if line.startswith(b"SSH-"):
                        # say who we are before leaving, so sshd logs a plain preauth close
                        sock.sendall(b"SSH-2.0-sockdeploy_doctor\r\n")
                        return "banner", line.decode(errors="replace").strip()
        except (socket.timeout, TimeoutError):
            pass
        except OSError as exc:
            return "no-banner", f"accepted, then failed ({exc.strerror or exc})"
        seen = data.decode(errors="replace").strip()[:60]
        return "no-banner", (f"accepted but sent no SSH banner within {timeout:g} s"
                             + (f" (it sent {seen!r}: not an SSH server?)" if seen else ""))
    finally:
        sock.close()


def _ipv4(name: str) -> Optional[str]:
    """Resolve the name ssh connected to (after HostName), e.g. behind a ProxyJump."""
    try:
        return str(socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
    except (OSError, UnicodeError, IndexError):
        return None


def _addr(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _int(text: str) -> Optional[int]:
    try:
        return int(text)
    except ValueError:
        return None
