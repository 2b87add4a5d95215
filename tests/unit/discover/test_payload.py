"""A Payload from a folder without payload.yaml: `run DIR` and `run ex5 --payload DIR`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sockdeploy.discover.payload import resolve_target
from sockdeploy.errors import PayloadError

STUDENT = Path(__file__).resolve().parents[2] / "fixtures" / "student"


def copy(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(STUDENT / name, dest)
    (dest / "expected.yaml").unlink()
    return dest


def test_run_ex5_with_my_folder_takes_my_argument_convention(tmp_path: Path) -> None:
    mine = copy("real-host-address", tmp_path)
    payload = resolve_target("ex5", str(mine))
    assert payload.name == "ex5" and payload.checks_skipped
    assert [r.command for r in payload.runs] == ["./client", "./client quit"]
    assert payload.server.commands == ("./server",) and payload.server.build == "gcc -o server server.c"
    assert (payload.fixed_port, payload.client_address, payload.client_port) == (33333, "128.252.167.161", 33333)
    assert payload.ready == "tcp" and payload.server_exits and not payload.local
    assert any("hard-coded port 33333" in n for n in payload.plan_notes)
    assert sorted(f.name for f in payload.files) == ["client.c", "server.c"]


def test_run_dir_without_payload_yaml_runs_the_discovered_plan(tmp_path: Path) -> None:
    folder = copy("serve-forever", tmp_path)
    payload = resolve_target(str(folder))
    assert payload.name == "serve-forever" and not payload.checks_skipped
    assert [r.command for r in payload.runs] == ["./client {ip} {port}"] and not payload.server_exits
    assert payload.server.commands == ("./server {port}",) and payload.fixed_port is None


def test_a_folder_with_payload_yaml_is_read_as_before(tmp_path: Path) -> None:
    folder = copy("port-in-range", tmp_path)
    (folder / "payload.yaml").write_text("server:\n  run: ./server\n  ready: none\nclient:\n  runs: [./client 127.0.0.1]\n")
    payload = resolve_target(str(folder))
    assert payload.ready == "none" and payload.fixed_port is None and payload.plan_notes == ()


def test_a_stdin_client_is_marked(tmp_path: Path) -> None:
    assert resolve_target("ex5", str(copy("stdin-client", tmp_path))).client_reads_stdin


def test_sources_in_subfolders_are_refused_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(PayloadError) as err:
        resolve_target("ex5", str(copy("makefile-src-inc", tmp_path)))
    assert "subfolders (inc, src)" in err.value.message and "into one folder" in (err.value.hint or "")


def test_an_empty_folder_names_what_is_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PayloadError) as err:
        resolve_target(str(empty))
    assert err.value.message == f"no server program found in {empty}"
