from pathlib import Path

import pytest

from sockdeploy.errors import PayloadError
from sockdeploy.run.expectations import evaluate
from sockdeploy.spec.payload import Expectations, load_manifest


def test_placeholders_in_expectations_are_literal():
    exp = Expectations(server=("listening on port {port}",), client=("connected to {ip}:{port}",))
    ok = evaluate(exp, "listening on port 31522\n", ["connected to 127.0.0.1:31522"], {"port": 31522, "ip": "127.0.0.1"})
    assert all(r.ok for r in ok)
    # the dots of the address are not wildcards
    bad = evaluate(exp, "listening on port 31522\n", ["connected to 127x0x0x1:31522"], {"port": 31522, "ip": "127.0.0.1"})
    assert [r.ok for r in bad] == [True, False]


def test_runs_and_counts():
    exp = Expectations(runs=((2, ("Connection 2!",)),), count=(("Connection \\d+!", 3),))
    logs = ["Connection 1!", "Connection 2!", "Connection 3!"]
    assert all(r.ok for r in evaluate(exp, "", logs, {}))
    res = evaluate(exp, "", logs[:2], {})
    assert [r.ok for r in res] == [True, False] and res[1].detail == "2 times"


def _manifest(tmp_path: Path, runs: str, expect: str = "") -> Path:
    (tmp_path / "payload.yaml").write_text("language: python\nserver:\n  run: python3 s.py {port}\n"
                                           f"client:\n  runs:\n{runs}{expect}")
    return tmp_path / "payload.yaml"


def test_run_mappings_load(tmp_path):
    p = load_manifest(_manifest(tmp_path, "    - command: python3 c.py {ip} {port}\n      stdin: \"hi\\n\"\n      timeout: 5\n"
                                          "    - command: python3 c.py\n      duration: 2.5\n"))
    assert p.runs[0].stdin == "hi\n" and p.runs[0].timeout == 5 and p.runs[1].duration == 2.5
    assert p.client.commands == ("python3 c.py {ip} {port}", "python3 c.py")


@pytest.mark.parametrize("runs, expect, fragment, line", [
    ("    - command: x\n      stdn: a\n", "", "unknown key 'client.runs[1].stdn'", 7),
    ("    - command: x\n      duration: -1\n", "", "duration -1 is out of range", 7),
    ("    - stdin: a\n", "", "missing required key 'client.runs[1].command'", 6),
    ("    - x\n", "expect:\n  runs: {3: [a]}\n", "the plan has runs 1..1", 8),
    ("    - x\n", "expect:\n  server: ['(']\n", "bad regular expression", 8),
    ("    - x\n", "expect:\n  count: {a: 0}\n", "positive whole number", 8),
])
def test_bad_run_and_expect_entries(tmp_path, runs, expect, fragment, line):
    with pytest.raises(PayloadError) as info:
        load_manifest(_manifest(tmp_path, runs, expect))
    assert fragment in info.value.message
    assert info.value.headline().startswith(f"{tmp_path / 'payload.yaml'}:{line}:"), info.value.headline()


def test_each_side_gets_its_own_port():
    """Through a tunnel the server listens on one port and its clients dial another."""
    exp = Expectations(server=("^listening on port {port}$",), runs=((1, ("^connected to {ip}:{port}$",)),),
                       count=(("port {port}", 1),))
    server, client = {"port": 31522, "ip": "10.0.0.5"}, {"port": 40001, "ip": "127.0.0.1"}
    res = evaluate(exp, "listening on port 31522\n", ["connected to 127.0.0.1:40001\n"], server, client)
    assert [r.ok for r in res] == [True, True, True]
    swapped = evaluate(exp, "listening on port 40001\n", ["connected to 127.0.0.1:31522\n"], server, client)
    assert [r.ok for r in swapped] == [False, False, False]
