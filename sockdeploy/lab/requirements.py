"""What the campus lab needs from the machine, and the Debian packages that provide what is missing."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
from typing import List, Optional, Tuple

from sockdeploy.errors import LabError
from sockdeploy.lab.programs import find_sshd, find_tool, find_vpnc_script

# program -> the Debian package that installs it
PROGRAMS = {"ip": "iproute2", "iptables-restore": "iptables", "ocserv": "ocserv", "ocpasswd": "ocserv",
            "openconnect": "openconnect", "ssh": "openssh-client", "ssh-keygen": "openssh-client"}


def missing_requirements() -> Tuple[List[str], List[str]]:
    """Return what is missing and the Debian packages that would provide it."""
    problems: List[str] = []
    packages: List[str] = []
    for name, package in PROGRAMS.items():
        if not find_tool(name):
            problems.append(f"{name} is not installed")
            packages.append(package)
    try:
        find_sshd()
    except LabError:
        problems.append("sshd is not installed")
        packages.append("openssh-server")
    if not find_vpnc_script():
        problems.append("vpnc-script is not installed")
        packages.append("vpnc-scripts")
    problems.extend(_system_problems())
    return problems, sorted(set(packages))


def _system_problems() -> List[str]:
    problems: List[str] = []
    try:
        import cryptography.x509  # noqa: F401  (paramiko depends on it, so it is normally there)
    except ImportError:
        problems.append("the Python package cryptography is missing (pip install cryptography)")
    if not os.path.exists("/dev/net/tun"):
        problems.append("/dev/net/tun is missing (sudo modprobe tun, or give the container --device /dev/net/tun)")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        problems.append("there is no 'nobody' user for ocserv to run its workers as")
    if os.geteuid() != 0:
        problems.append("the campus lab needs root (network namespaces, iptables): run it with sudo")
    elif find_tool("ip"):
        err = _probe_netns()
        if err:
            problems.append(f"cannot create network namespaces ({err}); run on the host or in a privileged container")
    return problems


def _probe_netns() -> Optional[str]:
    """Create and delete a throwaway namespace; return the error text if that fails."""
    ip = find_tool("ip") or "ip"
    name = f"sdp-{secrets.token_hex(3)}"
    try:
        made = subprocess.run([ip, "netns", "add", name], capture_output=True, text=True, timeout=10)
        if made.returncode != 0:
            return made.stderr.strip() or f"ip netns add exited {made.returncode}"
        subprocess.run([ip, "netns", "del", name], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None


def campus_available() -> Tuple[bool, str]:
    """Say whether the campus lab can run here, and if not what is missing and how to install it."""
    problems, packages = missing_requirements()
    if not problems:
        return True, "the campus lab can run on this machine"
    reason = "; ".join(problems)
    if packages:
        reason += f"; install: sudo apt-get install -y {' '.join(packages)}"
    return False, reason
