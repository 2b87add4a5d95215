"""A Payload from a folder without payload.yaml: `run DIR` and `run ex5 --payload DIR`."""

from __future__ import annotations

import shutil
import subprocess
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


def test_a_makefile_with_src_and_inc_is_used_as_it_is(tmp_path: Path) -> None:
    payload = resolve_target("ex5", str(copy("makefile-src-inc", tmp_path)))
    assert (payload.server.build, payload.client.build) == ("make server", "make client")
    assert [f.name for f in payload.files] == ["inc/common.h", "makefile", "src/client.c", "src/common.c", "src/server.c"]
    assert payload.dirs == ("inc", "src") and set(payload.checksums()) == {f.name for f in payload.files}


def test_nested_sources_without_a_makefile_compile_with_their_paths(tmp_path: Path) -> None:
    folder = copy("nested-no-makefile", tmp_path)
    (folder / "obj").mkdir()  # left empty: uploaded all the same
    payload = resolve_target(str(folder))
    assert payload.server.build == "gcc -o server src/server.c src/lines.c -Iinclude"
    assert payload.client.build == "gcc -o client src/client.c src/lines.c -Iinclude"
    assert payload.dirs == ("include", "obj", "src")
    for build in (payload.server.build, payload.client.build):  # the plan builds from the folder as uploaded
        done = subprocess.run(build, shell=True, cwd=folder, capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr == "", done.stderr
    assert (folder / "server").is_file() and (folder / "client").is_file()


def test_a_symlinked_source_the_plan_builds_is_named_as_a_symlink(tmp_path: Path) -> None:
    folder = copy("nested-no-makefile", tmp_path)
    real = tmp_path / "elsewhere.c"
    (folder / "src" / "lines.c").rename(real)
    (folder / "src" / "lines.c").symlink_to(real)
    with pytest.raises(PayloadError) as err:
        resolve_target(str(folder))
    assert "no server program" not in err.value.message  # discovery skips links, so the plan lacks lines.c:
    assert err.value.message.startswith("src/lines.c is a symlink; symlinks are not uploaded")


def test_an_empty_folder_names_what_is_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PayloadError) as err:
        resolve_target(str(empty))
    assert err.value.message == f"no server program found in {empty}"
