"""The built-in lab: a throwaway OpenSSH sshd on loopback with its own keys and known_hosts.

`sockdeploy demo` and the integration tests share this one implementation.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Sequence

from sockdeploy.errors import LabError

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")


def find_sshd() -> str:
    found = shutil.which("sshd") or next((p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), None)
    if not found:
        raise LabError("the OpenSSH server (sshd) is not installed, so the built-in lab cannot start",
                       "install it: sudo apt-get install openssh-server (Debian, Raspberry Pi OS, Ubuntu)")
    return found


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackLab:
    """An sshd on 127.0.0.1 that accepts one generated key for the current user."""

    def __init__(self, base: Optional[Path] = None, *, extra_sshd_config: str = "", listen: str = "127.0.0.1",
                 host_name: str = "localhost", port: Optional[int] = None, prefix: Sequence[str] = (),
                 forwarding: bool = True) -> None:
        """`prefix` runs sshd inside something (e.g. `ip netns exec NS`); `listen`/`port` set its address."""
        self._owns_dir = base is None
        self.dir = Path(base) if base else Path(tempfile.mkdtemp(prefix="sockdeploy-lab-"))
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.extra = extra_sshd_config
        self.listen = listen
        self.host_name = host_name
        self.fixed_port = port
        self.prefix = list(prefix)
        self.forwarding = forwarding
        self.user = _current_user()
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.hosts_file = self.dir / "hosts.yaml"
        self.log_file = self.dir / "sshd.log"
        self.workdir = self.dir / "server-home" / ".sockdeploy"
        self.identity = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.host_key = self.dir / "ssh_host_ed25519_key"

    def __enter__(self) -> "LoopbackLab":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _keygen(self, path: Path, comment: str) -> None:
        keygen = shutil.which("ssh-keygen")
        if not keygen:
            raise LabError("ssh-keygen is not installed", "install it: sudo apt-get install openssh-client")
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> "LoopbackLab":
        sshd = find_sshd()
        if not self.host_key.exists():
            self._keygen(self.host_key, "sockdeploy-lab-host")
            self._keygen(self.identity, "sockdeploy-lab-user")
        shutil.copyfile(self.identity.with_suffix(".pub"), self.dir / "authorized_keys")
        self.workdir.parent.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        self.port = self.fixed_port or free_loopback_port()
        cfg = self.dir / "sshd_config"
        cfg.write_text(self.sshd_config())
        check = subprocess.run([sshd, "-t", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise LabError(f"the lab's sshd configuration was refused: {check.stderr.strip()}", "report this as a sockdeploy bug")
        hostpub = self.host_key.with_suffix(".pub").read_text().split()
        names = dict.fromkeys((self.host_name, self.listen))
        self.known_hosts.write_text("".join(f"{_kh_name(h, self.port)} {hostpub[0]} {hostpub[1]}\n" for h in names))
        self.log_file.write_text("")
        self.proc = subprocess.Popen(self.prefix + [sshd, "-D", "-f", str(cfg), "-E", str(self.log_file)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabError(f"the lab's sshd exited at start: {self.log_file.read_text().strip()[-500:]}",
                               "check that sshd runs on this machine (sshd -t)")
            # sshd logs this once its socket listens; works inside namespaces too
            if "Server listening on" in self.log_file.read_text(errors="replace"):
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise LabError("the lab's sshd did not answer within 10 s", "check the machine's load and sshd.log in the lab folder")
        self.write_hosts_file()
        return self

    def sshd_config(self) -> str:
        return f"""# sockdeploy loopback lab: throwaway sshd, loopback only
Port {self.port}
ListenAddress {self.listen}
HostKey {self.host_key}
PidFile {self.dir}/sshd.pid
AuthorizedKeysFile {self.dir}/authorized_keys
AllowUsers {self.user}
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding {"yes" if self.forwarding else "no"}
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
MaxStartups 100:30:200
MaxSessions 64
Subsystem sftp internal-sftp
{self.extra}
"""

    def write_hosts_file(self, via: str = "direct", path: Optional[Path] = None, vpn_gateway: Optional[str] = None) -> Path:
        target = path or self.hosts_file
        target.write_text(f"""# written by sockdeploy's lab
server:
  host: {self.host_name}
  port: {self.port}
  user: {self.user}
  identity: {self.identity}
  known_hosts: {self.known_hosts}
  workdir: {self.workdir}
  ssh_config: none
  agent: false
client:
  host: local
network:
  via: {via}
  ports: 30000-40000
""" + (f"  vpn:\n    gateway: {vpn_gateway}\n" if vpn_gateway else ""))
        return target

    def login_count(self) -> int:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if "Accepted publickey for" in line or "Accepted password for" in line
                   or "Accepted keyboard-interactive" in line)

    def connection_count(self) -> int:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if "Connection from" in line)

    def leftover_processes(self) -> List[str]:
        """Return processes whose working directory is inside the lab's remote workdir."""
        found = []
        root = str(self.workdir)
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if cwd.startswith(root):
                found.append(f"{pid} {cmd}")
        return found

    def leftover_dirs(self) -> List[str]:
        if not self.workdir.is_dir():
            return []
        return sorted(str(p) for p in self.workdir.iterdir())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _kh_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name
