"""Bad input and hostile names: a clear one-line error with a hint and the documented exit code, or it just works.
Nothing any name spells is ever executed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import copy_payload

pytestmark = pytest.mark.integration


def _hosts(lab, path: Path, old: str, new: str) -> Path:
    text = lab.hosts_file.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path


def _one_line_error(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.startswith(("sockdeploy: error: ", "  hint: "))]
    assert len(lines) == 2 and lines[0].startswith("sockdeploy: error: ") and lines[1].startswith("  hint: "), stderr
    assert "Traceback" not in stderr


def test_narrow_port_range_skips_busy_ports(cli, clean_lab, tmp_path):
    busy = []
    for port in (39990, 39991):
        s = socket.socket()
        s.bind(("0.0.0.0", port))
        s.listen()
        busy.append(s)
    try:
        hosts = _hosts(clean_lab, tmp_path / "h.yaml", "ports: 30000-40000", "ports: 39990-39992")
        res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs", "--json")
        assert res.code == 0, res.stderr
        assert res.json()["server"]["port"] == 39992
        hosts = _hosts(clean_lab, tmp_path / "h2.yaml", "ports: 30000-40000", "ports: 39990-39991")
        res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs")
        assert res.code == 5 and "no free port in 39990-39991" in res.stderr
        _one_line_error(res.stderr)
        res = cli("run", "ex5", "--hosts", str(clean_lab.hosts_file), "--port", "39990", "--out", "runs")
        assert res.code == 5 and "port 39990 is already in use on localhost" in res.stderr
        _one_line_error(res.stderr)
    finally:
        for s in busy:
            s.close()


def test_server_binding_another_port_is_reported_and_used(cli, clean_lab, tmp_path):
    d = copy_payload("ex5", tmp_path / "wrongport")
    src = (d / "server.c").read_text()
    # the student's bug: a hard-coded port instead of the one on the command line
    planted = src.replace("    if (argc != 2)", "    if (argc == 2)\n        argv[1] = \"39977\";\n    if (argc != 2)", 1)
    (d / "server.c").write_text(planted)
    assert (d / "server.c").read_text() != src, "the test could not plant the bug"
    res = cli("run", str(d), "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json", timeout=120)
    # the port it really listens on is adopted and said (issue 13), no longer an error
    assert res.code == 0, res.stderr
    given = res.json()["server"]["port_given"]
    assert res.json()["server"]["port"] == 39977 and given != 39977
    assert f"the server listens on port 39977 (written in its source), not {given}; using 39977" in res.stderr


def test_program_expecting_other_arguments_shows_command_and_output(cli, clean_lab, tmp_path):
    d = copy_payload("ex5", tmp_path / "args")
    (d / "payload.yaml").write_text((d / "payload.yaml").read_text().replace("run: ./server {port}",
                                                                             "run: ./server {port} extra"))
    res = cli("run", str(d), "--hosts", str(clean_lab.hosts_file), "--out", "runs")
    assert res.code == 6, res.stderr
    assert "$ ./server " in res.stderr and "usage:" in res.stderr
    assert "the server `./server" in res.stderr and "exit status 2" in res.stderr


def test_unwritable_workdir_is_a_clear_error(cli, clean_lab, tmp_path):
    hosts = _hosts(clean_lab, tmp_path / "h.yaml", f"workdir: {clean_lab.workdir}", "workdir: /proc/sockdeploy-cannot-be-here")
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs")
    assert res.code == 3, res.stderr
    assert "cannot create /proc/sockdeploy-cannot-be-here" in res.stderr
    _one_line_error(res.stderr)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny filesystem needs root")
def test_full_remote_disk_is_a_clear_error_and_leaves_nothing(cli, clean_lab, tmp_path):
    small = tmp_path / "full"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        d = copy_payload("ex5", tmp_path / "big")
        (d / "data.txt").write_bytes(os.urandom(200_000).hex().encode()[:300_000])
        hosts = _hosts(clean_lab, tmp_path / "h.yaml", f"workdir: {clean_lab.workdir}", f"workdir: {small}/w")
        res = cli("run", str(d), "--hosts", str(hosts), "--out", "runs")
        assert res.code == 3, res.stderr
        assert "cannot write the sources" in res.stderr and "KiB free; disk full or quota?" in res.stderr
        assert "df -h" in res.stderr
        assert list((small / "w").iterdir()) == [], "a half-written run directory was left"
    finally:
        subprocess.run(["umount", str(small)], check=False)


@pytest.mark.parametrize("args, fragment", [
    (["run"], "Missing argument 'TARGET"),
    (["run", "ex5", "--via", "carrier-pigeon"], "Invalid value for '--via'"),
    (["run", "ex5", "--port", "80"], "1024<=x<=65535"),
    (["run", "ex5", "--port", "many"], "is not a valid integer"),
    (["run", "ex5", "--bogus"], "No such option '--bogus'"),
    (["frobnicate"], "No such command 'frobnicate'"),
])
def test_bad_arguments_exit_2(cli, args, fragment):
    res = cli(*args)
    assert res.code == 2 and fragment in res.stderr and "Traceback" not in res.stderr


def test_unknown_exercise_suggests_the_closest(cli):
    res = cli("run", "ex55")
    assert res.code == 2
    _one_line_error(res.stderr)
    assert "did you mean 'ex5'?" in res.stderr


HOSTILE = ["with space", "quote'single", 'quote"double', "semi;colon", "$(touch PWNED-subst)", "`touch PWNED-tick`",
           "new\nline", "naïve-ünïcode", "-dash-first"]


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_work_or_are_refused_and_never_execute(cli, clean_lab, tmp_path, fake_home, name):
    # the payload folder, a source file in it, the output folder and the remote workdir all carry the name
    d = copy_payload("ex5", tmp_path / name)
    (d / f"{name}.txt").write_text("a file with a hostile name\n")
    hosts = _hosts(clean_lab, tmp_path / "h.yaml", f"workdir: {clean_lab.workdir}",
                   f"workdir: {json.dumps(str(clean_lab.workdir / name))}")
    res = cli("run", str(d), "--hosts", str(hosts), "--out", str(tmp_path / f"out {name}"), "--json")
    assert res.code in (0, 2), res.stderr
    assert "Traceback" not in res.stderr
    if res.code == 0:
        record = res.json()
        assert record["ok"]
        assert Path(record["run_dir"]).is_dir()
        assert f"{name}.txt" in record["sources"]
    else:
        _one_line_error(res.stderr)
    for root in (tmp_path, fake_home, clean_lab.dir, Path.cwd()):
        assert not list(root.rglob("PWNED*")), f"a name was executed under {root}"
    (clean_lab.workdir / name).exists() and subprocess.run(["rm", "-rf", "--", str(clean_lab.workdir / name)])


def test_a_work_folder_other_users_can_write_is_refused_unless_sticky(cli, clean_lab, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    hosts = _hosts(clean_lab, tmp_path / "h.yaml", f"workdir: {clean_lab.workdir}", f"workdir: {shared}")
    # sticky, like /tmp: it works, with a warning; the folder kept with --keep-remote is marked as such
    shared.chmod(0o1777)
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs", "--keep-remote")
    assert res.code == 0, res.stderr
    assert f"{shared} is shared with other users; a private folder such as ~/.sockdeploy is safer" in res.stderr
    kept = [d for d in shared.iterdir() if d.name.startswith("run-")]
    assert len(kept) == 1 and (kept[0] / ".sockdeploy-keep").is_file()
    assert f"later runs never remove it: when done, remove it there with  rm -rf -- {kept[0]}" in res.stderr
    subprocess.run(["rm", "-rf", "--", str(kept[0])], check=True)
    # without the sticky bit another user could swap the run folder: refused before anything is made
    shared.chmod(0o777)
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs")
    assert res.code == 2, res.stderr
    assert f"{shared} can be written by other users and lacks the sticky bit" in res.stderr
    _one_line_error(res.stderr)
    assert list(shared.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="another user can be made only as root")
def test_another_users_planted_run_folder_in_a_shared_workdir_is_left_alone(cli, clean_lab, tmp_path):
    """Finding 2: in a sticky shared workdir another user plants a folder that looks like a crashed run of
    ours, naming one of our processes; our run warns about the shared folder, touches neither, and works."""
    import shutil
    import tempfile

    from tests.unit.remote.conftest import OTHER_USER

    made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER],
                          capture_output=True, text=True)
    assert made.returncode in (0, 9), made.stderr  # 9: it exists already
    shared = Path(tempfile.mkdtemp(prefix="sd-shared-", dir="/tmp"))  # reachable by the other user, unlike tmp_path
    shared.chmod(0o1777)
    victim = subprocess.Popen(["sleep", "120"], start_new_session=True)  # ours, and older than their folder
    try:
        planted = shared / "run-planted0000"
        plant = (f"mkdir -m 700 {planted} && : > {planted}/.sockdeploy-run && echo {victim.pid} > {planted}/server.pid "
                 f"&& touch -d '1 hour ago' {planted}/.sockdeploy-run")
        subprocess.run(["setpriv", f"--reuid={OTHER_USER}", f"--regid={OTHER_USER}", "--clear-groups", "sh", "-c", plant],
                       check=True)
        hosts = _hosts(clean_lab, tmp_path / "h.yaml", f"workdir: {clean_lab.workdir}", f"workdir: {shared}")
        res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs", "--json")
        assert res.code == 0, res.stderr
        assert "is shared with other users" in res.stderr and "cleaned_stale_runs" not in res.json()
        assert victim.poll() is None, "a planted pid file made the run signal one of our processes"
        assert planted.is_dir() and [p.name for p in shared.iterdir()] == [planted.name]
    finally:
        victim.kill()
        victim.wait()
        shutil.rmtree(shared, ignore_errors=True)
        if made.returncode == 0:
            subprocess.run(["userdel", OTHER_USER], capture_output=True)
