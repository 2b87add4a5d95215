"""Is the openconnect VPN up, and does it carry traffic to the server? Checks with fixes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

DEFAULT_GATEWAY = "danforthvpn.wustl.edu"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def openconnect_pids() -> List[int]:
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
    return (f"start the VPN: sudo openconnect {gateway} (WUSTL Key, password, then type push or phone at the "
            f"second Password: prompt), or use --via tunnel instead")


@dataclass(frozen=True)
class Facts:
    """What the checks look at on one host."""

    pids: List[int]
    tuns: List[str]
    route_dev: Optional[str]


def local_facts(server_ip: Optional[str]) -> Facts:
    return Facts(openconnect_pids(), tun_devices_up(), route_device(server_ip) if server_ip else None)


_FACTS_SCRIPT = r"""
for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = openconnect ] && echo "SD-PID ${p#/proc/}"; done
for d in /sys/class/net/*; do
  [ -e "$d/tun_flags" ] || continue
  f=$(cat "$d/flags" 2>/dev/null) || continue
  [ $(( f & 1 )) -eq 1 ] && echo "SD-TUN ${d##*/}"
done
[ -n "$1" ] && { ip route get "$1" 2>/dev/null || /sbin/ip route get "$1" 2>/dev/null; } | sed -n 's/.* dev \([^ ]*\).*/SD-DEV \1/p' | head -n 1
exit 0
"""


def remote_facts(host: object, server_ip: Optional[str]) -> Facts:
    """The same facts gathered on another host (the client host over SSH): its VPN, its routes."""
    import shlex

    script = f"set -- {shlex.quote(server_ip or '')}\n" + _FACTS_SCRIPT
    out = host.run(script, timeout=20).stdout  # type: ignore[attr-defined]
    pids = [int(line.split()[1]) for line in out.splitlines() if line.startswith("SD-PID ")]
    tuns = [line.split()[1] for line in out.splitlines() if line.startswith("SD-TUN ")]
    dev = next((line.split()[1] for line in out.splitlines() if line.startswith("SD-DEV ")), None)
    return Facts(pids, tuns, dev)


def vpn_checks(server_ip: Optional[str], gateway: str = DEFAULT_GATEWAY, facts: Optional[Facts] = None) -> List[Check]:
    """Run the three checks in order: openconnect process, tun device up, route through it.

    `facts` come from this machine unless given (remote_facts for the client host).
    """
    facts = facts or local_facts(server_ip)
    checks: List[Check] = []
    pids = facts.pids
    checks.append(Check("openconnect running", bool(pids),
                        f"pid {', '.join(map(str, pids))}" if pids else "no openconnect process",
                        "" if pids else connect_hint(gateway)))
    tuns = facts.tuns
    checks.append(Check("VPN device up", bool(tuns), ", ".join(tuns) if tuns else "no tun device is up",
                        "" if tuns else (f"openconnect runs but has no device up yet: wait for it to finish logging in, or restart it (sudo openconnect {gateway})"
                                         if pids else connect_hint(gateway))))
    if server_ip is None:
        checks.append(Check("route to the server via VPN", False, "server address unknown", "check server.host in hosts.yaml"))
    else:
        dev = facts.route_dev
        ok = dev is not None and dev in tuns
        checks.append(Check("route to the server via VPN", ok, f"{server_ip} goes via {dev or 'no route'}",
                            "" if ok else (f"the VPN does not carry traffic to {server_ip}; reconnect it, or use --via tunnel"
                                           if tuns else connect_hint(gateway))))
    return checks


def first_failure(checks: List[Check]) -> Optional[Check]:
    return next((c for c in checks if not c.ok), None)
