"""The built-in lab: a throwaway OpenSSH sshd on loopback with its own keys and known_hosts.

`sockdeploy demo` and the integration tests share this one implementation.

With `auth="password+totp"` (root only) the lab plays a login host with two factors:
PAM asks a dedicated user's password, then a TOTP code (pam_google_authenticator).
sshd takes its PAM service name from its program name, so the lab runs sshd through
a symlink named after a PAM file of its own; /etc/pam.d/sshd is never touched.

With `auth="password"` (root only) the same dedicated user logs in with its password
alone (sshd's password method through PAM) or with a key from its own
~/.ssh/authorized_keys, which starts empty: the lab for installing a key like ssh-copy-id.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import hmac
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Sequence

from sockdeploy.errors import LabError

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")
AUTH_MODES = ("key", "password+totp", "password")
PAM_DIR = Path("/etc/pam.d")
PAM_SERVICE_PREFIX = "sockdeploy-lab-"
LAB_USER_GECOS = "sockdeploy lab user"  # marks accounts the lab may reuse and delete
TOTP_STEP = 30
TOTP_DIGITS = 6
GOOGLE_AUTHENTICATOR_GLOBS = ("/lib/*/security/pam_google_authenticator.so", "/usr/lib/*/security/pam_google_authenticator.so",
                              "/lib/security/pam_google_authenticator.so", "/usr/lib/security/pam_google_authenticator.so")


def find_sshd() -> str:
    found = shutil.which("sshd") or next((p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), None)
    if not found:
        raise LabError("the OpenSSH server (sshd) is not installed, so the built-in lab cannot start",
                       "install it: sudo apt-get install openssh-server (Debian, Raspberry Pi OS, Ubuntu)")
    return found


def find_pam_totp_module() -> str:
    """Return the path of pam_google_authenticator.so, or raise LabError saying how to install it."""
    for pattern in GOOGLE_AUTHENTICATOR_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    raise LabError("the TOTP PAM module (pam_google_authenticator) is not installed, so the two-factor lab cannot start",
                   "install it: sudo apt-get install libpam-google-authenticator")


def totp(secret: bytes, at: Optional[float] = None, step: int = TOTP_STEP, digits: int = TOTP_DIGITS) -> str:
    """Return the RFC 6238 TOTP code (HMAC-SHA1) of `secret` at time `at` (default: now)."""
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F  # RFC 4226 dynamic truncation
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackLab:
    """An sshd on 127.0.0.1: one generated key for the current user, or a lab user's password plus TOTP."""

    def __init__(self, base: Optional[Path] = None, *, extra_sshd_config: str = "", listen: str = "127.0.0.1",
                 host_name: str = "localhost", port: Optional[int] = None, prefix: Sequence[str] = (),
                 forwarding: bool = True, auth: str = "key", auth_user: str = "sdlab2fa") -> None:
        """`prefix` runs sshd inside something (e.g. `ip netns exec NS`); `listen`/`port` set its address.

        `auth` is "key" (the current user, a generated key) or "password+totp" (root only: the
        dedicated user `auth_user` logs in with a password, then a TOTP code).
        """
        if auth not in AUTH_MODES:
            raise LabError(f"unknown lab auth mode {auth!r}", f"use one of: {', '.join(AUTH_MODES)}")
        self.auth = auth
        self._owns_dir = base is None
        self.dir = Path(base) if base else Path(tempfile.mkdtemp(prefix="sockdeploy-lab-"))
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.extra = extra_sshd_config
        self.listen = listen
        self.host_name = host_name
        self.fixed_port = port
        self.prefix = list(prefix)
        self.forwarding = forwarding
        self.user = auth_user if auth != "key" else _current_user()
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.hosts_file = self.dir / "hosts.yaml"
        self.log_file = self.dir / "sshd.log"
        self.workdir = self.dir / "server-home" / ".sockdeploy"
        self.identity = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.host_key = self.dir / "ssh_host_ed25519_key"
        # two-factor mode only; filled by start()
        self.password = ""
        self.totp_secret = b""
        self.totp_file = self.dir / "totp_secret"
        self.pam_service: Optional[str] = None
        self._pam_file: Optional[Path] = None
        self._user_made = False

    def __enter__(self) -> LoopbackLab:
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

    def start(self) -> LoopbackLab:
        """Start sshd and write hosts.yaml; in two-factor mode set up the user and PAM first."""
        if self.auth == "key":
            return self._start(find_sshd())
        try:
            return self._start(self._setup_two_factor())
        except BaseException:
            # never leave sshd, a user or a PAM file behind when the lab fails to come up
            self.stop()
            raise

    def _start(self, sshd: str) -> LoopbackLab:
        if not self.host_key.exists():
            self._keygen(self.host_key, "sockdeploy-lab-host")
            self._keygen(self.identity, "sockdeploy-lab-user")
        shutil.copyfile(self.identity.with_suffix(".pub"), self.dir / "authorized_keys")
        if self.auth == "key":
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
AuthorizedKeysFile {self.dir / "authorized_keys" if self.auth != "password" else ".ssh/authorized_keys"}
AllowUsers {self.user}
StrictModes no
{self._auth_config()}PermitRootLogin prohibit-password
AllowTcpForwarding {"yes" if self.forwarding else "no"}
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
MaxStartups 100:30:200
MaxSessions 64
Subsystem sftp internal-sftp
{self.extra}
"""

    def _auth_config(self) -> str:
        if self.auth == "key":
            return "UsePAM no\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        if self.auth == "password":
            # the password through PAM, or a key the user installed in its own ~/.ssh
            return ("UsePAM yes\nPubkeyAuthentication yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n")
        # only PAM's conversation (password, then TOTP) can log in, as on the university's login host
        return ("UsePAM yes\nPubkeyAuthentication no\nPasswordAuthentication no\nKbdInteractiveAuthentication yes\n"
                "AuthenticationMethods keyboard-interactive\n")

    def write_hosts_file(self, via: str = "direct", path: Optional[Path] = None, vpn_gateway: Optional[str] = None) -> Path:
        target = path or self.hosts_file
        # the two-factor lab has no key: sockdeploy must fall back to asking the person
        identity = f"  identity: {self.identity}\n" if self.auth == "key" else ""
        target.write_text(f"""# written by sockdeploy's lab
