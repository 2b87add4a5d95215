"""Network checks: the server's name and SSH port (before any login), the VPN, and direct reach of a course port.

- The name and port are those OpenSSH's config gives the host (`ssh -G`:
  HostName, Port; hosts.yaml's port wins), and the name check says which
  settings and blocks applied. A failing name or SSH port check makes the
  SSH checks "skip" rather than wait for the session's own 15 s timeout to
  say the same thing. With a proxy (ProxyJump, ProxyCommand) both are
  "skip": the jump host resolves and connects, and the login check covers
  that path.
- vpn: "fail" only with via vpn. With any other via a VPN that is down is a
  "warn" naming why it is not needed (auto falls back to the tunnel; tunnel
  needs none; direct expects the ports to answer without it).
- direct reach (a probe of the free port found on the server, before
  anything listens there: refused or connected means the path is open):
  unreachable is "fail" with via direct or vpn; "warn" with via tunnel; with
  via auto "warn" when forwarding is allowed (the run takes the tunnel) and
  "fail" when it is not (no path would work).
"""

from __future__ import annotations

import socket
from typing import List, Optional, Tuple

from sockdeploy.doctor.check import DIRECT, FAIL, FORWARDING, OK, RESOLVE, SKIP, SSH_PORT, VPN, WARN
from sockdeploy.doctor.findings import Findings
from sockdeploy.net import vpn
from sockdeploy.run import netpath as paths
from sockdeploy.ssh.resolver import SshOptions

SSH_PORT_TIMEOUT = 5.0
MAX_ADDRESSES = 3  # bounds the SSH port check to 3 x 5 s on a name with many dead addresses

def check_name_and_port(f: Findings, ssh: SshOptions) -> bool:
    """Check the name and the SSH port SSH (the host's resolved config) gives; return whether a login is worth trying."""
    add = f.report.add
    if ssh.proxy_jump or ssh.proxy_command:
        proxy = f"ProxyJump {ssh.proxy_jump}" if ssh.proxy_jump else f"ProxyCommand {ssh.proxy_command}"
        add(RESOLVE, SKIP, f"reached through a proxy ({proxy}): the login check covers that path; {ssh.summary()}")
        add(SSH_PORT, SKIP, f"reached through a proxy ({proxy})")
        return True
    name, port = ssh.hostname, ssh.port
    alias = f" (HostName for {ssh.alias})" if name != ssh.alias else ""
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError("no addresses")
    except (OSError, UnicodeError) as exc:
        add(RESOLVE, FAIL, f"cannot resolve {name}{alias}: {getattr(exc, 'strerror', None) or exc}",
            "check server.host in hosts.yaml (or HostName in your ssh config) and that you are online")
        f.report.skip_until(SSH_PORT, "the name does not resolve")
        return False
    f.addresses = list(dict.fromkeys(str(i[4][0]) for i in infos))
    # the VPN route check and the probe need an IPv4 address when there is one, as a run does
    f.server_ip = next((a for a in f.addresses if ":" not in a), f.addresses[0])
    add(RESOLVE, OK, f"{name}{alias} -> {', '.join(f.addresses[:MAX_ADDRESSES])}; {ssh.summary()}")
    return _check_ssh_port(f, port)


def _check_ssh_port(f: Findings, port: int) -> bool:
    tried: List[str] = []
    for ip in f.addresses[:MAX_ADDRESSES]:
        outcome, text = ssh_banner(ip, port, SSH_PORT_TIMEOUT)
        if outcome == "banner":
            f.report.add(SSH_PORT, OK, f"{_addr(ip, port)} answered: {text}")
            return True
        tried.append(f"{_addr(ip, port)} {text}")
    f.report.add(SSH_PORT, FAIL, "; ".join(tried),
                 "check server.port in hosts.yaml (usually 22), that the host is up, and that you are online")
    return False


def check_vpn(f: Findings) -> None:
    """Check the VPN (from the client host when it is reached over SSH)."""
    if f.server_ip is None and f.via != "vpn":
        f.report.add(VPN, SKIP, "the server's address is unknown")
        return
    facts = vpn.remote_facts(f.client, f.server_ip) if f.client is not None else None
    checks = vpn.vpn_checks(f.server_ip, f.gateway, facts)
    failed = vpn.first_failure(checks)
    if failed is None:
        f.report.add(VPN, OK, "connected: " + "; ".join(f"{c.name}: {c.detail}" for c in checks))
        return
    what = f"no: {failed.name}: {failed.detail}"
    if f.via == "vpn":
        f.report.add(VPN, FAIL, what + " (via vpn needs it)", failed.fix)
        return
    needless = {
        "auto": "via auto falls back to the tunnel",
        "tunnel": "via tunnel goes through SSH",
        "direct": "via direct reaches the course ports without it; see direct reach",
    }[f.via]
    f.report.add(VPN, WARN, f"{what} (not needed: {needless})")


def check_direct(f: Findings) -> None:
    """Probe the free port found on the server host from the client (see the module docstring)."""
    if f.free_port is None or f.server_ip is None:
        f.report.add(DIRECT, SKIP, "needs a free port on the server host" if f.server_ip
                     else "the server's address is unknown")
        return
    found = (paths.probe_from(f.client, f.server_ip, f.free_port) if f.client is not None
             else paths.probe(f.server_ip, f.free_port))
    add, forwarding = f.report.add, f.report.result(FORWARDING)
    if found.reachable:
        add(DIRECT, OK, found.describe())
    elif f.via == "tunnel":
        add(DIRECT, WARN, f"{found.describe()}; not needed: via tunnel goes through SSH")
    elif f.via == "auto" and forwarding == OK:
        add(DIRECT, WARN, f"{found.describe()}; via auto will use the tunnel", paths.blocked_hint(f.gateway))
    elif f.via == "auto":
        add(DIRECT, FAIL, f"{found.describe()}, and the tunnel fallback is unavailable (forwarding: {forwarding})",
            f"bring up the VPN: sudo openconnect {f.gateway}, or run from campus")
    elif f.via == "vpn" and f.report.result(VPN) == OK:
        add(DIRECT, FAIL, f"{found.describe()} although the VPN is up",
            f"the VPN does not let you reach port {f.free_port}; use --via tunnel")
    else:
        add(DIRECT, FAIL, found.describe(), paths.blocked_hint(f.gateway))


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
        return _read_banner(sock, timeout)
    finally:
        sock.close()


def _read_banner(sock: socket.socket, timeout: float) -> Tuple[str, str]:
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


def ipv4(name: str) -> Optional[str]:
    """Resolve the name ssh connected to (after HostName), e.g. behind a ProxyJump."""
    try:
        return str(socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
    except (OSError, UnicodeError, IndexError):
        return None


def _addr(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

