"""lab_vpn_connect.sh, ocserv's connect script in the campus lab, run directly through LocalHost."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from sockdeploy.remote.host import CommandResult, LocalHost
from sockdeploy.remote.scripts import load

SCRIPT = "lab_vpn_connect.sh"
EVENT = {"REASON": "connect", "IP_REMOTE": "10.77.8.130", "DEVICE": "vpns0", "SOCKDEPLOY_LAB_SOURCE": "10.77.2.10"}


@pytest.fixture
def fake_ip(tmp_path: Path) -> Path:
    """An ip(8) stand-in that records its arguments and exits with $FAKE_IP_STATUS."""
    program = tmp_path / "ip"
    program.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_IP_ARGS"\nexit "${FAKE_IP_STATUS:-0}"\n')
    program.chmod(0o755)
    return program


def run_script(tmp_path: Path, env: Dict[str, str]) -> CommandResult:
    script = tmp_path / SCRIPT
    script.write_text(load(SCRIPT))
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    return LocalHost().run(f"env -i PATH=/usr/bin:/bin {assignments} /bin/sh {shlex.quote(str(script))}", timeout=10)


def test_connect_routes_the_client_from_the_login_hosts_address(tmp_path: Path, fake_ip: Path) -> None:
    args = tmp_path / "args"
    res = run_script(tmp_path, {**EVENT, "SOCKDEPLOY_LAB_IP": str(fake_ip), "FAKE_IP_ARGS": str(args)})
    assert res.exit_status == 0, res.stderr
    assert args.read_text().split() == ["route", "replace", "10.77.8.130", "dev", "vpns0", "src", "10.77.2.10"]


@pytest.mark.parametrize("reason", ["disconnect", "host-update", ""])
def test_other_events_change_nothing(tmp_path: Path, fake_ip: Path, reason: str) -> None:
    args = tmp_path / "args"
    res = run_script(tmp_path, {**EVENT, "REASON": reason, "SOCKDEPLOY_LAB_IP": str(fake_ip), "FAKE_IP_ARGS": str(args)})
    assert res.exit_status == 0, res.stderr
    assert not args.exists()


@pytest.mark.parametrize("missing", ["IP_REMOTE", "DEVICE", "SOCKDEPLOY_LAB_SOURCE"])
def test_a_missing_setting_fails_and_names_it(tmp_path: Path, fake_ip: Path, missing: str) -> None:
    args = tmp_path / "args"
    env = {**EVENT, "SOCKDEPLOY_LAB_IP": str(fake_ip), "FAKE_IP_ARGS": str(args)}
    del env[missing]
    res = run_script(tmp_path, env)
    assert res.exit_status != 0 and missing in res.stderr
    assert not args.exists()


def test_a_failing_ip_fails_the_script(tmp_path: Path, fake_ip: Path) -> None:
    res = run_script(tmp_path, {**EVENT, "SOCKDEPLOY_LAB_IP": str(fake_ip), "FAKE_IP_ARGS": str(tmp_path / "args"),
                                "FAKE_IP_STATUS": "2"})
    assert res.exit_status == 2


def test_a_missing_ip_program_fails_the_script(tmp_path: Path) -> None:
    res = run_script(tmp_path, {**EVENT, "SOCKDEPLOY_LAB_IP": str(tmp_path / "no-such-ip")})
    assert res.exit_status == 127


def test_is_posix_sh_and_shellcheck_clean() -> None:
    text = load(SCRIPT)
    assert text.startswith("#!/bin/sh\n")
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck is not installed")
    done = subprocess.run([shellcheck, "-s", "sh", "-"], input=text, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
