"""A throwaway OpenSSH sshd: its keys, its configuration, its known_hosts, its process and its log."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional, Sequence

from sockdeploy.errors import LabError
from sockdeploy.lab.programs import find_keygen
from sockdeploy.lab.templates import render

START_TIMEOUT = 10.0
AUTH_TEMPLATES = {"key": "sshd_auth_key", "password": "sshd_auth_password", "password+totp": "sshd_auth_totp"}
LOGIN_MARKS = ("Accepted publickey for", "Accepted password for", "Accepted keyboard-interactive")


def free_loopback_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sshd:
    """An sshd for one lab folder; `start()` (or `prepare()` then `run()`) runs it, `close()` stops it."""

    def __init__(self, folder: Path, *, user: str, auth: str = "key", listen: str = "127.0.0.1",
                 host_name: str = "localhost", port: Optional[int] = None, prefix: Sequence[str] = (),
                 forwarding: bool = True, extra_config: str = "") -> None:
        """`prefix` runs sshd inside something (e.g. `ip netns exec NS`); `port` None picks a free one."""
        self.folder = folder
        self.user = user
        self.auth = auth
        self.listen = listen
        self.host_name = host_name
        self.fixed_port = port
        self.prefix = list(prefix)
        self.forwarding = forwarding
        self.extra_config = extra_config
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.host_key = folder / "ssh_host_ed25519_key"
        self.identity = folder / "id_ed25519"
        self.known_hosts = folder / "known_hosts"
        self.log_file = folder / "sshd.log"
        self.config_file = folder / "sshd_config"
        self.authorized_keys = folder / "authorized_keys"

    def __enter__(self) -> Sshd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def config(self) -> str:
        """Return the sshd_config text for the current port, user and auth mode."""
        # in password mode the user installs keys in its own ~/.ssh, like ssh-copy-id does
        keys = ".ssh/authorized_keys" if self.auth == "password" else self.authorized_keys
        return render("sshd_config", port=self.port, listen=self.listen, host_key=self.host_key,
                      pid_file=self.folder / "sshd.pid", authorized_keys=keys, user=self.user,
                      auth=render(AUTH_TEMPLATES[self.auth]), forwarding="yes" if self.forwarding else "no",
                      extra=self.extra_config)

    def start(self, program: str) -> None:
        """Prepare keys and port, then run `program` as sshd with config()."""
        self.prepare()
        self.run(program, self.config())

    def prepare(self) -> None:
        """Make the keys and pick the port, so config() can be rendered."""
        self._make_keys()
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        self.port = self.fixed_port or free_loopback_port()

    def run(self, program: str, config: str) -> None:
        """Write and check `config`, run `program` as sshd with it and wait until it listens."""
        self.config_file.write_text(config)
        check = subprocess.run([program, "-t", "-f", str(self.config_file)], capture_output=True, text=True)
        if check.returncode != 0:
            raise LabError(f"the lab's sshd configuration was refused: {check.stderr.strip()}", "report this as a sockdeploy bug")
        self._write_known_hosts()
        self.log_file.write_text("")
        self.proc = subprocess.Popen(self.prefix + [program, "-D", "-f", str(self.config_file), "-E", str(self.log_file)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_listening()

    def _make_keys(self) -> None:
        if not self.host_key.exists():
            _keygen(self.host_key, "sockdeploy-lab-host")
            _keygen(self.identity, "sockdeploy-lab-user")
        shutil.copyfile(self.identity.with_suffix(".pub"), self.authorized_keys)

    def _write_known_hosts(self) -> None:
        kind, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        names = dict.fromkeys((self.host_name, self.listen))
        self.known_hosts.write_text("".join(f"{_known_hosts_name(h, self.port)} {kind} {key}\n" for h in names))

    def _wait_listening(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabError(f"the lab's sshd exited at start: {self.log_file.read_text().strip()[-500:]}",
                               "check that sshd runs on this machine (sshd -t)")
            # sshd logs this once its socket listens; works inside namespaces too
            if "Server listening on" in self.log_file.read_text(errors="replace"):
                return
            time.sleep(0.05)
        self.close()
        raise LabError("the lab's sshd did not answer within 10 s", "check the machine's load and sshd.log in the lab folder")

    def close(self) -> None:
        """Stop sshd (SIGTERM, then SIGKILL after 5 s); safe to call more than once."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def _log_lines(self) -> List[str]:
        try:
            return self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def login_count(self) -> int:
        """Return how many logins sshd accepted, by any method."""
        return sum(1 for line in self._log_lines() if any(mark in line for mark in LOGIN_MARKS))

    def connection_count(self) -> int:
        """Return how many TCP connections sshd accepted."""
        return sum(1 for line in self._log_lines() if "Connection from" in line)


def _keygen(path: Path, comment: str) -> None:
    subprocess.run([find_keygen(), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"
