import io
import random
import subprocess
import tarfile

import pytest

from sockdeploy.errors import NetworkPathError
from sockdeploy.remote.host import CommandResult
from sockdeploy.run.server import (
    choose_port,
    create_workspace,
    parse_busy_ports,
    shell_path,
    tar_sources,
)
from sockdeploy.ssh.command import wrap_script

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:7530 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
"""
NETSTAT = "tcp        0      0 0.0.0.0:31522           0.0.0.0:*               LISTEN\ntcp6 0 0 :::22 :::* LISTEN\n"


def test_busy_ports_from_proc_and_netstat():
    assert parse_busy_ports(PROC_NET_TCP) == {30000, 40000}
    assert parse_busy_ports(NETSTAT) == {31522, 22}


def test_choose_port_avoids_busy_and_tried():
    rng = random.Random(1)
    busy = set(range(30000, 30010)) - {30004}
    assert choose_port(busy, (30000, 30009), set(), rng) == 30004
    with pytest.raises(NetworkPathError) as info:
        choose_port(busy, (30000, 30009), {30004}, rng)
    assert "--port" in info.value.hint


def test_shell_path_expands_only_a_leading_tilde():
    assert shell_path("~/.sockdeploy") == '"$HOME"/.sockdeploy'
    assert shell_path("/a b/c") == "'/a b/c'"
    out = subprocess.run(["/bin/sh", "-c", "echo " + shell_path("~/x y")], capture_output=True, text=True, env={"HOME": "/h"})
    assert out.stdout.strip() == "/h/x y"


@pytest.mark.parametrize("login_shell", ["/bin/sh", "/bin/bash"])
def test_wrapped_script_survives_any_quoting(login_shell, tmp_path):
    script = "printf '%s|' \"$0\" 'a'\"'\"'b' \"x;y\" '$(no)' '`no`'\necho\necho 'naïve\nline'"
    out = subprocess.run([login_shell, "-c", wrap_script(script)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "a'b|x;y|$(no)|`no`|" in out.stdout
    assert "naïve\nline" in out.stdout


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
