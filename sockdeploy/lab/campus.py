"""The campus lab: a student's home Pi and a university in two network namespaces.

Namespace "campus" holds the login host (an OpenSSH sshd on 10.77.2.10, shell.campus.lab),
an OpenConnect VPN gateway (ocserv on 10.77.1.1:443, vpn.campus.lab) and a firewall that
drops the course ports (30000-40000) unless the packet comes from the VPN pool or campus.
Namespace "home" is the student's machine, wired to campus by a veth pair and able to run
openconnect. Nothing is created in the root namespace except the namespaces themselves, and
no packet leaves them.

The parts live in their own modules: namespaces, firewall, vpngateway (ocserv), vpnclient
(openconnect), loopback (the login host's sshd); this class puts them together in order.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from sockdeploy.errors import LabError
from sockdeploy.lab.addresses import (
    CAMPUS_DEVICE,
    CAMPUS_NET,
    COURSE_PORTS,
    GATEWAY_IP,
    GATEWAY_NAME,
    HOME_IP,
    HOME_NAME,
    INTERNET_NET,
    LINK_DEVICE,
    SERVER_IP,
    SERVER_NAME,
    VPN_DEVICE,
    VPN_POOL,
    VPN_SERVER_DEVICE,
    VPN_USER,
)
from sockdeploy.lab.firewall import load_firewall
from sockdeploy.lab.loopback import LoopbackLab
from sockdeploy.lab.namespaces import Namespaces
from sockdeploy.lab.requirements import campus_available, missing_requirements
from sockdeploy.lab.vpnclient import VpnClient
from sockdeploy.lab.vpngateway import VpnGateway

# names other modules and the tests import from here
__all__ = ["CAMPUS_DEVICE", "CAMPUS_NET", "COURSE_PORTS", "GATEWAY_IP", "GATEWAY_NAME", "HOME_IP", "HOME_NAME",
           "INTERNET_NET", "LINK_DEVICE", "SERVER_IP", "SERVER_NAME", "VPN_DEVICE", "VPN_POOL", "VPN_SERVER_DEVICE",
           "VPN_USER", "CampusLab", "campus_available"]


class CampusLab:
    """Two network namespaces: a campus with sshd, ocserv and a firewall, and a home that reaches it."""

    # the lab's fixed plan (constants, the same for every lab)
    server_name = SERVER_NAME
    server_ip = SERVER_IP
    gateway = GATEWAY_NAME
    gateway_ip = GATEWAY_IP
    home_ip = HOME_IP
    vpn_pool = VPN_POOL
    vpn_user = VPN_USER
    vpn_device = VPN_DEVICE

    def __init__(self, base: Optional[Path] = None, *, forbid_forwarding: bool = False) -> None:
        """Prepare names and paths; `start()` builds the world."""
        self._owns_dir = base is None
        self.dir = Path(base) if base else Path(tempfile.mkdtemp(prefix="sockdeploy-campus-"))
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.forbid_forwarding = forbid_forwarding
        self.hosts_file = self.dir / "hosts.yaml"
        self.namespaces = Namespaces()
        self.campus_ns = self.namespaces.campus
        self.home_ns = self.namespaces.home
        self.sshd: Optional[LoopbackLab] = None
        self.vpn_gateway = VpnGateway(self.dir, self.namespaces)
        self.vpn_client = VpnClient(self.dir, self.namespaces, self.vpn_gateway)
        self.vpn_password_file = self.vpn_gateway.password_file

    def __enter__(self) -> CampusLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def servercert(self) -> str:
        """openconnect's pin-sha256:... for the gateway's key ("" before start())."""
        return self.vpn_gateway.servercert

    # --- running things -------------------------------------------------------------

    def home(self, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess:
        """Run argv in the home namespace; text mode and captured output unless overridden."""
        return self.namespaces.run(self.home_ns, argv, **kw)

    def home_popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen:
        """Start argv in the home namespace and return the process."""
        return self.namespaces.popen(self.home_ns, argv, **kw)

    def campus(self, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess:
        """Run argv in the campus namespace; text mode and captured output unless overridden."""
        return self.namespaces.run(self.campus_ns, argv, **kw)

    def campus_popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen:
        """Start argv in the campus namespace and return the process."""
        return self.namespaces.popen(self.campus_ns, argv, **kw)

    # --- start ----------------------------------------------------------------------

    def start(self) -> CampusLab:
        """Build namespaces, links, firewall, sshd and ocserv; on any failure undo what was made."""
        if self.namespaces.made:
            raise LabError(f"the campus lab {self.campus_ns} is already running", "call stop() before starting it again")
        problems, packages = missing_requirements()
        if problems:
            hint = (f"sudo apt-get install -y {' '.join(packages)}" if packages
                    else "run it as root on a machine that allows network namespaces")
            raise LabError("the campus lab cannot run here: " + "; ".join(problems), hint)
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # stop() removes a folder the lab made itself
            self.namespaces.create()
            load_firewall(self.namespaces)
            self._start_sshd()
            self._start_ocserv()
            self.write_hosts()
        except BaseException:
            try:
                self.stop()
            except LabError:
                pass  # the failure that stopped start() says more than a cleanup hiccup
            raise
        return self

    def _start_sshd(self) -> None:
        # LoopbackLab writes 'AllowTcpForwarding yes' first, and sshd keeps the first value, so override in a Match
        extra = "Match all\n    AllowTcpForwarding no\n" if self.forbid_forwarding else ""
        self.sshd = LoopbackLab(self.dir / "sshd", extra_sshd_config=extra, listen=SERVER_IP, host_name=SERVER_NAME,
                                port=22, prefix=self.namespaces.inside(self.campus_ns, []))
        self.sshd.start()

    def _start_ocserv(self) -> None:
        self.vpn_gateway.start()

    def write_hosts(self, via: str = "auto", path: Optional[Path] = None) -> Path:
        """Write a hosts.yaml for running sockdeploy inside the home namespace against the login host."""
        if self.sshd is None:
            raise LabError("the campus lab is not running", "start it first")
        return self.sshd.write_hosts_file(via=via, path=path or self.hosts_file, vpn_gateway=self.gateway)

    # --- VPN ------------------------------------------------------------------------

    def route_device(self, ns: str, ip: str) -> Optional[str]:
        """Return the device namespace `ns` would send packets for `ip` through."""
        return self.namespaces.route_device(ns, ip)

    def vpn_up(self, timeout: float = 30) -> None:
        """Connect openconnect in home to the campus gateway and wait until campus routes through it."""
        self.vpn_client.up(timeout)

    def vpn_is_up(self) -> bool:
        """Say whether openconnect runs and home routes the login host through its device."""
        return self.vpn_client.is_up()

    def vpn_down(self) -> None:
        """Disconnect openconnect (SIGINT logs off and runs vpnc-script) and wait for its device to vanish."""
        self.vpn_client.down()

    # --- looking at it --------------------------------------------------------------

    def login_count(self) -> int:
        """Return how many logins the campus sshd accepted."""
        return self.sshd.login_count() if self.sshd else 0

    def leftover_processes(self) -> List[str]:
        """Return processes still working inside the login host's sockdeploy workdir."""
        return self.sshd.leftover_processes() if self.sshd else []

    def leftover_dirs(self) -> List[str]:
        """Return run directories left in the login host's sockdeploy workdir."""
        return self.sshd.leftover_dirs() if self.sshd else []

    def state(self) -> Dict[str, Any]:
        """Describe the lab for `lab status`: namespaces, addresses, daemons, VPN and files."""
        present = set(self.namespaces.listed())

        def alive(proc: Optional[subprocess.Popen]) -> Optional[int]:
            return proc.pid if proc is not None and proc.poll() is None else None

        return {
            "dir": str(self.dir),
            "running": self.campus_ns in present and self.home_ns in present,
            "namespaces": {"campus": self.campus_ns, "home": self.home_ns},
            "namespaces_present": sorted(present & {self.campus_ns, self.home_ns}),
            "addresses": {"internet": INTERNET_NET, "home": HOME_IP, "gateway": GATEWAY_IP, "server": SERVER_IP,
                          "campus_net": CAMPUS_NET, "vpn_pool": VPN_POOL},
            "names": {SERVER_NAME: SERVER_IP, GATEWAY_NAME: GATEWAY_IP, HOME_NAME: HOME_IP},
            "course_ports": f"{COURSE_PORTS[0]}-{COURSE_PORTS[1]}",
            "sshd": {"pid": alive(self.sshd.proc) if self.sshd else None, "port": 22,
                     "log": str(self.sshd.log_file) if self.sshd else None},
            "ocserv": {"pid": alive(self.vpn_gateway.proc), "log": str(self.vpn_gateway.log_file)},
            "openconnect": {"pid": alive(self.vpn_client.proc), "log": str(self.vpn_client.log_file)},
            "vpn_up": self.vpn_is_up() if self.home_ns in present else False,
            "vpn": {"url": f"https://{GATEWAY_NAME}/", "user": VPN_USER, "password_file": str(self.vpn_password_file),
                    "servercert": self.servercert},
            "processes": self.namespaces.processes(sorted(present)),
            "hosts_file": str(self.hosts_file) if self.hosts_file.exists() else None,
            "run_in_home": f"sudo ip netns exec {self.home_ns} COMMAND",
        }

    # --- stop -----------------------------------------------------------------------

    def stop(self) -> None:
        """Take everything down; safe to call twice and after a half-finished start."""
        problems: List[str] = []
        try:
            self.vpn_client.close()
        except Exception as exc:  # keep tearing down; report at the end
            problems.append(f"openconnect: {exc}")
        self.vpn_gateway.close()
        if self.sshd is not None:
            try:
                self.sshd.stop()
            except Exception as exc:
                problems.append(f"sshd: {exc}")
        try:
            self.namespaces.close()
        except LabError as exc:
            problems.append(exc.message)
        if self._owns_dir and not problems:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise LabError("the campus lab did not stop cleanly: " + "; ".join(problems),
                           "check 'ip netns list' and remove leftovers with 'sudo ip netns del NAME'")

    close = stop
