"""workspace_create.sh: a private run folder with the sources in it, or a clear error."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sockdeploy.errors import RemoteError
from sockdeploy.remote import marker
from sockdeploy.remote.program import PROCS, sh_command
from sockdeploy.run.workspace import RUN_MARKER, create_workspace, tar_sources
from sockdeploy.spec.sources import Source


def test_creates_a_private_folder_with_the_sources(host, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "server.c").write_text("int main(void) { return 0; }\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    ws = create_workspace(host, str(tmp_path / "work"), [Source(src / "server.c", "server.c"), Source(src / "run.sh", "run.sh")])
    folder = Path(ws.path)
    assert folder.parent == tmp_path / "work" and folder.name.startswith("run-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "server.c").read_text() == "int main(void) { return 0; }\n"
    assert stat.S_IMODE((folder / "run.sh").stat().st_mode) == 0o700
    assert (folder / RUN_MARKER).is_file()
    assert ws.host is host and ws.cleaned == []
    assert isinstance(ws.used_ports, set)


def test_sweeps_crashed_runs_on_the_way(host, tmp_path):
    crashed = tmp_path / "run-crashed"
    crashed.mkdir()
    (crashed / RUN_MARKER).touch()
    (crashed / "lifeline.pid").write_text(f"{2 ** 22 + 1}\n")
    ws = create_workspace(host, str(tmp_path), [])
    assert ws.cleaned == [str(crashed)] and not crashed.exists()


def test_other_prefixes_sweep_nothing(host, tmp_path):
    crashed = tmp_path / "run-crashed"
    crashed.mkdir()
    (crashed / RUN_MARKER).touch()
    (crashed / "lifeline.pid").write_text(f"{2 ** 22 + 1}\n")
    ws = create_workspace(host, str(tmp_path), [], prefix="sockdeploy-")
    assert Path(ws.path).name.startswith("sockdeploy-")
    assert ws.cleaned == [] and crashed.is_dir()


def test_a_base_that_cannot_be_created(host, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(RemoteError) as info:
        create_workspace(host, str(tmp_path / "file" / "work"), [])
    assert info.value.exit_status == 91
    assert "cannot create" in info.value.message and "df -h" in info.value.hint


def test_sources_that_do_not_unpack_leave_nothing(host, tmp_path):
    command = sh_command(PROCS, "workspace_create.sh", args=[str(tmp_path), "run-", 10])
    result = host.run(command, stdin=b"this is not a tar archive" * 100, timeout=30)
    assert result.exit_status == 94
    assert "cannot write the sources" in (marker.first(result.stdout, "ERR") or "")
    assert list(tmp_path.iterdir()) == []


def test_nested_sources_and_empty_folders_arrive_in_place(host, tmp_path):
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "lib" / "util.c").write_text("int util;\n")
    ws = create_workspace(host, str(tmp_path / "work"), [Source(src / "lib" / "util.c", "lib/util.c")], ["lib", "obj"])
    folder = Path(ws.path)
    assert (folder / "lib" / "util.c").read_text() == "int util;\n"
    assert (folder / "obj").is_dir() and list((folder / "obj").iterdir()) == []  # a makefile's output folder
    assert stat.S_IMODE((folder / "obj").stat().st_mode) == 0o700


def test_an_upload_cut_short_removes_what_it_unpacked(host, tmp_path):
    (tmp_path / "a.c").write_bytes(b"a" * 20000)
    (tmp_path / "b.c").write_bytes(b"b" * 20000)
    upload = tar_sources([Source(tmp_path / "a.c", "a.c"), Source(tmp_path / "b.c", "b.c")], ["d"])
    whole = b"".join(upload.chunks())
    work = tmp_path / "work"
    work.mkdir()
    command = sh_command(PROCS, "workspace_create.sh", args=[str(work), "run-", 10])
    # a.c whole, then end of file in the middle of b.c: tar has written a.c and part of b.c when it fails
    result = host.run(command, stdin=whole[:len(whole) // 2 + 4096], timeout=30)
    assert result.exit_status == 94 and "cannot write the sources" in (marker.first(result.stdout, "ERR") or "")
    assert list(work.iterdir()) == []
    assert host.run(command, stdin=whole, timeout=30).exit_status == 0  # the same stream whole unpacks
