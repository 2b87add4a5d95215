"""The merged timeline orders both hosts' lines truly even when the server host's clock is off."""

from __future__ import annotations

import glob
import json
import re
from pathlib import Path

import pytest

from tests.conftest import copy_payload, only_run_dir

pytestmark = pytest.mark.integration

SKEW = 120  # seconds the lab's server host runs ahead


def _libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    assert found, "libfaketime is missing: run scripts/bootstrap as root (package libfaketime)"
    return found[0]


@pytest.fixture(scope="module")
def skewed_lab(tmp_path_factory):
    """A loopback sshd whose sessions see a clock SKEW seconds ahead (libfaketime), like a badly set host."""
    from sockdeploy.lab.loopback import LoopbackLab

    env = f"SetEnv LD_PRELOAD={_libfaketime()} FAKETIME=+{SKEW} DONT_FAKE_MONOTONIC=1\n"
    with LoopbackLab(tmp_path_factory.mktemp("skewed"), extra_sshd_config=env) as lab:
        yield lab


def _paced_ex5(tmp_path: Path) -> Path:
    """ex5 whose first client announces itself before and after, with pauses, so the true order is known."""
    d = copy_payload("ex5", tmp_path / "paced")
    manifest = d / "payload.yaml"
    text = manifest.read_text().replace(
        "    - ./client {ip} {port}\n",
        "    - sh -c 'echo before-one; sleep 0.4; ./client \"$0\" \"$1\"; sleep 0.4; echo after-one' {ip} {port}\n", 1)
    text = text.replace("    - ./client {ip} {port} quit\n",
                        "    - sh -c 'sleep 0.4; echo before-two; sleep 0.4; ./client \"$0\" \"$1\" quit' {ip} {port}\n", 1)
    manifest.write_text(text)
    return d


def _positions(timeline: str) -> dict:
    pos = {}
    for n, line in enumerate(timeline.splitlines()):
        m = re.match(r"\s*[\d.]+s  (\S+(?: \d+)?)\s*\| (.*)$", line)
        if m:
            pos.setdefault((m.group(1), m.group(2)), n)
    return pos


def test_timeline_corrects_the_server_clock(cli, tmp_path, skewed_lab):
    d = _paced_ex5(tmp_path)
    res = cli("run", str(d), "--hosts", str(skewed_lab.hosts_file), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    clock = record["timeline"]["clock"]
    assert abs(clock["offset_s"] - SKEW) < 1.0, clock
    run_dir = only_run_dir(tmp_path / "runs")
    timeline = (run_dir / "timeline.txt").read_text()
    assert f"clock is +{SKEW}." in timeline.splitlines()[0]
    pos = _positions(timeline)
    # only events at least 0.4 s apart: lines printed within the same moment on two hosts have no true order
    order = [("client 1", "before-one"), ("server", "connection 1 accepted"), ("client 1", "after-one"),
             ("client 2", "before-two"), ("server", "connection 2 accepted")]
    missing = [o for o in order if o not in pos]
    assert not missing, (missing, timeline)
    assert [pos[o] for o in order] == sorted(pos[o] for o in order), timeline
    # every line of both terminals is there, once
    logs = [(run_dir / "server.log").read_text()] + [(run_dir / f"client-{i}.log").read_text() for i in (1, 2)]
    body = sum(len(log.splitlines()) - 2 for log in logs)  # minus the command line and the ending line
    assert len(timeline.splitlines()) - 1 == body
    assert "## Merged timeline" in (run_dir / "transcript.md").read_text()
    assert json.loads((run_dir / "run.json").read_text())["timeline"]["lines"] == body


def test_local_runs_have_a_timeline_on_one_clock(cli, tmp_path):
    res = cli("run", "ex3", "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    timeline = (only_run_dir(tmp_path / "runs") / "timeline.txt").read_text()
    assert "one clock" in timeline.splitlines()[0]
    pos = _positions(timeline)
    assert pos[("server", "connection 1 accepted")] < pos[("server", "connection 2 accepted")]
    assert pos[("client 1", "done")] < pos[("client 2", "sent: 418 (quit)")]
