import shlex
import subprocess

from sockdeploy.remote.host import CommandResult
from sockdeploy.remote.marker import split_log, tag_values, tags
from sockdeploy.remote.program import PROCS, sh_command


def test_arguments_arrive_unchanged_whatever_they_hold(tmp_path):
    odd = "it's $(no) `no` \"q\" ~/x *\nline"
    folder = tmp_path / "a b'$(c)"
    folder.mkdir()
    command = sh_command(PROCS, "workspace_build.sh", args=[str(folder), f"printf %s {shlex.quote(odd)}; pwd >&2"])
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0
    assert out.stdout == odd + str(folder) + "\n"


def test_replace_execs_the_program(tmp_path):
    command = sh_command(PROCS, "workspace_build.sh", args=[str(tmp_path), "echo ran"], replace=True)
    assert command.startswith("exec /bin/sh -c ")
    out = subprocess.run(["/bin/sh", "-c", command + "; echo not reached"], capture_output=True, text=True)
    assert out.stdout == "ran\n"


def test_split_log_and_tags_stop_at_the_log_line():
    result = CommandResult("SD-PID 7\nSD-CLEANED /a\nSD-CLEANED /b\nSD-LOG\nSD-PID 9\nserver says\n", "", 0)
    assert tags(result)["PID"] == "7"
    assert tag_values(result, "CLEANED") == ["/a", "/b"]
    head, log = split_log(result.stdout)
    assert head == "SD-PID 7\nSD-CLEANED /a\nSD-CLEANED /b\n" and log == "SD-PID 9\nserver says\n"
    assert split_log("SD-PID 1\n") == ("SD-PID 1\n", None)
