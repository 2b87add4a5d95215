"""doctor_tools.sh run here through LocalHost: the tools found and missing, gcc's version, the port tables."""

from __future__ import annotations

import os
import shlex

from sockdeploy.doctor.hostchecks import TOOLS_PROGRAM, TOOLS_WANTED, parse_tools_output, tools_command
from sockdeploy.remote.host import CommandResult, LocalHost
from sockdeploy.remote.scripts import load


def run(*tools: str, path: str = "") -> CommandResult:
    words = ["/bin/sh", "-c", load(TOOLS_PROGRAM), TOOLS_PROGRAM, *tools]
    prefix = f"PATH={shlex.quote(path)} " if path else ""
    return LocalHost().run(prefix + " ".join(shlex.quote(w) for w in words), timeout=30)


def test_found_and_missing_tools_are_reported():
    result = run("sh", "no-such-tool-sd5")
    assert result.ok
    tools, _ = parse_tools_output(result.stdout)
    assert tools["sh"] and os.path.basename(str(tools["sh"])) == "sh"
    assert tools["no-such-tool-sd5"] is None


def test_the_port_tables_follow_the_ports_marker():
    tools, ports = parse_tools_output(run("sh").stdout)
    if os.path.exists("/proc/net/tcp"):
        assert "local_address" in ports
    assert "SD-" not in ports.split("\n", 1)[0]


def test_the_doctor_command_answers_for_every_wanted_tool():
    result = LocalHost().run(tools_command(), timeout=30)
    tools, _ = parse_tools_output(result.stdout)
    assert result.ok and set(TOOLS_WANTED) <= set(tools)
    assert ("gcc_version" in tools) == bool(tools.get("gcc"))


def test_a_host_without_the_tools_says_so_and_lists_no_ports(tmp_path):
    # an empty PATH: nothing is found, gcc does not run, and neither cat nor netstat lists ports
    result = run("sh", "gcc", path=str(tmp_path))
    tools, ports = parse_tools_output(result.stdout)
    assert result.ok and tools == {"sh": None, "gcc": None} and ports == ""
