"""Which network path the client takes to the server: direct, VPN or tunnel, and why."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from typing import Optional, Set

from sockdeploy.remote.host import Host
from sockdeploy.remote.program import sh_command
from sockdeploy.remote.scripts import load
from sockdeploy.run.ports import parse_busy_ports

PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class Probe:
    """What one TCP connection attempt from the client host to ip:port found."""

    ip: str
    port: int
    outcome: str  # "refused" | "connected" | "timeout" | "unreachable"
    detail: str = ""

    @property
    def reachable(self) -> bool:
        # A refusal is the host itself answering: packets get through.
        return self.outcome in ("refused", "connected")

    def describe(self) -> str:
        """Return what the probe found and what it means for the path."""
        return {
            "refused": f"{self.ip}:{self.port} answered (refused while no server listened): the path is open",
            "connected": f"{self.ip}:{self.port} accepted a connection: the path is open",
            "timeout": f"{self.ip}:{self.port} did not answer within {PROBE_TIMEOUT:g} s: a firewall drops it (off campus?)",
            "unreachable": f"{self.ip}:{self.port} is unreachable from here ({self.detail})",
        }[self.outcome]


def probe(ip: str, port: int, timeout: float = PROBE_TIMEOUT) -> Probe:
    """Try one TCP connection to ip:port, to be made before the server takes the port.

    Probing before the server listens matters: a probe connection to a running
    server would show up in its output (exercise 4 counts connections) or use
    up a server that accepts only one.
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((ip, port))
        return Probe(ip, port, "connected")
    except ConnectionRefusedError:
        return Probe(ip, port, "refused")
    except (socket.timeout, TimeoutError):
        return Probe(ip, port, "timeout")
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM):
            return Probe(ip, port, "unreachable", exc.strerror or str(exc))
        return Probe(ip, port, "unreachable", str(exc))
    finally:
        s.close()


def probe_from(host: Host, ip: str, port: int, timeout: float = PROBE_TIMEOUT) -> Probe:
    """Make the same probe on another host (the client host over SSH): its routes, its VPN."""
    command = sh_command("netpath_probe.sh", args=[load("netpath_probe.py"), ip, int(port), float(timeout)])
    result = host.run(command, timeout=timeout + 20)
    words = (result.stdout.strip() or "unreachable no answer from the probe").split(" ", 1)
    outcome = words[0] if words[0] in ("connected", "refused", "timeout", "unreachable") else "unreachable"
    return Probe(ip, port, outcome, words[1] if len(words) > 1 else "")


def blocked_hint(gateway: str) -> str:
    """Return what to do when a firewall drops the course ports."""
    return (f"off campus the course ports are firewalled: use --via tunnel (through SSH, nothing to install), "
            f"or bring up the VPN first: sudo openconnect {gateway}")


def local_busy_ports() -> Set[int]:
    """Return the ports in use on this machine, so a tunnel can usually keep the server's port number."""
    text = ""
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{name}") as fh:
                text += fh.read()
        except OSError:
            pass
    return parse_busy_ports(text)


def describe_choice(via: str, chosen: str, probe_result: Optional[Probe]) -> str:
    """Return why the path `chosen` was taken, for run.json's via_reason."""
    seen = probe_result.describe() if probe_result else ""
    if via == "auto":
        return f"auto: {seen} -> {chosen}"
    if via == "tunnel":
        return "chosen with via tunnel: a local forward over the run's SSH connection"
    return f"chosen with via {via}: {seen}" if seen else f"chosen with via {via}"
