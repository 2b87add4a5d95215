"""The campus lab's two network namespaces: the veth pair between them, addresses, routes, /etc/netns.

Both veth ends are born inside the namespaces, so nothing but the namespaces themselves appears in
the root namespace, and no packet leaves them.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from sockdeploy.errors import LabError
from sockdeploy.lab.addresses import (
    CAMPUS_DEVICE,
    CAMPUS_NET,
    GATEWAY_IP,
    GATEWAY_NAME,
    HOME_IP,
    HOME_NAME,
    LINK_DEVICE,
    SERVER_IP,
    SERVER_NAME,
)
from sockdeploy.lab.commands import must
from sockdeploy.lab.programs import find_tool
from sockdeploy.lab.templates import render

NETNS_ETC = Path("/etc/netns")


class Namespaces:
    """A campus and a home namespace wired together; `close()` ends their processes and deletes them."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.campus = f"sdc-{tag}"
        self.home = f"sdh-{tag}"
        self.ip = find_tool("ip") or "ip"
        self._made: List[str] = []
        self._made_etc: List[Path] = []

    def __enter__(self) -> Namespaces:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def made(self) -> bool:
        """Whether this object created namespaces that still exist."""
        return bool(self._made)

    # --- running things inside -----------------------------------------------------

    def inside(self, ns: str, argv: Sequence[str]) -> List[str]:
        """Return argv wrapped to run inside namespace `ns` (ip netns exec execs, so the pid is argv's)."""
        return [self.ip, "netns", "exec", ns, *argv]

    def run(self, ns: str, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess:
        """Run argv in `ns`; text mode and captured output unless overridden."""
        kw.setdefault("text", True)
        if "stdout" not in kw and "stderr" not in kw:
            kw.setdefault("capture_output", True)
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.inside(ns, argv), **kw)

    def popen(self, ns: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen:
        """Start argv in `ns` and return the process."""
        return subprocess.Popen(self.inside(ns, argv), **kw)

    # --- building ------------------------------------------------------------------

    def create(self) -> None:
        """Make both namespaces, the link, the addresses and routes, and their /etc/netns files."""
        self._make_namespaces()
        self._make_campus_network()
        self._write_etc()

    def _make_namespaces(self) -> None:
        ip = self.ip
        for ns in (self.campus, self.home):
            must([ip, "netns", "add", ns], f"creating namespace {ns}")
            self._made.append(ns)
            must([ip, "-n", ns, "link", "set", "lo", "up"], f"bringing up lo in {ns}")
        must([ip, "-n", self.campus, "link", "add", LINK_DEVICE, "type", "veth",
              "peer", "name", LINK_DEVICE, "netns", self.home], "creating the campus-home veth pair")
        must([ip, "-n", self.campus, "addr", "add", f"{GATEWAY_IP}/24", "dev", LINK_DEVICE], "addressing campus")
        must([ip, "-n", self.home, "addr", "add", f"{HOME_IP}/24", "dev", LINK_DEVICE], "addressing home")
        for ns in (self.campus, self.home):
            must([ip, "-n", ns, "link", "set", LINK_DEVICE, "up"], f"bringing up {LINK_DEVICE} in {ns}")

    def _make_campus_network(self) -> None:
        ip = self.ip
        # some kernels (e.g. Firecracker guests) lack the dummy driver; an empty bridge holds an address as well
        made = subprocess.run([ip, "-n", self.campus, "link", "add", CAMPUS_DEVICE, "type", "dummy"],
                              capture_output=True, text=True)
        if made.returncode != 0:
            must([ip, "-n", self.campus, "link", "add", CAMPUS_DEVICE, "type", "bridge"],
                 "creating the campus-internal interface")
        must([ip, "-n", self.campus, "addr", "add", f"{SERVER_IP}/24", "dev", CAMPUS_DEVICE], "addressing the login host")
        must([ip, "-n", self.campus, "link", "set", CAMPUS_DEVICE, "up"], "bringing up the campus network")
        # a metric keeps this route apart from the one vpnc-script replaces and later deletes
        must([ip, "-n", self.home, "route", "add", CAMPUS_NET, "via", GATEWAY_IP, "metric", "100"],
             "routing home to campus")
        # namespaced sysctl: only the campus namespace routes between the VPN and campus
        must(self.inside(self.campus, ["/bin/sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]),
             "enabling forwarding inside campus")

    def _write_etc(self) -> None:
        hosts = render("netns_hosts", gateway_ip=GATEWAY_IP, gateway_name=GATEWAY_NAME, server_ip=SERVER_IP,
                       server_name=SERVER_NAME, home_ip=HOME_IP, home_name=HOME_NAME)
        for ns in (self.campus, self.home):
            etc = NETNS_ETC / ns
            etc.mkdir(parents=True, exist_ok=False)
            self._made_etc.append(etc)
            (etc / "hosts").write_text(hosts)
            # a resolver that answers nothing keeps every lookup inside the namespace
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")

    # --- looking at them -----------------------------------------------------------

    def listed(self) -> List[str]:
        """Return every network namespace `ip netns list` shows."""
        res = subprocess.run([self.ip, "netns", "list"], capture_output=True, text=True)
        return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]

    def pids(self, ns: str) -> List[int]:
        """Return the processes running in `ns`."""
        res = subprocess.run([self.ip, "netns", "pids", ns], capture_output=True, text=True)
        return [int(p) for p in res.stdout.split() if p.isdigit()] if res.returncode == 0 else []

    def processes(self, present: Sequence[str]) -> Dict[str, Dict[str, str]]:
        """Return {namespace: {pid: command name}} for both namespaces ({} for one not in `present`)."""
        return {ns: {str(pid): _comm(pid) for pid in self.pids(ns)} if ns in present else {}
                for ns in (self.campus, self.home)}

    def link_up(self, ns: str, dev: str) -> bool:
        """Say whether device `dev` exists in `ns` and is UP."""
        res = subprocess.run([self.ip, "-n", ns, "-o", "link", "show", "dev", dev], capture_output=True, text=True)
        flags = re.search(r"<([^>]*)>", res.stdout)
        return res.returncode == 0 and flags is not None and "UP" in flags.group(1).split(",")

    def link_exists(self, ns: str, dev: str) -> bool:
        """Say whether device `dev` exists in `ns`."""
        return subprocess.run([self.ip, "-n", ns, "link", "show", "dev", dev],
                              capture_output=True, text=True).returncode == 0

    def route_device(self, ns: str, ip: str) -> Optional[str]:
        """Return the device namespace `ns` would send packets for `ip` through."""
        res = subprocess.run([self.ip, "-n", ns, "route", "get", ip], capture_output=True, text=True)
        m = re.search(r"\bdev (\S+)", res.stdout)
        return m.group(1) if res.returncode == 0 and m else None

    # --- taking down ---------------------------------------------------------------

    def _kill_processes(self, ns: str) -> None:
        """End whatever still runs in one of our namespaces, or it would outlive `ip netns del`."""
        pids = self.pids(ns)
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                pids = self.pids(ns)
                if not pids:
                    return
                time.sleep(0.05)

    def close(self) -> None:
        """Delete the namespaces this object made and their /etc/netns folders; safe to call twice."""
        problems: List[str] = []
        present = set(self.listed()) if self._made else set()
        for ns in list(self._made):
            if ns in present:
                self._kill_processes(ns)
                res = subprocess.run([self.ip, "netns", "del", ns], capture_output=True, text=True)
                if res.returncode != 0:
                    problems.append(f"ip netns del {ns}: {res.stderr.strip()}")
                    continue
            self._made.remove(ns)
        for etc in list(self._made_etc):
            shutil.rmtree(etc, ignore_errors=True)
            if not etc.exists():
                self._made_etc.remove(etc)
        if problems:
            raise LabError("; ".join(problems), "check 'ip netns list' and remove leftovers with 'sudo ip netns del NAME'")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
