import io
import subprocess
import tarfile

import pytest

from sockdeploy.errors import PayloadError
from sockdeploy.remote.host import CommandResult
from sockdeploy.run.workspace import create_workspace, shell_path, tar_sources
from sockdeploy.spec.sources import Source


def test_shell_path_expands_only_a_leading_tilde():
    assert shell_path("~/.sockdeploy") == '"$HOME"/.sockdeploy'
    assert shell_path("/a b/c") == "'/a b/c'"
    out = subprocess.run(["/bin/sh", "-c", "echo " + shell_path("~/x y")], capture_output=True, text=True, env={"HOME": "/h"})
    assert out.stdout.strip() == "/h/x y"


def tar_bytes(upload) -> bytes:
    data = b"".join(upload.chunks())
    assert len(data) == upload.size  # announced before the first byte is made
    return data


def test_tar_keeps_paths_and_folders_and_is_private(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "s.c").write_text("int x;")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o755)
    (tmp_path / "blob").write_bytes(bytes(range(256)) * 5000)  # spans several read chunks' worth of blocks
    files = [Source(tmp_path / "src" / "s.c", "src/s.c"), Source(tmp_path / "run.sh", "run.sh"),
             Source(tmp_path / "blob", "blob")]
    upload = tar_sources(files, ["obj", "src"])
    with tarfile.open(fileobj=io.BytesIO(tar_bytes(upload))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("blob").read() == (tmp_path / "blob").read_bytes()  # type: ignore[union-attr]
    assert list(members) == ["obj", "src", "src/s.c", "run.sh", "blob"]
    assert members["obj"].isdir() and members["obj"].mode == 0o700
    assert members["src/s.c"].mode == 0o600 and members["run.sh"].mode == 0o700 and members["src/s.c"].uid == 0


def test_the_upload_limit_is_checked_before_any_byte_is_made(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 5000)
    with pytest.raises(PayloadError) as err:
        tar_sources([Source(tmp_path / "big", "big")], max_bytes=4096)
    assert "more than the upload limit" in err.value.message


@pytest.mark.parametrize("change", [b"shorter", b"x" * 9000])
def test_a_file_that_changes_size_during_the_upload_is_refused(tmp_path, change):
    (tmp_path / "s.c").write_bytes(b"x" * 3000)
    chunks = tar_sources([Source(tmp_path / "s.c", "s.c")]).chunks()
    next(chunks)  # its header went out with the size it had
    (tmp_path / "s.c").write_bytes(change)
    with pytest.raises(PayloadError, match="changed while it was being uploaded"):
        list(chunks)


def test_workspace_failure_is_a_clear_remote_error(mocker, tmp_path):
    host = mocker.Mock()
    host.name, host.role = "shell", "server host"
    host.run.return_value = CommandResult("SD-ERR cannot create a directory in /full (not writable, or disk full?)\n", "", 92)
    from sockdeploy.errors import RemoteError

    with pytest.raises(RemoteError) as info:
        create_workspace(host, "/full", [])
    assert "disk full" in info.value.message and "df -h" in info.value.hint
