"""tagged_stop.sh and runtag: the run's token reaches host programs on stdin and stops what the run left."""

from __future__ import annotations

import os
import subprocess
from typing import List, Optional, Tuple

from sockdeploy.remote.host import CommandResult
from sockdeploy.run import runtag
from sockdeploy.run.build import build
from sockdeploy.run.server import finish, start_server
from sockdeploy.run.workspace import Workspace
from tests.unit.remote.helpers import TOKEN, alive, daemon, pid_in, wait_until


def test_stop_strays_stops_only_the_roles_asked_for(host, pidfiles):
    for role in ("client-1", "server"):
        env = dict(os.environ, SOCKDEPLOY_RUN=f"{role}:{TOKEN}")
        subprocess.run(["/bin/sh", "-c", daemon(pidfiles(role))], env=env, check=True)
    client, server = pid_in(pidfiles("client-1")), pid_in(pidfiles("server"))
    found = runtag.stop_strays(host, TOKEN, runtag.CLIENT_SIDE)
    assert found == [runtag.Stray(client, "client-1", "sleep 60")]
    assert wait_until(lambda: not alive(client)) and alive(server)
    assert runtag.stop_strays(host, None) == []  # no token: nothing to look for
    assert [s.pid for s in runtag.stop_strays(host, TOKEN)] == [server]
    assert wait_until(lambda: not alive(server))


def test_a_stray_is_named_in_one_sentence():
    assert runtag.Stray(7, "server", "./srv `x`").sentence("shell") == (
        "your server left a background process on shell (pid 7, `./srv 'x'`); it was stopped")
    assert runtag.Stray(8, "client-2", "./c").sentence("pi").startswith("your client (run 2) left")
    assert runtag.Stray(9, "build", "make").sentence("h").startswith("the build left")
    text = "compiling\nSD-STRAY 12 build sleep 60\ndone\n"
    assert runtag.strays(text) == [runtag.Stray(12, "build", "sleep 60")]
    assert runtag.without_strays(text) == "compiling\ndone\n"


class Recorder:
    """A host that only notes what it is asked to run."""

    name, role = "shell", "server host"

    def __init__(self) -> None:
        self.calls: List[Tuple[str, Optional[bytes]]] = []

    def run(self, script: str, *, stdin: Optional[bytes] = None, timeout: Optional[float] = None) -> CommandResult:
        self.calls.append((script, stdin))
        return CommandResult("SD-PID 1\nSD-READY\n", "", 0)


def test_the_token_travels_on_stdin_never_on_a_command_line():
    host = Recorder()
    ws = Workspace(host=host, path="/tmp/run-x", used_ports=set(), inode="1")  # type: ignore[arg-type]
    start_server(ws, "./server", ready="tcp", port=31000, socket_path=None, token=TOKEN)
    finish(ws, pid=1, remove=True, token=TOKEN)
    build(ws, "make", "server", token=TOKEN)
    runtag.stop_strays(host, TOKEN)  # type: ignore[arg-type]
    assert len(host.calls) == 4
    for script, stdin in host.calls:
        assert TOKEN not in script and stdin == f"{TOKEN}\n".encode()


def test_any_tagged_is_the_quick_look_first(pidfiles):
    env = dict(os.environ, SOCKDEPLOY_RUN=f"client-12:{TOKEN}")
    subprocess.run(["/bin/sh", "-c", daemon(pidfiles("c"))], env=env, check=True)
    pid_in(pidfiles("c"))
    assert runtag.any_tagged(TOKEN) and runtag.any_tagged(TOKEN, "client-12") and runtag.any_tagged(TOKEN, "build|client-[0-9]+")
    assert not runtag.any_tagged(TOKEN, "client-1") and not runtag.any_tagged(TOKEN, "server")
    assert not runtag.any_tagged("0" * 32)
