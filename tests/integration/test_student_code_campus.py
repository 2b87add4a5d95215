"""Students' programs as they are, from the Pi off campus: through the tunnel, and direct over the VPN."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import pytest

from tests.integration.test_student_code import STAND_IN, had_far_address, student_copy

pytestmark = [pytest.mark.integration, pytest.mark.campus]

# fixture, exercise, what the server's log must show; all use ports inside the campus firewall's course range
CASES = [
    ("port-in-range", "ex5", r"^received 50$"),
    ("real-host-address", "ex5", r"^Number: 1999$"),
    ("warnings-only", "ex5", r"^msg 1: 100$"),
    ("python-tcp-args", "ex5", r"^got 11$"),
    ("binary-protocol", "ex5", r"^got 65536$"),
]


@pytest.mark.parametrize("via", ["tunnel", "direct"])
@pytest.mark.parametrize("name, exercise, evidence", CASES, ids=[c[0] for c in CASES])
def test_the_programs_run_unedited_from_the_pi(campus, on_pi, tmp_path, via: str, name: str,
                                               exercise: Optional[str], evidence: str) -> None:
    if via == "direct" and not campus.vpn_is_up():
        campus.vpn_up()
    if via == "tunnel" and campus.vpn_is_up():
        campus.vpn_down()
    folder = student_copy(name, tmp_path)
    hosts = campus.write_hosts(via)
    proc = on_pi("run", exercise, "--payload", str(folder), "--hosts", str(hosts), "--out", "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["via"] == via and record["server"]["ip"] == campus.server_ip
    assert all(c["exit_code"] == 0 for c in record["clients"])
    assert record["server"]["stopped_by_sockdeploy"] is False, "the quit run ends the server"
    assert re.search(evidence, (Path(record["run_dir"]) / "server.log").read_text(), re.M)
    if had_far_address(name):
        target = "127.0.0.1" if via == "tunnel" else campus.server_ip
        assert any(STAND_IN in r and target in r for r in record["redirects"]), record["redirects"]
    if via == "direct":
        campus.vpn_down()
