"""Logins with a password and a TOTP code, as on the university's login host.

The lab's sshd asks through PAM: first the lab user's password ("Password: "),
then a TOTP code ("Verification code: "). sockdeploy must relay both prompts to
the person verbatim, send the answers once, and never keep them anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Tuple

import pytest

from tests.conftest import REPO, Reply, drive_pty, only_run_dir, unavailable

if TYPE_CHECKING:
    from sockdeploy.lab.loopback import LoopbackLab

pytestmark = [pytest.mark.integration, pytest.mark.campus]

PASSWORD_PROMPT = "Password: "  # pam_unix
TOTP_PROMPT = "Verification code: "  # pam_google_authenticator

@pytest.fixture(scope="module")
def lab2fa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackLab]:
    from sockdeploy.errors import LabError
    from sockdeploy.lab.loopback import LoopbackLab, find_pam_totp_module

    if os.geteuid() != 0:
        unavailable("the password+TOTP lab needs root")
    try:
        find_pam_totp_module()
    except LabError as exc:
        unavailable(f"{exc.message} ({exc.hint})")
    with LoopbackLab(tmp_path_factory.mktemp("lab2fa"), auth="password+totp") as running:
        yield running


def _env(home: Path) -> Dict[str, str]:
    return {"HOME": str(home), "PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "dumb"}


def _run_ex5(lab, tmp_path: Path, home: Path, replies: List[Tuple[str, Reply]]) -> Tuple[int, str]:
    argv = [sys.executable, "-m", "sockdeploy", "run", "ex5", "--hosts", str(lab.hosts_file), "--out", "runs"]
    return drive_pty(argv, _env(home), tmp_path, replies)


def _contains_token(text: str, secret: str) -> bool:
    # a 6-digit code is only a leak as a whole number, not inside a longer one such as a timestamp
    return re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text) is not None


def _wrong_code(lab) -> str:
    """Return a 6-digit code the lab accepts in no step near now."""
    now = time.time()
    near = {lab_code(lab, now + k * 30) for k in range(-3, 4)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 10**6, 7919)) if c not in near)


def lab_code(lab, at: float) -> str:
    from sockdeploy.lab.loopback import totp

    return totp(lab.totp_secret, at)


def test_openssh_client_needs_password_then_totp(lab2fa, tmp_path):
    """The lab itself: OpenSSH's own client gets both prompts and logs in with both answers."""
    ssh = shutil.which("ssh")
    if not ssh:
        unavailable("the OpenSSH client is not installed")
    argv = [ssh, "-F", "/dev/null", "-o", f"UserKnownHostsFile={lab2fa.known_hosts}", "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=keyboard-interactive", "-o", "NumberOfPasswordPrompts=1",
            "-p", str(lab2fa.port), f"{lab2fa.user}@localhost", "id -un && touch .sockdeploy/probe && echo workdir-writable"]
    before = lab2fa.login_count()
    code, screen = drive_pty(argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}, tmp_path,
                             [(PASSWORD_PROMPT, lambda: lab2fa.password), (TOTP_PROMPT, lab2fa.totp_now)], timeout=60)
    assert code == 0, screen
    assert f"({lab2fa.user}@localhost) {PASSWORD_PROMPT}" in screen
    assert f"({lab2fa.user}@localhost) {TOTP_PROMPT}" in screen
    assert f"{lab2fa.user}\r\nworkdir-writable" in screen
    assert lab2fa.login_count() - before == 1
    assert f"Accepted keyboard-interactive/pam for {lab2fa.user}" in lab2fa.log_file.read_text()
    os.unlink(lab2fa.workdir / "probe")

    # the code alone is not enough: a wrong password is refused even with a right code
    before = lab2fa.login_count()
    code, screen = drive_pty(argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}, tmp_path,
                             [(PASSWORD_PROMPT, lambda: "not-the-password"), (TOTP_PROMPT, lab2fa.totp_now)], timeout=60)
    assert code == 255, screen
    assert "Permission denied" in screen
    assert lab2fa.login_count() == before


def test_run_asks_both_factors_on_the_terminal(lab2fa, tmp_path, fake_home):
    before = lab2fa.login_count()
    sent: List[str] = []

    def code_now() -> str:
        sent.append(lab2fa.totp_now())
        return sent[-1]

    code, screen = _run_ex5(lab2fa, tmp_path, fake_home, [(PASSWORD_PROMPT, lambda: lab2fa.password), (TOTP_PROMPT, code_now)])
    assert code == 0, screen
    assert "Traceback" not in screen
    assert lab2fa.login_count() - before == 1
    # each prompt shown verbatim, once: sockdeploy asks once per run
    assert screen.count(PASSWORD_PROMPT) == 1, screen
    assert screen.count(TOTP_PROMPT) == 1, screen
    assert screen.index(PASSWORD_PROMPT) < screen.index(TOTP_PROMPT)
    run_dir = only_run_dir(tmp_path / "runs")
    assert "quit code 418 received" in (run_dir / "transcript.md").read_text()
    assert "quit code 418 received" in (run_dir / "server.log").read_text()
    # the answers are used once and kept nowhere
    places = {"terminal": screen, "sshd log": lab2fa.log_file.read_text(errors="replace")}
    places.update({str(f): f.read_text(errors="replace") for f in (tmp_path / "runs").rglob("*") if f.is_file()})
    places.update({str(f): f.read_text(errors="replace") for f in fake_home.rglob("*") if f.is_file()})
    for where, text in places.items():
        assert lab2fa.password not in text, f"the password leaked into {where}"
        assert not _contains_token(text, sent[0]), f"the TOTP code leaked into {where}"
    assert lab2fa.leftover_processes() == []
    assert lab2fa.leftover_dirs() == []


