"""The tools program's output, parsed."""

from __future__ import annotations

from sockdeploy.doctor import hostchecks
from tests.unit.doctor.test_doctor import tools_output


def test_parse_tools_output():
    tools, ports = hostchecks.parse_tools_output(tools_output({"gcc": "/usr/bin/gcc", "cc": None}, busy=[30001]))
    assert tools == {"gcc": "/usr/bin/gcc", "cc": None, "gcc_version": "gcc (Debian 12.2.0) 12.2.0"}
    assert ports.startswith("  sl") and "7531" in ports
