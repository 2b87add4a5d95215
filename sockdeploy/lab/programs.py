"""Where the labs' programs live: sshd, ip, ocserv, the TOTP PAM module, vpnc-script."""

from __future__ import annotations

import glob
import os
import shutil
from typing import Optional

from sockdeploy.errors import LabError

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin")
VPNC_SCRIPTS = ("/usr/share/vpnc-scripts/vpnc-script", "/etc/vpnc/vpnc-script",
                "/usr/local/share/vpnc-scripts/vpnc-script")
GOOGLE_AUTHENTICATOR_GLOBS = ("/lib/*/security/pam_google_authenticator.so", "/usr/lib/*/security/pam_google_authenticator.so",
                              "/lib/security/pam_google_authenticator.so", "/usr/lib/security/pam_google_authenticator.so")


def find_sshd() -> str:
    """Return the path of OpenSSH's sshd, or raise LabError saying how to install it."""
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


def find_tool(name: str) -> Optional[str]:
    """Find a program, also in the sbin directories sudo's PATH may lack."""
    found = shutil.which(name)
    if found:
        return found
    return next((f"{d}/{name}" for d in SBIN_DIRS if os.access(f"{d}/{name}", os.X_OK)), None)


def find_vpnc_script() -> Optional[str]:
    """Return the vpnc-script openconnect configures its device with, if one is installed."""
    return next((p for p in VPNC_SCRIPTS if os.access(p, os.X_OK)), None)


def find_keygen() -> str:
    """Return the path of ssh-keygen, or raise LabError saying how to install it."""
    keygen = shutil.which("ssh-keygen")
    if not keygen:
        raise LabError("ssh-keygen is not installed", "install it: sudo apt-get install openssh-client")
    return keygen
