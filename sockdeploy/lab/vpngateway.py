"""The campus VPN gateway: ocserv in the campus namespace with a self-signed certificate and one user."""

from __future__ import annotations

import grp
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional

from sockdeploy.errors import LabError
from sockdeploy.lab.addresses import CAMPUS_NET, GATEWAY_IP, GATEWAY_NAME, SERVER_IP, VPN_POOL, VPN_SERVER_DEVICE, VPN_USER
from sockdeploy.lab.certificate import make_certificate
from sockdeploy.lab.commands import must, stop_process, tail
from sockdeploy.lab.namespaces import Namespaces
from sockdeploy.lab.programs import find_tool
from sockdeploy.lab.templates import render
from sockdeploy.remote.scripts import load

START_TIMEOUT = 15.0
CONNECT_SCRIPT = "lab_vpn_connect.sh"


class VpnGateway:
    """ocserv on GATEWAY_IP:443 inside campus; `start()` runs it, `close()` stops it and removes its socket."""

    def __init__(self, folder: Path, namespaces: Namespaces) -> None:
        self.folder = folder
        self.namespaces = namespaces
        self.password_file = folder / "vpn-password"
        self.log_file = folder / "ocserv.log"
        self.config_file = folder / "ocserv.conf"
        self.connect_script = folder / "vpn-connect"
        self.cert_file = folder / "ocserv-cert.pem"
        self.key_file = folder / "ocserv-key.pem"
        self.servercert = ""  # pin-sha256:... of the key, filled by start()
        self.proc: Optional[subprocess.Popen] = None
        self._sock_dir: Optional[Path] = None

    def __enter__(self) -> VpnGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def running(self) -> bool:
        """Say whether ocserv runs."""
        return self.proc is not None and self.proc.poll() is None

    def socket_path(self) -> Path:
        """Return a socket path ocserv's unprivileged workers can reach and that fits in sun_path."""
        # the lab folder may sit under a 0700 parent (pytest's tmp), so keep the socket in its own 0711 dir
        if self._sock_dir is None:
            self._sock_dir = Path(tempfile.mkdtemp(prefix="sockdeploy-ocserv-", dir="/tmp"))
            self._sock_dir.chmod(0o711)
        return self._sock_dir / "ocserv.sock"

    def config(self) -> str:
        """Return ocserv's configuration for this lab."""
        try:
            group = grp.getgrnam("nogroup").gr_name
        except KeyError:
            group = "nobody"
        pool, campus = ipaddress.ip_network(VPN_POOL), ipaddress.ip_network(CAMPUS_NET)
        return render("ocserv.conf", passwd_file=self.folder / "ocpasswd", listen=GATEWAY_IP, group=group,
                      socket_file=self.socket_path(), pid_file=self.folder / "ocserv.pid", cert_file=self.cert_file,
                      key_file=self.key_file, device=VPN_SERVER_DEVICE, pool_address=pool.network_address,
                      pool_netmask=pool.netmask, route=f"{campus.network_address}/{campus.netmask}",
                      connect_script=self.connect_script)

    def script_environment(self) -> Dict[str, str]:
        """Return ocserv's environment: the connect script reads its settings from it (ocserv keeps it)."""
        return dict(os.environ, SOCKDEPLOY_LAB_IP=self.namespaces.ip, SOCKDEPLOY_LAB_SOURCE=SERVER_IP)

    def start(self) -> None:
        """Write the certificate, the VPN user's password and the configuration; run ocserv until it listens."""
        self.servercert = make_certificate(self.cert_file, self.key_file, GATEWAY_NAME)
        password = secrets.token_urlsafe(12)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        must([find_tool("ocpasswd") or "ocpasswd", "-c", str(self.folder / "ocpasswd"), VPN_USER],
             "writing the VPN password file", input=f"{password}\n{password}\n")
        self.connect_script.write_text(load(CONNECT_SCRIPT))
        self.connect_script.chmod(0o700)
        self.config_file.write_text(self.config())
        ocserv = find_tool("ocserv") or "ocserv"
        must([ocserv, "-t", "-c", str(self.config_file)], "checking the ocserv configuration")
        with open(self.log_file, "w") as log:
            self.proc = self.namespaces.popen(self.namespaces.campus, [ocserv, "-f", "-c", str(self.config_file)],
                                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                              env=self.script_environment())
        self._wait_listening(self.proc)

    def _wait_listening(self, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LabError(f"ocserv exited at start: {tail(self.log_file)}",
                               "check that /dev/net/tun exists and port 443 is free in the campus namespace")
            text = self.log_file.read_text(errors="replace")
            # sec-mod must be up too, or the first login is refused
            if "listening (TCP)" in text and "sec-mod initialized" in text:
                return
            time.sleep(0.05)
        raise LabError(f"ocserv did not come up within 15 s: {tail(self.log_file)}", "see ocserv.log in the lab folder")

    def close(self) -> None:
        """Stop ocserv and remove its socket folder; safe to call more than once."""
        proc, self.proc = self.proc, None
        stop_process(proc, signal.SIGTERM)
        if self._sock_dir is not None:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
            self._sock_dir = None
