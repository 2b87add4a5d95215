"""The doctor's report: exit code of the first failure, and its table."""

from __future__ import annotations

from sockdeploy.doctor import check
from sockdeploy.doctor.check import ORDER, Check
from sockdeploy.doctor.report import exit_code, render_table


def test_exit_code_is_the_first_failure():
    assert exit_code([Check("config", "ok", ""), Check("vpn", "warn", ""), Check("direct reach", "skip", "")]) == 0
    assert exit_code([Check("server tools", "fail", ""), Check("forwarding", "fail", "")]) == 4
    assert exit_code([Check("free port", "warn", ""), Check("forwarding", "fail", ""), Check("login", "fail", "")]) == 5
    assert {n: check.EXIT_CODES[n] for n in ORDER} == {
        "config": 2, "name resolution": 3, "ssh port": 3, "host key": 3, "login": 3,
        "server tools": 4, "free port": 5, "forwarding": 5, "client host": 3, "vpn": 5, "direct reach": 5}
    assert exit_code([]) == 0


def test_render_table():
    checks = [Check("config", "ok", "hosts.yaml"), Check("host key", "fail", "unknown host key SHA256:x", "check it"),
              Check("login", "skip", "not tried")]
    table = render_table(checks)
    lines = table.splitlines()
    assert lines[0].split() == ["check", "result", "detail", "fix"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[3].split()[:3] == ["host", "key", "FAIL"] and lines[3].endswith("check it")
    assert lines[2].index("ok") == lines[3].index("FAIL") == lines[0].index("result"), "columns line up"
    assert len(lines) == 5 and all(line == line.rstrip() for line in lines)
    assert "\x1b" not in table


def test_a_failed_check_carries_its_error_class():
    from sockdeploy.doctor.check import CHECK_ERRORS, EXIT_CODES
    from sockdeploy.doctor.report import failure
    from sockdeploy.errors import BuildError, NetworkPathError

    assert Check("server tools", "fail", "no gcc").error is BuildError
    assert Check("server tools", "warn", "only cc").error is None
    err = failure([Check("config", "ok", ""), Check("forwarding", "fail", "refused", "use the VPN")])
    assert isinstance(err, NetworkPathError) and err.hint == "use the VPN" and "forwarding: refused" in err.message
    assert failure([Check("vpn", "warn", "down")]) is None
    assert EXIT_CODES == {name: error.exit_code for name, error in CHECK_ERRORS.items()} and set(EXIT_CODES) == set(ORDER)