server:
  host: {self.host_name}
  port: {self.port}
  user: {self.user}
{identity}  known_hosts: {self.known_hosts}
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

    def totp_now(self) -> str:
        """Return the TOTP code the lab accepts right now (two-factor mode)."""
        if not self.totp_secret:
            raise LabError("this lab has no TOTP secret", "start it with auth=\"password+totp\"")
        return totp(self.totp_secret)

    def stop(self) -> None:
        """Stop sshd and undo every change to the system; safe to call more than once."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self._teardown_two_factor()
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


    # -- two-factor mode ------------------------------------------------------

    def _setup_two_factor(self) -> str:
        """Create the lab user, its password, its TOTP secret (password+totp) and a PAM service; return the sshd path to run."""
        if os.geteuid() != 0:
            raise LabError(f"the {self.auth} lab needs root: it creates a user and a PAM service",
                           "run it as root (sudo), or use the key-only lab")
        sshd = find_sshd()
        module = find_pam_totp_module() if self.auth == "password+totp" else None
        for tool in ("useradd", "userdel", "chpasswd"):
            if not shutil.which(tool):
                raise LabError(f"{tool} is not installed, so the two-factor lab cannot make its user",
                               "install it: sudo apt-get install passwd")
        _sweep_stale_pam_files()
        self._make_user()
        self.password = secrets.token_urlsafe(18)
        # chpasswd reads stdin, so the password never shows in a process list
        _must(["chpasswd"], f"setting the password of the lab user {self.user}", input=f"{self.user}:{self.password}\n")
        if module is None:  # password only
            self._write_pam_service(None)
            return self._pam_link(sshd)
        self.totp_secret = secrets.token_bytes(20)
        if self.totp_file.exists():
            self.totp_file.chmod(0o600)
        # google-authenticator's file format; no DISALLOW_REUSE, so tests may log in twice in one 30 s step
        self.totp_file.write_text(base64.b32encode(self.totp_secret).decode() + "\n\" TOTP_AUTH\n")
        self.totp_file.chmod(0o400)  # the module refuses a secret others can read
        self._write_pam_service(module)
        return self._pam_link(sshd)

    def _pam_link(self, sshd: str) -> str:
        # sshd names its PAM service after its own program name (OpenSSH's SSHD_PAM_SERVICE is __progname)
        assert self.pam_service is not None
        link = self.dir / self.pam_service
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(sshd)
        return str(link)

    def _make_user(self) -> None:
        import pwd

        try:
            existing = pwd.getpwnam(self.user)
        except KeyError:
            existing = None
        if existing is not None and existing.pw_gecos != LAB_USER_GECOS:
            raise LabError(f"a user named {self.user!r} already exists and was not made by sockdeploy's lab",
                           "pick another name with auth_user=..., or remove that account")
        if existing is None:
            _must(["useradd", "--create-home", "--shell", "/bin/sh", "--comment", LAB_USER_GECOS, self.user],
                  f"creating the lab user {self.user}")
        # a reused account is a leftover of a lab that died; this lab owns it now and deletes it on stop
        self._user_made = True
        entry = pwd.getpwnam(self.user)
        home = Path(entry.pw_dir)
        # the lab folder may sit under root-only directories, so the user's runs live in its own home
        self.workdir = home / ".sockdeploy"
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (home, self.workdir):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _write_pam_service(self, module: Optional[str]) -> None:
        """Write the lab's PAM file: the password, then the TOTP `module` when one is given."""
        self.pam_service = f"{PAM_SERVICE_PREFIX}{secrets.token_hex(4)}"
        path = PAM_DIR / self.pam_service
        text = (f"# sockdeploy lab, owner pid {os.getpid()}, folder {self.dir}: removed when the lab stops\n"
                # both 'required', so a wrong password still gets the code prompt and reveals nothing
                "auth required pam_unix.so\n"
                + (f"auth required {module} secret={self.totp_file} user=root noskewadj\n" if module else "") +
                "account required pam_unix.so\n"
                "session required pam_permit.so\n"
                "password required pam_deny.so\n")
        # O_EXCL: never overwrite a PAM file that is not ours
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._pam_file = path
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def _teardown_two_factor(self) -> None:
        if self._pam_file is not None:
            try:
                self._pam_file.unlink()
            except FileNotFoundError:
                pass
            self._pam_file = None
        if self.pam_service:
            link = self.dir / self.pam_service
            if link.is_symlink():
                link.unlink()
        self.password = ""
        if self._user_made:
            import pwd

            _kill_user_processes(self.user)
            # userdel exits non-zero for harmless things (no mail spool), so check the result instead
            done = subprocess.run(["userdel", "--remove", self.user], capture_output=True, text=True)
            self._user_made = False
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                return
            raise LabError(f"could not remove the lab user {self.user}: {done.stderr.strip()}",
                           f"remove it by hand: sudo userdel --remove {self.user}")


def _must(argv: List[str], what: str, input: Optional[str] = None) -> None:
    """Run a setup command; turn its failure into a LabError that shows its output."""
    done = subprocess.run(argv, input=input, capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"{what} failed ({argv[0]} exited {done.returncode}): {done.stderr.strip()[-300:]}",
                       "check that this machine allows creating users (root, a writable /etc)")


def _kill_user_processes(user: str) -> None:
    """SIGKILL every process of the lab's own user, so userdel can remove it."""
    import pwd

    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    for _ in range(50):
        pids = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.stat(f"/proc/{pid}").st_uid == uid:
                        pids.append(int(pid))
                except OSError:
                    continue
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def _sweep_stale_pam_files() -> None:
    """Remove PAM files of labs whose owning process is gone (it was killed before stop())."""
    for path in PAM_DIR.glob(f"{PAM_SERVICE_PREFIX}*"):
        try:
            words = path.read_text().split("\n", 1)[0].split()
            pid = int(words[words.index("pid") + 1].rstrip(","))
        except (OSError, ValueError, IndexError):
            continue
        if not Path(f"/proc/{pid}").exists():
            path.unlink(missing_ok=True)


def _kh_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name
