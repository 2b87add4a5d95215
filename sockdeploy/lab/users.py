"""The two-factor lab's own user account: made (or reclaimed) on start, deleted on close."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import List, Optional

from sockdeploy.errors import LabError

LAB_USER_GECOS = "sockdeploy lab user"  # marks accounts the lab may reuse and delete
USER_TOOLS = ("useradd", "userdel", "chpasswd")


class LabUser:
    """A local account the lab creates for password (and TOTP) logins; `close()` deletes it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.password = ""
        self._made = False

    def __enter__(self) -> LabUser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def check_tools() -> None:
        """Raise LabError unless the account tools are installed."""
        for tool in USER_TOOLS:
            if not shutil.which(tool):
                raise LabError(f"{tool} is not installed, so the two-factor lab cannot make its user",
                               "install it: sudo apt-get install passwd")

    def create(self) -> Path:
        """Make the account (or reclaim a dead lab's) and return its sockdeploy workdir, owned by it."""
        try:
            existing = pwd.getpwnam(self.name)
        except KeyError:
            existing = None
        if existing is not None and existing.pw_gecos != LAB_USER_GECOS:
            raise LabError(f"a user named {self.name!r} already exists and was not made by sockdeploy's lab",
                           "pick another name with auth_user=..., or remove that account")
        if existing is None:
            _must(["useradd", "--create-home", "--shell", "/bin/sh", "--comment", LAB_USER_GECOS, self.name],
                  f"creating the lab user {self.name}")
        # a reused account is a leftover of a lab that died; this lab owns it now and deletes it on close
        self._made = True
        entry = pwd.getpwnam(self.name)
        home = Path(entry.pw_dir)
        # the lab folder may sit under root-only directories, so the user's runs live in its own home
        workdir = home / ".sockdeploy"
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (home, workdir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return workdir

    def set_random_password(self) -> str:
        """Give the account a fresh random password and return it."""
        self.password = secrets.token_urlsafe(18)
        # chpasswd reads stdin, so the password never shows in a process list
        _must(["chpasswd"], f"setting the password of the lab user {self.name}", input=f"{self.name}:{self.password}\n")
        return self.password

    def close(self) -> None:
        """Forget the password and delete the account with its home; safe to call more than once."""
        self.password = ""
        if not self._made:
            return
        _kill_user_processes(self.name)
        # userdel exits non-zero for harmless things (no mail spool), so check the result instead
        done = subprocess.run(["userdel", "--remove", self.name], capture_output=True, text=True)
        self._made = False
        try:
            pwd.getpwnam(self.name)
        except KeyError:
            return
        raise LabError(f"could not remove the lab user {self.name}: {done.stderr.strip()}",
                       f"remove it by hand: sudo userdel --remove {self.name}")


def current_user() -> str:
    """Return the name of the user this process runs as."""
    return pwd.getpwuid(os.geteuid()).pw_name


def _must(argv: List[str], what: str, input: Optional[str] = None) -> None:
    """Run a setup command; turn its failure into a LabError that shows its output."""
    done = subprocess.run(argv, input=input, capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"{what} failed ({argv[0]} exited {done.returncode}): {done.stderr.strip()[-300:]}",
                       "check that this machine allows creating users (root, a writable /etc)")


def _user_pids(uid: int) -> List[int]:
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    pids.append(int(pid))
            except OSError:
                continue
    return pids


def _kill_user_processes(user: str) -> None:
    """SIGKILL every process of the lab's own user, so userdel can remove it."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    for _ in range(50):
        pids = _user_pids(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
