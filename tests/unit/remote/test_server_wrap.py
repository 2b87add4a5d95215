"""server_wrap.sh: runs the server, writes its exit status, and kills the whole group at the lifetime cap."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from sockdeploy.remote.program import sh_command


def _wrap(host, folder: Path, command: str, cap: int):
    return host.run(f"cd {shlex.quote(str(folder))} && " + sh_command("server_wrap.sh", args=[command, cap]),
                    timeout=30)


def test_writes_the_server_exit_status(host, tmp_path):
    _wrap(host, tmp_path, "exit 5", 30)
    assert (tmp_path / "server.status").read_text().strip() == "5"


def test_the_cap_kills_the_group(host, tmp_path):
    began = time.monotonic()
    result = _wrap(host, tmp_path, "sleep 30", 1)
    assert time.monotonic() - began < 10
    assert result.exit_status != 0  # killed with the group
    assert not (tmp_path / "server.status").exists()
