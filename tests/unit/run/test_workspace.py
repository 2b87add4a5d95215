import io
import subprocess
import tarfile

import pytest

from sockdeploy.remote.host import CommandResult
from sockdeploy.run.workspace import create_workspace, shell_path, tar_sources


def test_shell_path_expands_only_a_leading_tilde():
    assert shell_path("~/.sockdeploy") == '"$HOME"/.sockdeploy'
    assert shell_path("/a b/c") == "'/a b/c'"
    out = subprocess.run(["/bin/sh", "-c", "echo " + shell_path("~/x y")], capture_output=True, text=True, env={"HOME": "/h"})
    assert out.stdout.strip() == "/h/x y"


def test_tar_is_flat_and_private(tmp_path):
    (tmp_path / "s.c").write_text("int x;")
    data = tar_sources([tmp_path / "s.c"])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        (member,) = tar.getmembers()
    assert member.name == "s.c" and member.mode == 0o600 and member.uid == 0


def test_workspace_failure_is_a_clear_remote_error(mocker, tmp_path):
    host = mocker.Mock()
    host.name, host.role = "shell", "server host"
    host.run.return_value = CommandResult("SD-ERR cannot create a directory in /full (not writable, or disk full?)\n", "", 92)
    from sockdeploy.errors import RemoteError

    with pytest.raises(RemoteError) as info:
        create_workspace(host, "/full", [])
    assert "disk full" in info.value.message and "df -h" in info.value.hint