def test_no_terminal_names_the_method_and_sends_nothing(lab2fa, cli):
    before = lab2fa.login_count()
    res = cli("run", "ex5", "--hosts", str(lab2fa.hosts_file), "--out", "runs")
    assert res.code == 3, res.stderr
    assert "keyboard-interactive" in res.stderr
    assert "Traceback" not in res.stderr
    assert lab2fa.login_count() == before


def test_wrong_totp_code_is_a_clear_error(lab2fa, tmp_path, fake_home):
    before = lab2fa.login_count()
    failed_before = lab2fa.log_file.read_text().count("Failed keyboard-interactive")
    wrong = _wrong_code(lab2fa)
    answers = [(PASSWORD_PROMPT, lambda: lab2fa.password), (TOTP_PROMPT, lambda: wrong)]
    code, screen = _run_ex5(lab2fa, tmp_path, fake_home, answers)
    assert code == 3, screen
    assert "Traceback" not in screen
    assert re.search(r"sockdeploy: error: .*(keyboard-interactive|password|authentication)", screen), screen
    assert "hint:" in screen
    # refused answers are not asked again within the run
    assert screen.count(TOTP_PROMPT) == 1, screen
    assert lab2fa.login_count() == before
    assert lab2fa.log_file.read_text().count("Failed keyboard-interactive") == failed_before + 1
    assert lab2fa.password not in screen and not _contains_token(screen, wrong)


def test_stop_leaves_the_system_as_it_was(tmp_path):
    """A second lab (own user name) starts and stops: no user, home, PAM file or sshd is left."""
    import pwd

    from sockdeploy.lab.loopback import PAM_DIR, LoopbackLab

    if os.geteuid() != 0:
        unavailable("the password+TOTP lab needs root")
    pam_before = sorted(os.listdir(PAM_DIR))
    sshd_file = (PAM_DIR / "sshd").read_bytes() if (PAM_DIR / "sshd").exists() else None
    lab = LoopbackLab(tmp_path / "lab", auth="password+totp", auth_user="sdlab2fb")
    lab.start()
    try:
        home = Path(pwd.getpwnam("sdlab2fb").pw_dir)
        assert lab.workdir == home / ".sockdeploy" and lab.workdir.stat().st_uid == pwd.getpwnam("sdlab2fb").pw_uid
        assert (PAM_DIR / lab.pam_service).is_file()
        hosts = lab.hosts_file.read_text()
        assert "  user: sdlab2fb\n" in hosts and "identity:" not in hosts and "  agent: false\n" in hosts
        assert re.fullmatch(r"\d{6}", lab.totp_now())
    finally:
        lab.stop()
    lab.stop()  # idempotent
    assert sorted(os.listdir(PAM_DIR)) == pam_before
    assert ((PAM_DIR / "sshd").read_bytes() if (PAM_DIR / "sshd").exists() else None) == sshd_file
    with pytest.raises(KeyError):
        pwd.getpwnam("sdlab2fb")
    assert not home.exists()
    assert lab.proc is None and lab.password == ""


def test_failed_start_undoes_everything(tmp_path):
    """sshd refuses its config after the user and PAM file exist: both are removed again."""
    import pwd

    from sockdeploy.errors import LabError
    from sockdeploy.lab.loopback import PAM_DIR, LoopbackLab

    if os.geteuid() != 0:
        unavailable("the password+TOTP lab needs root")
    pam_before = sorted(os.listdir(PAM_DIR))
    lab = LoopbackLab(tmp_path / "lab", auth="password+totp", auth_user="sdlab2fb", extra_sshd_config="NoSuchOption yes\n")
    with pytest.raises(LabError, match="configuration was refused"):
        lab.start()
    assert sorted(os.listdir(PAM_DIR)) == pam_before
    with pytest.raises(KeyError):
        pwd.getpwnam("sdlab2fb")


def test_an_account_not_made_by_the_lab_is_never_taken(tmp_path):
    import pwd

    from sockdeploy.errors import LabError
    from sockdeploy.lab.loopback import PAM_DIR, LoopbackLab

    if os.geteuid() != 0:
        unavailable("the password+TOTP lab needs root")
    pam_before = sorted(os.listdir(PAM_DIR))
    daemon = pwd.getpwnam("daemon")
    with pytest.raises(LabError, match="not made by sockdeploy"):
        LoopbackLab(tmp_path / "lab", auth="password+totp", auth_user="daemon").start()
    assert pwd.getpwnam("daemon") == daemon
    assert sorted(os.listdir(PAM_DIR)) == pam_before


def test_totp_matches_rfc6238_vectors():
    from sockdeploy.lab.loopback import totp

    secret = b"12345678901234567890"  # RFC 6238 appendix B, SHA1; the RFC lists 8 digits, the lab uses 6
    for at, code in ((59, "94287082"), (1111111109, "07081804"), (1234567890, "89005924"), (20000000000, "65353130")):
        assert totp(secret, at, digits=8) == code
        assert totp(secret, at) == code[-6:]


def test_non_root_gets_a_clear_lab_error(tmp_path):
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        pytest.skip("needs root and setpriv to drop to nobody")
    tmp_path.chmod(0o777)
    script = ("from sockdeploy.errors import LabError\nfrom sockdeploy.lab.loopback import LoopbackLab\n"
              "try:\n    LoopbackLab(auth='password+totp').start()\nexcept LabError as e:\n    print(e.message, '|', e.hint)\n")
    res = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", script],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60,
                         env={"PYTHONPATH": str(REPO), "HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert res.returncode == 0, res.stderr
    assert "needs root" in res.stdout and "sudo" in res.stdout
