"""`sockdeploy init`'s flags: --ssh-port (old --port says it is deprecated) and --out (old --output)."""

from __future__ import annotations

import pytest

from sockdeploy.cli.app import cli
from sockdeploy.spec.hosts import parse_config
from tests.unit.cli.support import make_runner

BASE = ["init", "--user", "jdoe", "--host", "login.example", "--via", "direct", "--no-doctor", "--yes"]


def test_ssh_port_is_written(invoke, tmp_path):
    res = invoke(*BASE, "--ssh-port", "2222", "--out", "h.yaml")
    assert res.exit_code == 0, res.stderr
    cfg = parse_config(tmp_path / "h.yaml")
    assert cfg.server.port == 2222 and cfg.server.host == "login.example" and cfg.network.via == "direct"
    assert "deprecated" not in res.stderr and res.stderr.splitlines()[-1] == "wrote h.yaml" and res.stdout == ""


def test_the_old_port_flag_still_works_and_says_it_is_deprecated(invoke, tmp_path):
    res = invoke(*BASE, "--port", "2223", "--out", "h.yaml")
    assert res.exit_code == 0, res.stderr
    assert parse_config(tmp_path / "h.yaml").server.port == 2223
    assert "`init --port` is deprecated" in res.stderr and "--ssh-port" in res.stderr and res.stdout == ""


def test_the_old_and_new_port_flags_must_agree(invoke, tmp_path):
    res = invoke(*BASE, "--port", "2223", "--ssh-port", "2222", "--out", "h.yaml")
    assert res.exit_code == 2 and "disagree" in res.stderr and not (tmp_path / "h.yaml").exists()


def test_the_old_output_flag_still_works(invoke, tmp_path):
    res = invoke(*BASE, "--output", "old.yaml")
    assert res.exit_code == 0, res.stderr
    assert parse_config(tmp_path / "old.yaml").server.user == "jdoe"


def test_old_spellings_are_hidden_from_help():
    text = make_runner().invoke(cli, ["init", "--help"]).stdout
    assert "--ssh-port" in text and "--out" in text
    assert "--port " not in text and "--output" not in text


@pytest.mark.parametrize("taken", ["--out", "--output"])
def test_an_existing_file_is_kept_without_force(invoke, tmp_path, taken):
    (tmp_path / "h.yaml").write_text("server:\n  host: keep\n")
    res = invoke(*BASE, taken, "h.yaml")
    assert res.exit_code == 2 and (tmp_path / "h.yaml").read_text() == "server:\n  host: keep\n"
