"""Is the openconnect VPN up, and does it carry traffic to the server? Checks with fixes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from sockdeploy.remote import marker
from sockdeploy.remote.host import Host
from sockdeploy.remote.program import program

DEFAULT_GATEWAY = "danforthvpn.wustl.edu"


@dataclass(frozen=True)
class VpnCheck:
    """One VPN check: its outcome, what was seen, and how to fix a failure."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def openconnect_pids() -> List[int]:
    """Return the pids of openconnect processes on this machine."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "openconnect":
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def tun_devices_up() -> List[str]:
    """Return tun/tap devices of this network namespace that are administratively up."""
    found = []
    base = Path("/sys/class/net")
    for dev in sorted(base.iterdir()) if base.is_dir() else []:
        if not (dev / "tun_flags").exists():
            continue
        try:
            if int((dev / "flags").read_text().strip(), 16) & 0x1:  # IFF_UP
                found.append(dev.name)
        except (OSError, ValueError):
            continue
    return found


def route_device(ip: str) -> Optional[str]:
    """Return the device the kernel would send packets to `ip` through."""
    ipcmd = shutil.which("ip") or "/sbin/ip"
    try:
        out = subprocess.run([ipcmd, "route", "get", ip], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"\bdev (\S+)", out)
    return m.group(1) if m else None


def connect_hint(gateway: str) -> str:
    """Return how to start the VPN (or avoid it)."""
    return (f"start the VPN: sudo openconnect {gateway} (WUSTL Key, password, then type push or phone at the "
            f"second Password: prompt), or use --via tunnel instead")


@dataclass(frozen=True)
class Facts:
    """What the checks look at on one host."""

    pids: List[int]
    tuns: List[str]
    route_dev: Optional[str]


def local_facts(server_ip: Optional[str]) -> Facts:
    """Gather the facts on this machine."""
    return Facts(openconnect_pids(), tun_devices_up(), route_device(server_ip) if server_ip else None)


def remote_facts(host: Host, server_ip: Optional[str]) -> Facts:
    """The same facts gathered on another host (the client host over SSH): its VPN, its routes."""
    out = host.run(program("vpn_facts.sh", server_ip or ""), timeout=20).stdout
    return Facts([int(pid) for pid in marker.values(out, "PID")], marker.values(out, "TUN"), marker.first(out, "DEV"))


def vpn_checks(server_ip: Optional[str], gateway: str = DEFAULT_GATEWAY,
               facts: Optional[Facts] = None) -> List[VpnCheck]:
    """Run the three checks in order: openconnect process, tun device up, route through it.

    `facts` come from this machine unless given (remote_facts for the client host).
    """
    facts = facts or local_facts(server_ip)
    pids, tuns = facts.pids, facts.tuns
    running = VpnCheck("openconnect running", bool(pids),
                       f"pid {', '.join(map(str, pids))}" if pids else "no openconnect process",
                       "" if pids else connect_hint(gateway))
    not_up_yet = (f"openconnect runs but has no device up yet: wait for it to finish logging in, "
                  f"or restart it (sudo openconnect {gateway})")
    device = VpnCheck("VPN device up", bool(tuns), ", ".join(tuns) if tuns else "no tun device is up",
                      "" if tuns else (not_up_yet if pids else connect_hint(gateway)))
    return [running, device, _route_check(server_ip, gateway, facts)]


def _route_check(server_ip: Optional[str], gateway: str, facts: Facts) -> VpnCheck:
    name = "route to the server via VPN"
    if server_ip is None:
        return VpnCheck(name, False, "server address unknown", "check server.host in hosts.yaml")
    dev = facts.route_dev
    ok = dev is not None and dev in facts.tuns
    elsewhere = f"the VPN does not carry traffic to {server_ip}; reconnect it, or use --via tunnel"
    return VpnCheck(name, ok, f"{server_ip} goes via {dev or 'no route'}",
                    "" if ok else (elsewhere if facts.tuns else connect_hint(gateway)))


def first_failure(checks: List[VpnCheck]) -> Optional[VpnCheck]:
    """Return the first check that failed, or None when all passed."""
    return next((c for c in checks if not c.ok), None)
