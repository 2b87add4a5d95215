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

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

from sockdeploy.errors import LabError
from sockdeploy.lab import leftovers
from sockdeploy.lab.hostsfile import HostsFile
from sockdeploy.lab.pam import PAM_DIR, PAM_SERVICE_PREFIX, PamService, sweep_stale_pam_files
from sockdeploy.lab.programs import find_pam_totp_module, find_sshd
from sockdeploy.lab.sshd import Sshd, free_loopback_port
from sockdeploy.lab.totp import TOTP_DIGITS, TOTP_STEP, totp, write_secret_file
from sockdeploy.lab.users import LAB_USER_GECOS, LabUser, current_user

# names other modules and the tests import from here
__all__ = ["AUTH_MODES", "LAB_USER_GECOS", "PAM_DIR", "PAM_SERVICE_PREFIX", "TOTP_DIGITS", "TOTP_STEP", "LoopbackLab",
           "find_pam_totp_module", "find_sshd", "free_loopback_port", "totp"]

AUTH_MODES = ("key", "password+totp", "password")


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
        self.user = auth_user if auth != "key" else current_user()
        self.server = Sshd(self.dir, user=self.user, auth=auth, listen=listen, host_name=host_name, port=port,
                           prefix=prefix, forwarding=forwarding, extra_config=extra_sshd_config)
        self.hosts_file = self.dir / "hosts.yaml"
        self.log_file = self.server.log_file
        self.identity = self.server.identity
        self.known_hosts = self.server.known_hosts
        self.host_key = self.server.host_key
        self.workdir = self.dir / "server-home" / ".sockdeploy"
        # password modes only; filled by start()
        self.totp_secret = b""
        self.totp_file = self.dir / "totp_secret"
        self._lab_user: Optional[LabUser] = None
        self._pam = PamService(self.dir)

    def __enter__(self) -> LoopbackLab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port sshd listens on (0 before start())."""
        return self.server.port

    @property
    def proc(self) -> Optional[subprocess.Popen]:
        """The running sshd process, or None."""
        return self.server.proc

    @property
    def host_name(self) -> str:
        """The name hosts.yaml and known_hosts give the server."""
        return self.server.host_name

    @property
    def listen(self) -> str:
        """The address sshd listens on."""
        return self.server.listen

    @property
    def password(self) -> str:
        """The lab user's password in the password modes ("" otherwise and after stop())."""
        return self._lab_user.password if self._lab_user else ""

    @property
    def pam_service(self) -> Optional[str]:
        """The name of the lab's own PAM service in the password modes."""
        return self._pam.name

    def start(self) -> LoopbackLab:
        """Start sshd and write hosts.yaml; in the password modes set up the user and PAM first."""
        try:
            program = find_sshd() if self.auth == "key" else self._setup_login()
            if self.auth == "key":
                self.workdir.parent.mkdir(mode=0o700, exist_ok=True)
            self.server.prepare()
            # sshd_config() is a hook: a subclass may adjust the text before sshd reads it
            self.server.run(program, self.sshd_config())
            self.write_hosts_file()
        except BaseException:
            # never leave sshd, a user or a PAM file behind when the lab fails to come up
            self.stop()
            raise
        return self

    def _setup_login(self) -> str:
        """Create the lab user, its password, its TOTP secret (password+totp) and a PAM service; return the sshd to run."""
        if os.geteuid() != 0:
            raise LabError(f"the {self.auth} lab needs root: it creates a user and a PAM service",
                           "run it as root (sudo), or use the key-only lab")
        sshd = find_sshd()
        module = find_pam_totp_module() if self.auth == "password+totp" else None
        LabUser.check_tools()
        sweep_stale_pam_files()
        self._lab_user = LabUser(self.user)
        self.workdir = self._lab_user.create()
        self._lab_user.set_random_password()
        if module is not None:
            self.totp_secret = secrets.token_bytes(20)
            write_secret_file(self.totp_file, self.totp_secret)
        self._pam.write(module, self.totp_file if module else None)
        return self._pam.link(sshd)

    def sshd_config(self) -> str:
        """Return the sshd_config the lab runs with."""
        return self.server.config()

    def write_hosts_file(self, via: str = "direct", path: Optional[Path] = None, vpn_gateway: Optional[str] = None) -> Path:
        """Write hosts.yaml for this lab (default: the lab's own hosts_file) and return its path."""
        # the password labs have no key: sockdeploy must fall back to asking the person
        hosts = HostsFile(host=self.host_name, port=self.port, user=self.user, known_hosts=self.known_hosts,
                          workdir=self.workdir, identity=self.identity if self.auth == "key" else None)
        return hosts.write(path or self.hosts_file, via, vpn_gateway)

    def login_count(self) -> int:
        """Return how many logins the lab's sshd accepted."""
        return self.server.login_count()

    def connection_count(self) -> int:
        """Return how many connections the lab's sshd accepted."""
        return self.server.connection_count()

    def leftover_processes(self) -> List[str]:
        """Return processes whose working directory is inside the lab's remote workdir."""
        return leftovers.leftover_processes(self.workdir)

    def leftover_dirs(self) -> List[str]:
        """Return run directories left in the lab's remote workdir."""
        return leftovers.leftover_dirs(self.workdir)

    def totp_now(self) -> str:
        """Return the TOTP code the lab accepts right now (two-factor mode)."""
        if not self.totp_secret:
            raise LabError("this lab has no TOTP secret", "start it with auth=\"password+totp\"")
        return totp(self.totp_secret)

    def stop(self) -> None:
        """Stop sshd and undo every change to the system; safe to call more than once."""
        self.server.close()
        self._pam.close()
        if self._lab_user is not None:
            self._lab_user.close()
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    close = stop
