"""The two-factor lab's PAM service: its own file in /etc/pam.d and the sshd link that selects it.

sshd takes its PAM service name from its program name (OpenSSH's SSHD_PAM_SERVICE is __progname),
so the lab runs sshd through a symlink named after its PAM file; /etc/pam.d/sshd is never touched.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Optional

from sockdeploy.lab.templates import render

PAM_DIR = Path("/etc/pam.d")
PAM_SERVICE_PREFIX = "sockdeploy-lab-"


class PamService:
    """One lab's PAM file (password, then optionally TOTP) and its sshd link; `close()` removes both."""

    def __init__(self, lab_dir: Path, pam_dir: Path = PAM_DIR) -> None:
        self.lab_dir = lab_dir
        self.pam_dir = pam_dir
        self.name: Optional[str] = None
        self._file: Optional[Path] = None

    def __enter__(self) -> PamService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, totp_module: Optional[str] = None, totp_secret: Optional[Path] = None) -> str:
        """Write the PAM file: the password, then the TOTP module when one is given; return the service name."""
        self.name = f"{PAM_SERVICE_PREFIX}{secrets.token_hex(4)}"
        path = self.pam_dir / self.name
        text = render_pam_service(os.getpid(), self.lab_dir, totp_module, totp_secret)
        # O_EXCL: never overwrite a PAM file that is not ours
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._file = path
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return self.name

    def link(self, sshd: str) -> str:
        """Return a path that runs `sshd` under this service's name."""
        assert self.name is not None, "write() names the service"
        link = self.lab_dir / self.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(sshd)
        return str(link)

    def close(self) -> None:
        """Remove the PAM file and the sshd link; safe to call more than once."""
        if self._file is not None:
            self._file.unlink(missing_ok=True)
            self._file = None
        if self.name:
            link = self.lab_dir / self.name
            if link.is_symlink():
                link.unlink()


def render_pam_service(owner_pid: int, folder: Path, totp_module: Optional[str], totp_secret: Optional[Path]) -> str:
    """Return the PAM file's text; the first line names the owner so a later lab can sweep it."""
    # both 'required', so a wrong password still gets the code prompt and reveals nothing
    totp = f"auth required {totp_module} secret={totp_secret} user=root noskewadj\n" if totp_module else ""
    return render("pam_service", pid=owner_pid, folder=folder, totp=totp)


def sweep_stale_pam_files(pam_dir: Path = PAM_DIR) -> None:
    """Remove PAM files of labs whose owning process is gone (it was killed before stop())."""
    for path in pam_dir.glob(f"{PAM_SERVICE_PREFIX}*"):
        try:
            words = path.read_text().split("\n", 1)[0].split()
            pid = int(words[words.index("pid") + 1].rstrip(","))
        except (OSError, ValueError, IndexError):
            continue
        if not Path(f"/proc/{pid}").exists():
            path.unlink(missing_ok=True)
