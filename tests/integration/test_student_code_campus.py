"""Students' programs as they are, from the Pi off campus: every fixture through the tunnel, and direct over the VPN."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import pytest

from tests.integration.test_student_code import CASES, STAND_IN, had_far_address, student_copy

pytestmark = [pytest.mark.integration, pytest.mark.campus]


@pytest.fixture(scope="module")
def vpn_for_module(campus):
    """The VPN up for this module's direct runs (once), and down again after them."""
    if not campus.vpn_is_up():
        campus.vpn_up()
    yield campus
    campus.vpn_down()


def _run(campus, on_pi, tmp_path: Path, via: str, name: str, exercise: Optional[str], evidence: Optional[str],
         stdin: Optional[str]) -> None:
    folder = student_copy(name, tmp_path)
    target = ["run", exercise, "--payload", str(folder)] if exercise else ["run", str(folder)]
    extra = ["--stdin", stdin] if stdin else []
    proc = on_pi(*target, "--hosts", str(campus.write_hosts(via)), "--out", "runs", "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["ok"] and record["via"] == via and record["server"]["ip"] == campus.server_ip
    assert all(c["exit_code"] == 0 for c in record["clients"])
    server_log = (Path(record["run_dir"]) / "server.log").read_text()
    if evidence:
        assert re.search(evidence, server_log, re.M), server_log
    if exercise:
        assert record["server"]["stopped_by_sockdeploy"] is False, "the quit run ends the server"
    if via == "direct" and name == "port-out-of-range":  # the firewall passes the course ports only: the bind moved
        assert any("bind to port 17000 went to port" in r for r in record["redirects"]), record["redirects"]
        assert 30000 <= record["server"]["port"] <= 40000
    if had_far_address(name):
        target_ip = "127.0.0.1" if via == "tunnel" else campus.server_ip
        assert any(STAND_IN in r and target_ip in r for r in record["redirects"]), record["redirects"]


@pytest.mark.parametrize("name, exercise, evidence, stdin", CASES, ids=[c[0] for c in CASES])
def test_the_programs_run_unedited_from_the_pi_through_the_tunnel(campus, no_vpn, on_pi, tmp_path, name: str,
                                                                  exercise: Optional[str], evidence: Optional[str],
                                                                  stdin: Optional[str]) -> None:
    _run(campus, on_pi, tmp_path, "tunnel", name, exercise, evidence, stdin)


@pytest.mark.parametrize("name, exercise, evidence, stdin", CASES, ids=[c[0] for c in CASES])
def test_the_programs_run_unedited_from_the_pi_direct_over_the_vpn(campus, vpn_for_module, on_pi, tmp_path, name: str,
                                                                   exercise: Optional[str], evidence: Optional[str],
                                                                   stdin: Optional[str]) -> None:
    _run(campus, on_pi, tmp_path, "direct", name, exercise, evidence, stdin)
