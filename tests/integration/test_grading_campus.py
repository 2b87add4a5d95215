"""A TA grading from the Pi off campus: every grading fixture at once through the campus lab's login host,
through the tunnel and direct over the VPN (where the preload library keeps the wire record)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.integration.test_grading import EXPECTED, GRADING, RUBRIC

pytestmark = [pytest.mark.integration, pytest.mark.campus]


def _grade(campus, on_pi, tmp_path: Path, via: str) -> None:
    (tmp_path / "rubric.yaml").write_text(RUBRIC)
    dirs = [str(GRADING / name) for name in EXPECTED]
    proc = on_pi("batch", *dirs, "--exercise", "ex5", "-j", "4", "--rubric", "rubric.yaml", "--via", via,
                 "--hosts", str(campus.write_hosts(via)), "--out", "runs", "--json", timeout=180)
    assert proc.returncode == 6, proc.stderr
    summary = json.loads(proc.stdout)
    results = {s["submission"]: s for s in summary["submissions"]}
    for name, (verdict, reason) in EXPECTED.items():
        assert (results[name]["result"], results[name]["reason"][:len(reason)]) == (verdict, reason), results[name]
    batch = Path(summary["batch_dir"])
    with open(batch / "summary.csv", newline="") as fh:
        points = {row["group"]: row["points"] for row in csv.DictReader(fh)}
    assert points["text-pair"] == points["binary-htonl"] == points["swapped-text"] == "10"
    assert points["same-port-a"] == points["same-port-b"] == "10" and points["drops-value"] == "6"
    for name in ("text-pair", "same-port-b", "drops-value", "never-sends-quit"):  # the wire record of each
        record = json.loads((batch / name / "run.json").read_text())
        assert record["via"] == via and record["server"]["ip"] == campus.server_ip
        assert all(c["ok"] is not None for c in record["checks"]), record["checks"]  # every check judged
        wire = json.loads((batch / name / "wire.json").read_text())
        made = "through the tunnel" if via == "tunnel" else "by the preload library on "
        assert wire["path"].startswith(made), wire["path"]
        assert "client -> server" in (batch / name / "wire.txt").read_text()


def test_a_class_graded_from_the_pi_through_the_campus_login_host(campus, no_vpn, on_pi, tmp_path) -> None:
    _grade(campus, on_pi, tmp_path, "tunnel")


def test_a_class_graded_from_the_pi_direct_over_the_vpn(campus, with_vpn, on_pi, tmp_path) -> None:
    _grade(campus, on_pi, tmp_path, "direct")
