"""`sockdeploy inspect DIR`: the report on stderr, --json on stdout, --write a payload.yaml that loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sockdeploy.spec.payload import load_manifest
from tests.unit.cli.support import one_line_error

STUDENT = Path(__file__).resolve().parents[2] / "fixtures" / "student"


def test_inspect_reports_the_choice_and_the_plan(invoke) -> None:
    res = invoke("inspect", str(STUDENT / "unix-and-inet"), "--exercise", "ex5")
    assert res.exit_code == 0 and res.stdout == ""
    assert "server: server2.c - AF_INET TCP server" in res.stderr
    assert "client run 2: ./client2 {ip} {port} quit" in res.stderr


def test_inspect_json_is_machine_output(invoke) -> None:
    res = invoke("inspect", str(STUDENT / "real-host-address"), "--exercise", "ex5", "--json")
    data = json.loads(res.stdout)
    assert data["plan"]["client_address"] == "128.252.167.161"
    assert [r["command"] for r in data["plan"]["runs"]] == ["./client", "./client quit"]


def test_write_saves_a_payload_that_loads_and_refuses_to_overwrite(invoke, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    shutil.copytree(STUDENT / "makefile-src-inc", folder)
    assert invoke("inspect", str(folder), "--exercise", "ex5", "--write").exit_code == 0
    payload = load_manifest(folder / "payload.yaml")
    assert payload.server.build == "make server" and payload.client.build == "make client"
    again = invoke("inspect", str(folder), "--exercise", "ex5", "--write")
    one_line_error(again.stderr, 2, again.exit_code)
    assert "payload.yaml exists" in again.stderr
    assert invoke("inspect", str(folder), "--exercise", "ex5", "--write", "--force").exit_code == 0


def test_an_unknown_exercise_and_a_folder_without_a_client(invoke, tmp_path: Path) -> None:
    bad = invoke("inspect", str(STUDENT / "port-in-range"), "--exercise", "ex9")
    one_line_error(bad.stderr, 2, bad.exit_code)
    assert "no bundled exercise 'ex9'" in bad.stderr
    only_server = tmp_path / "half"
    only_server.mkdir()
    shutil.copy(STUDENT / "port-in-range" / "server.c", only_server)
    res = invoke("inspect", str(only_server))
    one_line_error(res.stderr, 2, res.exit_code)
    assert "no client program found" in res.stderr and "--client FILE" in res.stderr
