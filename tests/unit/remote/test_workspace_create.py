"""workspace_create.sh: a private run folder with the sources in it, or a clear error."""

from __future__ import annotations

import io
import os
import shlex
import stat
import tarfile
from pathlib import Path

import pytest

from sockdeploy.errors import ConfigError, RemoteError, RunDirChanged, UnsafeWorkdir
from sockdeploy.remote import marker
from sockdeploy.remote.program import PROCS, sh_command
from sockdeploy.remote.scripts import load
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
    assert ws.host is host and ws.cleaned == [] and ws.warnings == []
    assert isinstance(ws.used_ports, set)
    assert ws.inode == str(folder.stat().st_ino)


def test_the_marker_names_this_machine(host, tmp_path):
    ws = create_workspace(host, str(tmp_path), [])
    lines = (Path(ws.path) / RUN_MARKER).read_text().splitlines()
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert lines == [f"host {os.uname().nodename}", f"boot {boot}", f"pidns {os.readlink('/proc/self/ns/pid')}"]


def _here(host) -> str:
    return host.run(load("run_procs.sh") + "\nmachine_id", timeout=30).stdout


def test_sweeps_crashed_runs_on_the_way(host, tmp_path):
    crashed = tmp_path / "run-crashed"
    crashed.mkdir(mode=0o700)
    (crashed / RUN_MARKER).write_text(_here(host))
    (crashed / "lifeline.pid").write_text(f"{2 ** 22 + 1}\n")
    ws = create_workspace(host, str(tmp_path), [])
    assert ws.cleaned == [str(crashed)] and not crashed.exists()


def test_other_prefixes_sweep_nothing(host, tmp_path):
    crashed = tmp_path / "run-crashed"
    crashed.mkdir(mode=0o700)
    (crashed / RUN_MARKER).write_text(_here(host))
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


def test_a_work_folder_others_can_write_without_the_sticky_bit_is_refused(host, tmp_path):
    base = tmp_path / "shared"
    base.mkdir()
    base.chmod(0o777)
    with pytest.raises(UnsafeWorkdir) as info:
        create_workspace(host, str(base), [])
    assert isinstance(info.value, ConfigError) and info.value.exit_status == 95
    assert f"{base} can be written by other users and lacks the sticky bit" in info.value.message
    assert "~/.sockdeploy" in (info.value.hint or "")
    assert list(base.iterdir()) == []
    base.chmod(0o770)  # a group's folder is no better
    with pytest.raises(UnsafeWorkdir):
        create_workspace(host, str(base), [])


def test_a_shared_sticky_work_folder_works_with_a_warning(host, tmp_path):
    base = tmp_path / "tmp"
    base.mkdir()
    base.chmod(0o1777)
    ws = create_workspace(host, str(base), [])
    assert ws.warnings == [f"{base} is shared with other users; a private folder such as ~/.sockdeploy is safer"]
    assert Path(ws.path).parent == base


def test_a_sticky_work_folder_of_another_user_is_refused(host, tmp_path, other_user):
    base = tmp_path / "theirs"
    base.mkdir()
    os.chown(base, *other_user)
    base.chmod(0o1777)
    with pytest.raises(UnsafeWorkdir) as info:
        create_workspace(host, str(base), [])
    assert "belongs to another user" in info.value.message


def _tar(name: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = 6
        tar.addfile(info, io.BytesIO(b"12345\n"))
    return buf.getvalue()


@pytest.mark.parametrize("name, status", [("server.pid", 97), ("lifeline.pid", 97), (".sockdeploy-keep", 97),
                                          (".sockdeploy-run", 94)])
def test_an_upload_never_supplies_a_control_file(host, tmp_path, name, status):
    command = sh_command(PROCS, "workspace_create.sh", args=[str(tmp_path), "run-", 12])
    result = host.run(command, stdin=_tar(name), timeout=30)
    assert result.exit_status == status, result.output
    assert "DIR" not in marker.tags(result)
    assert list(tmp_path.iterdir()) == []


def test_a_new_folder_replaced_before_it_is_entered_is_refused(host, tmp_path, other_user):
    # this mktemp stands for another user swapping the new folder for one of theirs at once
    fake = tmp_path / "bin"
    fake.mkdir()
    uid, gid = other_user
    (fake / "mktemp").write_text(f'#!/bin/sh\nd=$(/usr/bin/mktemp "$@") && chown {uid}:{gid} "$d" && echo "$d"\n')
    (fake / "mktemp").chmod(0o755)
    with pytest.raises(RunDirChanged) as info:
        create_workspace(_PathHost(host, fake), str(tmp_path / "work"), [])
    assert "is not the private folder just made" in info.value.message
    made = list((tmp_path / "work").iterdir())
    assert len(made) == 1 and list(made[0].iterdir()) == []  # nothing unpacked into it


class _PathHost:
    """The local host with extra tools first on the PATH."""

    def __init__(self, host, first: Path) -> None:
        self.host, self.first = host, first
        self.name, self.role = host.name, host.role

    def run(self, script: str, **kw):
        return self.host.run(f"PATH={shlex.quote(str(self.first))}:\"$PATH\"\n" + script, **kw)


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
