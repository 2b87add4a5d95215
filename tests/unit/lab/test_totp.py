"""TOTP codes and the secret file pam_google_authenticator reads."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

from sockdeploy.lab.totp import secret_file_text, totp, write_secret_file

RFC6238_SECRET = b"12345678901234567890"  # RFC 6238 appendix B, SHA1


def test_totp_matches_rfc6238_vectors() -> None:
    for at, code in ((59, "94287082"), (1111111109, "07081804"), (1234567890, "89005924"), (20000000000, "65353130")):
        assert totp(RFC6238_SECRET, at, digits=8) == code
        assert totp(RFC6238_SECRET, at) == code[-6:]


def test_totp_is_stable_within_one_step() -> None:
    assert totp(RFC6238_SECRET, 60) == totp(RFC6238_SECRET, 89.9) != totp(RFC6238_SECRET, 90)


def test_secret_file_is_base32_then_the_totp_option() -> None:
    first, option = secret_file_text(b"\x01" * 20).splitlines()
    assert base64.b32decode(first) == b"\x01" * 20 and option == '" TOTP_AUTH'


def test_secret_file_is_owner_read_only_and_can_be_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "totp_secret"
    write_secret_file(path, b"a" * 20)
    write_secret_file(path, b"b" * 20)
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    assert path.read_text() == secret_file_text(b"b" * 20)
