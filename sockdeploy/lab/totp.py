"""TOTP codes (RFC 6238) and the secret file pam_google_authenticator reads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from pathlib import Path
from typing import Optional

TOTP_STEP = 30
TOTP_DIGITS = 6


def totp(secret: bytes, at: Optional[float] = None, step: int = TOTP_STEP, digits: int = TOTP_DIGITS) -> str:
    """Return the RFC 6238 TOTP code (HMAC-SHA1) of `secret` at time `at` (default: now)."""
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F  # RFC 4226 dynamic truncation
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def secret_file_text(secret: bytes) -> str:
    """Return `secret` in google-authenticator's file format."""
    # no DISALLOW_REUSE, so tests may log in twice in one 30 s step
    return base64.b32encode(secret).decode() + "\n\" TOTP_AUTH\n"


def write_secret_file(path: Path, secret: bytes) -> None:
    """Write the secret readable by its owner only: the PAM module refuses a secret others can read."""
    if path.exists():
        path.chmod(0o600)
    path.write_text(secret_file_text(secret))
    path.chmod(0o400)
