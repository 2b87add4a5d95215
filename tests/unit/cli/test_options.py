"""The shared options: one spelling and one meaning wherever they apply (cli/options.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import click
import pytest

from sockdeploy.cli.app import cli
from sockdeploy.spec.hosts import VIA_CHOICES
from tests.unit.cli.support import commands, hosts_file, one_line_error

COMMANDS = dict((" ".join(path), cmd) for path, cmd in commands(cli))

# every command that reads hosts.yaml
HOSTS_READERS = ["run", "batch", "doctor", "report", "bundle", "vpn status",
                 "tunnel open", "tunnel status", "tunnel close", "tunnel print"]
# every command with machine output
JSON_COMMANDS = ["run", "batch", "doctor", "report", "bundle", "payloads", "vpn status",
                 "tunnel open", "tunnel status", "lab up", "lab status"]
# the one spelling of each shared option, by the parameter name the commands receive
SPELLINGS: Dict[str, List[str]] = {
    "hosts_path": ["--hosts"], "as_json": ["--json"], "quiet": ["-q", "--quiet"], "verbose": ["-v", "--verbose"],
    "out": ["--out"], "via": ["--via"], "accept_new": ["--accept-new"], "members": ["--member"],
}


def _option(cmd: click.Command, name: str) -> Optional[click.Option]:
    return next((p for p in cmd.params if isinstance(p, click.Option) and p.name == name), None)


def test_the_lists_name_real_commands():
    assert set(HOSTS_READERS) <= set(COMMANDS) and set(JSON_COMMANDS) <= set(COMMANDS)


@pytest.mark.parametrize("name", HOSTS_READERS)
def test_every_command_that_reads_hosts_yaml_takes_hosts(name):
    opt = _option(COMMANDS[name], "hosts_path")
    assert opt is not None and opt.opts == ["--hosts"] and not opt.hidden and opt.metavar == "PATH"


@pytest.mark.parametrize("name", JSON_COMMANDS)
def test_every_command_with_machine_output_takes_json(name):
    opt = _option(COMMANDS[name], "as_json")
    assert opt is not None and opt.is_flag and opt.opts == ["--json"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_shared_options_have_one_spelling_and_one_name(name):
    cmd = COMMANDS[name]
    for param in cmd.params:
        if not isinstance(param, click.Option):
            continue
        if param.name in SPELLINGS:
            assert param.opts == SPELLINGS[param.name], f"{name}: {param.opts}"
        for spelling_name, spelling in SPELLINGS.items():
            if set(param.opts) & set(spelling):
                assert param.name == spelling_name, f"{name}: {param.opts} passed as {param.name}"


@pytest.mark.parametrize("name", [n for n, c in COMMANDS.items() if _option(c, "via") is not None])
def test_via_choices_come_from_the_one_constant(name):
    opt = _option(COMMANDS[name], "via")
    assert opt is not None and isinstance(opt.type, click.Choice) and tuple(opt.type.choices) == VIA_CHOICES


@pytest.mark.parametrize("name", ["run", "batch", "demo"])
def test_quiet_on_the_commands_that_show_progress(name):
    assert _option(COMMANDS[name], "quiet") is not None


@pytest.mark.parametrize("name", ["run", "demo"])
def test_verbose_on_the_commands_that_run_exercises(name):
    assert _option(COMMANDS[name], "verbose") is not None


@pytest.mark.parametrize("name", ["run", "batch", "demo", "report", "bundle", "init"])
def test_out_names_where_a_command_writes(name):
    opt = _option(COMMANDS[name], "out")
    assert opt is not None and not opt.hidden


@pytest.mark.parametrize("args", [["run", "ex5"], ["vpn", "status"], ["tunnel", "open"], ["tunnel", "print"],
                                  ["tunnel", "status"], ["tunnel", "close"]], ids=" ".join)
def test_a_missing_hosts_file_is_one_error_line(invoke, args):
    res = invoke(*args, "--hosts", "nope.yaml")
    one_line_error(res.stderr, 2, res.exit_code)
    assert "--hosts: hosts file not found" in res.stderr and res.stdout == ""


def test_doctor_reports_a_missing_hosts_file_in_its_table(invoke):
    res = invoke("doctor", "--hosts", "nope.yaml")
    assert res.exit_code == 2 and "hosts file not found" in res.stdout and "Traceback" not in res.stderr


def test_report_reads_the_group_from_hosts(invoke, tmp_path, mocker):
    mocker.patch("sockdeploy.output.answers.collect", return_value=[])
    write = mocker.patch("sockdeploy.output.answers.write_answers", return_value=(Path("a.md"), Path("a.html")))
    hosts_file(tmp_path, "group:", "  - Ada Lovelace")
    res = invoke("report", "run1", "--hosts", "hosts.yaml", "--member", "Alan Turing")
    assert res.exit_code == 0, res.stderr
    assert write.call_args.args[1] == ["Alan Turing", "Ada Lovelace"]
    res = invoke("report", "run1", "--hosts", "nope.yaml")
    one_line_error(res.stderr, 2, res.exit_code)


def test_payloads_json_lists_the_bundled_exercises(invoke):
    res = invoke("payloads", "--json")
    assert res.exit_code == 0, res.stderr
    listing = {p["name"]: p for p in json.loads(res.stdout)}
    assert listing["ex5"]["hosts"] == 2 and listing["ex1"]["hosts"] == 1
    plain = invoke("payloads")
    assert plain.stdout.splitlines()[0].startswith(json.loads(res.stdout)[0]["name"]) and "two hosts" in plain.stdout


def test_lab_status_json_without_a_lab(invoke):
    res = invoke("lab", "status", "--json")
    assert json.loads(res.stdout) == {"running": False}
    one_line_error(res.stderr, 7, res.exit_code)
    assert "no lab is up" in res.stderr


def _tunnel_state(tmp_path: Path, port: int, hosts: Path) -> Path:
    folder = tmp_path / "state" / "sockdeploy" / "tunnels"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{port}.json"
    path.write_text(json.dumps({"local_port": port, "remote_port": port, "pid": 0, "host": "lab0",
                                "hosts": str(hosts.resolve()), "status": "ready"}))
    return path


def test_tunnel_status_and_close_take_hosts_to_pick_tunnels(invoke, tmp_path):
    a = hosts_file(tmp_path)
    (tmp_path / "b").mkdir()
    b = hosts_file(tmp_path / "b")
    _tunnel_state(tmp_path, 31522, a)
    other = _tunnel_state(tmp_path, 31523, b)
    assert [t["local_port"] for t in json.loads(invoke("tunnel", "status", "--json").stdout)] == [31522, 31523]
    mine = invoke("tunnel", "status", "--hosts", str(a), "--json")
    assert [t["local_port"] for t in json.loads(mine.stdout)] == [31522]
    refused = invoke("tunnel", "close", "--hosts", str(a), "--port", "31523")
    one_line_error(refused.stderr, 2, refused.exit_code)
    assert other.exists()
    closed = invoke("tunnel", "close", "--hosts", str(a))
    assert closed.exit_code == 0 and closed.stdout.strip() == "closed: 31522"
    assert other.exists() and invoke("tunnel", "status", "--hosts", str(a)).stdout.strip() == "no tunnels open"
