"""`run --dry-run` contacts nothing: the lab's sshd sees no connection, and no run folder appears."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration


def test_dry_run_contacts_nothing(cli, tmp_path, lab):
    before = lab.connection_count()
    res = cli("run", "ex5", "ex6", "--hosts", str(lab.hosts_file), "--via", "tunnel", "--port", "31522", "--dry-run")
    assert res.code == 0, res.stderr
    out = res.stdout
    target = f"{lab.user}@{lab.host_name}"
    assert f"ssh -f -N -p {lab.port} {target} -L 31522:localhost:31522" in out
    assert f"scp -P {lab.port} -- client.c server.c {target}:" in out
    assert "  ./client 127.0.0.1 31522 quit" in out and "  ./client localhost 31522 quit" in out  # ex5, ex6
    time.sleep(0.5)  # sshd logs a connection as soon as it accepts one
    assert lab.connection_count() == before, "a dry run must not connect"
    assert not (tmp_path / "runs").exists()


def test_dry_run_with_a_broken_hosts_file_still_says_where(cli, tmp_path):
    bad = tmp_path / "hosts.yaml"
    bad.write_text("server:\n  hots: x\n")
    res = cli("run", "ex5", "--dry-run", "--hosts", str(bad))
    assert res.code == 2 and f"{bad}:2" in res.stderr and "Traceback" not in res.stderr
