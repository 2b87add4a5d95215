"""The campus lab for real: namespaces, firewall, ocserv + openconnect, sshd, all inside the lab.

Needs root and the lab's packages; skipped otherwise, unless SOCKDEPLOY_REQUIRE_LAB is set (CI),
in which case a missing piece fails the test with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from sockdeploy.errors import LabError
from sockdeploy.lab.campus import CampusLab, campus_available
from sockdeploy.spec.hosts import parse_config
from tests.integration.labprograms import program

pytestmark = [pytest.mark.integration, pytest.mark.campus]

COURSE_PORT = 31000

def require_campus() -> None:
    ok, reason = campus_available()
    if ok:
        return
    if os.environ.get("SOCKDEPLOY_REQUIRE_LAB"):
        pytest.fail(f"SOCKDEPLOY_REQUIRE_LAB is set but the campus lab cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def campus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CampusLab]:
    require_campus()
    lab = CampusLab(tmp_path_factory.mktemp("campus"))
    with lab:
        yield lab


@pytest.fixture(scope="module")
def course_listener(campus: CampusLab) -> Iterator[subprocess.Popen]:
    proc = campus.campus_popen([sys.executable, program("peer_echo.py"), campus.server_ip, str(COURSE_PORT)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr
    yield proc
    proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()  # type: ignore[union-attr]


def probe(lab: CampusLab, host: str, port: int, proto: str = "tcp", timeout: float = 2.0) -> Tuple[str, float]:
    """Return the probe's verdict from the home namespace and how long it took."""
    start = time.monotonic()
    res = lab.home([sys.executable, program("probe.py"), host, str(port), proto, str(timeout)], timeout=timeout + 10)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip(), time.monotonic() - start


def test_home_reaches_ssh_but_not_course_ports(campus: CampusLab, course_listener: subprocess.Popen) -> None:
    names = campus.home(["getent", "hosts", campus.server_name])
    assert names.stdout.split()[:1] == [campus.server_ip], names
    verdict, _ = probe(campus, campus.server_name, 22)
    assert verdict.startswith("open SSH-2.0"), verdict
    # the firewall drops, so the connect hangs rather than being refused
    verdict, took = probe(campus, campus.server_name, COURSE_PORT)
    assert verdict == "timeout" and took < 5, (verdict, took)
    verdict, _ = probe(campus, campus.server_ip, COURSE_PORT, "udp", timeout=1.0)
    assert verdict == "timeout", verdict


def test_vpn_opens_course_ports(campus: CampusLab, course_listener: subprocess.Popen) -> None:
    try:
        campus.vpn_up()
        assert campus.vpn_is_up() and campus.state()["vpn_up"]
        dev = campus.vpn_device
        link = campus.home(["ip", "-o", "link", "show", "dev", dev])
        assert link.returncode == 0 and ",UP" in link.stdout, link
        assert campus.home(["test", "-e", f"/sys/class/net/{dev}/tun_flags"]).returncode == 0
        route = campus.home(["ip", "route", "get", campus.server_ip])
        assert f" dev {dev} " in route.stdout, route.stdout
        verdict, _ = probe(campus, campus.server_name, COURSE_PORT)
        assert verdict.startswith("open hello 10.77.8."), verdict
        verdict, _ = probe(campus, campus.server_ip, COURSE_PORT, "udp")
        assert verdict.startswith("open hello 10.77.8."), verdict
    finally:
        campus.vpn_down()
    assert not campus.vpn_is_up()
    assert campus.home(["ip", "link", "show", "dev", campus.vpn_device]).returncode != 0
    verdict, _ = probe(campus, campus.server_name, COURSE_PORT)
    assert verdict == "timeout", verdict


def test_ssh_login_with_lab_key(campus: CampusLab, tmp_path: Path) -> None:
    assert campus.sshd is not None
    config = parse_config(campus.hosts_file)
    assert config.server.host == campus.server_name and config.server.port == 22 and config.network.via == "auto"
    assert parse_config(campus.write_hosts("vpn", tmp_path / "vpn.yaml")).network.via == "vpn"
    ssh = ["ssh", "-F", "/dev/null", "-o", f"UserKnownHostsFile={campus.sshd.known_hosts}",
           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
           "-i", str(campus.sshd.identity), f"{campus.sshd.user}@{campus.server_name}"]
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    before = campus.login_count()
    res = campus.home([*ssh, "true"], env=env, timeout=30)
    assert res.returncode == 0, res.stderr
    assert campus.login_count() - before == 1
    # forwarding is allowed unless forbid_forwarding: a stdio forward reaches sshd's own banner
    res = campus.home([*ssh, "-W", f"{campus.server_ip}:22"], env=env, input="", timeout=30)
    assert res.stdout.startswith("SSH-2.0"), (res.stdout, res.stderr)


def test_stop_removes_everything(tmp_path: Path) -> None:
    require_campus()
    lab = CampusLab(tmp_path / "lab", forbid_forwarding=True)
    with lab:
        state = lab.state()
        assert state["running"] and state["sshd"]["pid"] and state["ocserv"]["pid"]
        pids = [int(p) for procs in state["processes"].values() for p in procs]
        assert lab.sshd is not None
        res = lab.home(["ssh", "-F", "/dev/null", "-o", f"UserKnownHostsFile={lab.sshd.known_hosts}",
                        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-i", str(lab.sshd.identity),
                        "-W", f"{lab.server_ip}:22", f"{lab.sshd.user}@{lab.server_name}"],
                       env={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}, input="", timeout=30)
        assert not res.stdout.startswith("SSH-2.0") and "prohibited" in res.stderr, (res.stdout, res.stderr)
    assert_gone(lab, pids)
    lab.stop()  # idempotent
    assert_gone(lab, pids)


def test_failed_start_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_campus()

    def broken(self: CampusLab) -> None:
        raise LabError("ocserv refused to start (test)")

    monkeypatch.setattr(CampusLab, "_start_ocserv", broken)
    lab = CampusLab(tmp_path / "lab")
    with pytest.raises(LabError, match="test"):
        lab.start()
    assert lab.sshd is not None and lab.sshd.proc is None
    assert_gone(lab, [])


def assert_gone(lab: CampusLab, pids: list) -> None:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert lab.campus_ns not in listed and lab.home_ns not in listed, listed
    assert not Path(f"/etc/netns/{lab.campus_ns}").exists() and not Path(f"/etc/netns/{lab.home_ns}").exists()
    alive = [p for p in pids if Path(f"/proc/{p}").exists() and _state(p) != "Z"]
    assert alive == [], alive


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"
