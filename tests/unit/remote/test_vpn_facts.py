"""vpn_facts.sh: openconnect processes, tun devices that are up, and the route's device, as SD- markers."""

from __future__ import annotations

import shlex
from pathlib import Path

from sockdeploy.remote import marker
from sockdeploy.remote.host import CommandResult, LocalHost
from sockdeploy.remote.program import program


def _facts(tmp_path: Path, server_ip: str = "") -> CommandResult:
    env = f"SD_PROC_DIR={shlex.quote(str(tmp_path / 'proc'))}; SD_SYSNET_DIR={shlex.quote(str(tmp_path / 'net'))}; " \
          "export SD_PROC_DIR SD_SYSNET_DIR\n"
    return LocalHost().run(env + program("vpn_facts.sh", server_ip), timeout=20)


def _process(tmp_path: Path, pid: int, comm: str) -> None:
    (tmp_path / "proc" / str(pid)).mkdir(parents=True)
    (tmp_path / "proc" / str(pid) / "comm").write_text(comm + "\n")


def _device(tmp_path: Path, name: str, flags: str, tun: bool) -> None:
    dev = tmp_path / "net" / name
    dev.mkdir(parents=True)
    (dev / "flags").write_text(flags + "\n")
    if tun:
        (dev / "tun_flags").write_text("0x1002\n")


def test_no_openconnect_and_no_tun_print_nothing(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "net").mkdir()
    result = _facts(tmp_path)
    assert result.exit_status == 0 and result.stdout == "" and result.stderr == ""


def test_openconnect_and_tun_devices_that_are_up(tmp_path):
    _process(tmp_path, 4242, "openconnect")
    _process(tmp_path, 4243, "sshd")
    _device(tmp_path, "tun0", "0x1091", tun=True)
    _device(tmp_path, "tun1", "0x1090", tun=True)  # down
    _device(tmp_path, "eth0", "0x1003", tun=False)  # up, but no tun
    result = _facts(tmp_path)
    assert result.exit_status == 0
    assert marker.values(result.stdout, "PID") == ["4242"]
    assert marker.values(result.stdout, "TUN") == ["tun0"]
    assert marker.values(result.stdout, "DEV") == []


def test_the_route_line_names_the_device(tmp_path):
    (tmp_path / "proc").mkdir()
    result = _facts(tmp_path, "127.0.0.1")
    assert result.exit_status == 0
    assert result.stdout.splitlines() == ["SD-DEV lo"]


def test_an_address_without_a_route_prints_no_route_line(tmp_path):
    result = _facts(tmp_path, "not-an-address")
    assert result.exit_status == 0 and result.stdout == ""
