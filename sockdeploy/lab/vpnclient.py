"""The student's VPN client: openconnect in the home namespace, logged in to the campus gateway."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import NoReturn, Optional

from sockdeploy.errors import LabError
from sockdeploy.lab.addresses import GATEWAY_NAME, SERVER_IP, VPN_DEVICE, VPN_USER
from sockdeploy.lab.commands import stop_process, tail
from sockdeploy.lab.namespaces import Namespaces
from sockdeploy.lab.programs import find_tool, find_vpnc_script
from sockdeploy.lab.vpngateway import VpnGateway


class VpnClient:
    """openconnect for the lab's VPN user; `up()` connects, `close()` (or `down()`) disconnects."""

    def __init__(self, folder: Path, namespaces: Namespaces, gateway: VpnGateway) -> None:
        self.namespaces = namespaces
        self.gateway = gateway
        self.log_file = folder / "openconnect.log"
        self.pid_file = folder / "openconnect.pid"
        self.proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> VpnClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def routes_through_vpn(self) -> bool:
        """Say whether home's VPN device is up and carries the login host's route."""
        home = self.namespaces.home
        return self.namespaces.link_up(home, VPN_DEVICE) and self.namespaces.route_device(home, SERVER_IP) == VPN_DEVICE

    def is_up(self) -> bool:
        """Say whether openconnect runs and home routes the login host through its device."""
        return self.proc is not None and self.proc.poll() is None and self.routes_through_vpn()

    def up(self, timeout: float = 30) -> None:
        """Connect to the campus gateway and wait until campus routes through the VPN."""
        if self.is_up():
            return
        if not self.gateway.running():
            raise LabError("the campus VPN gateway is not running", "start the campus lab first")
        self.down()
        script = find_vpnc_script()
        if not script:
            raise LabError("vpnc-script is not installed", "sudo apt-get install -y vpnc-scripts")
        proc = self._launch(script)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = proc.poll()
            if status is not None:
                self._fail(f"openconnect exited with status {status}")
            if self.routes_through_vpn():
                return
            time.sleep(0.1)
        self._fail(f"the VPN did not come up within {timeout:g} s")

    def _launch(self, script: str) -> subprocess.Popen:
        argv = [find_tool("openconnect") or "openconnect", "--non-inter", "--passwd-on-stdin", "-u", VPN_USER,
                "--servercert", self.gateway.servercert, "--script", script, "--interface", VPN_DEVICE,
                "--reconnect-timeout", "10", f"https://{GATEWAY_NAME}/"]
        with open(self.log_file, "w") as log:
            proc = self.namespaces.popen(self.namespaces.home, argv, stdin=subprocess.PIPE, stdout=log,
                                         stderr=subprocess.STDOUT, text=True)
        self.proc = proc
        # ip netns exec execs, so this pid is openconnect itself
        self.pid_file.write_text(f"{proc.pid}\n")
        assert proc.stdin is not None
        proc.stdin.write(self.gateway.password_file.read_text())
        proc.stdin.close()
        return proc

    def _fail(self, what: str) -> NoReturn:
        log_text = tail(self.log_file)
        self.down()
        raise LabError(f"{what}: {log_text}", "see openconnect.log and ocserv.log in the lab folder")

    def down(self) -> None:
        """Disconnect (SIGINT logs off and runs vpnc-script) and wait for the device to vanish."""
        proc, self.proc = self.proc, None
        stop_process(proc, signal.SIGINT, timeout=10)
        self.pid_file.unlink(missing_ok=True)
        home = self.namespaces.home
        if not self.namespaces.made or home not in self.namespaces.listed():
            return
        deadline = time.monotonic() + 5
        while self.namespaces.link_exists(home, VPN_DEVICE) and time.monotonic() < deadline:
            time.sleep(0.05)

    close = down
