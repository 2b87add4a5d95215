"""server_listen_addresses.sh (through tunnelcause): the TCP addresses the server's tagged processes listen on.

The server's are the processes carrying the run's token, a daemon that left the group among them; without
a token, those of its process group.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable, Optional, Tuple

import pytest

from sockdeploy.run.tunnelcause import listening_addresses
from tests.unit.remote.helpers import TOKEN, free_port, pid_in, wait_until

SOCKETS = """
import socket, sys, time
listening = socket.socket(); listening.bind(("127.0.0.1", 0)); listening.listen(1)
bound = socket.socket(); bound.bind(("127.0.0.1", 0))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))
print(listening.getsockname()[1], bound.getsockname()[1], udp.getsockname()[1], flush=True)
time.sleep(60)
"""

# argv: ADDRESS PORT [PIDFILE]; the pid goes to PIDFILE once it listens
LISTENER = """
import os, socket, sys, time
s = socket.socket(); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
if len(sys.argv) > 3:
    open(sys.argv[3], "w").write(str(os.getpid()))
time.sleep(60)
"""


def tagged(token: str = TOKEN) -> Tuple[str, ...]:
    """The argv prefix that tags a command as a run's server (as server_start.sh does)."""
    return ("env", f"SOCKDEPLOY_RUN=server:{token}")


def listener(address: str, port: int, pidfile: Optional[Path] = None) -> str:
    """A sh command that listens on ADDRESS:PORT, its pid written to PIDFILE (if any) once it does."""
    words = [sys.executable, "-c", LISTENER, address, str(port)] + ([str(pidfile)] if pidfile else [])
    return " ".join(shlex.quote(w) for w in words)


def start_listening(start_group: Callable[..., int], pidfile: Path, prefix: Tuple[str, ...], address: str,
                    port: int) -> int:
    """Start a group of its own listening on ADDRESS:PORT (argv PREFIX in front); return its id once it listens."""
    pgid = start_group(*prefix, "sh", "-c", f"exec {listener(address, port, pidfile)}")
    pid_in(pidfile)
    return pgid


def server_with_daemon(start_group: Callable[..., int], pidfiles: Callable[[str], Path], port: int) -> int:
    """Start a tagged server group listening on 127.0.0.1:PORT that leaves a daemon (setsid, double fork)
    listening on 127.0.0.2:PORT; return the group's id once both listen."""
    inside, daemon = pidfiles("inside"), pidfiles("daemon")
    script = (f"{listener('127.0.0.1', port, inside)} & "
              f"(setsid {listener('127.0.0.2', port, daemon)} </dev/null >/dev/null 2>&1 &); wait")
    pgid = start_group(*tagged(), "sh", "-c", script)
    pid_in(inside)
    pid_in(daemon)
    return pgid


def test_lists_exactly_the_listening_ports(host):
    proc = subprocess.Popen([*tagged(), sys.executable, "-c", SOCKETS], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        listening, bound, udp = (int(p) for p in proc.stdout.readline().split())
        assert wait_until(lambda: listening_addresses(host, proc.pid, listening, TOKEN) == ["127.0.0.1"])
        assert listening_addresses(host, proc.pid, bound, TOKEN) == []
        assert listening_addresses(host, proc.pid, udp, TOKEN) == []
    finally:
        proc.kill()
        proc.wait()


def test_a_tagged_daemon_that_left_the_group_is_found(host, start_group, pidfiles):
    port = free_port()
    pgid = server_with_daemon(start_group, pidfiles, port)
    assert listening_addresses(host, pgid, port, TOKEN) == ["127.0.0.1", "127.0.0.2"]


def test_an_untagged_process_on_the_same_port_is_not_reported(host, start_group, pidfiles):
    port = free_port()
    pgid = start_listening(start_group, pidfiles("server"), tagged(), "127.0.0.2", port)
    start_listening(start_group, pidfiles("untagged"), (), "127.0.0.1", port)
    start_listening(start_group, pidfiles("other-run"), tagged("ab" * 16), "127.0.0.3", port)
    assert listening_addresses(host, pgid, port, TOKEN) == ["127.0.0.2"]


def python_for(uid: int, gid: int) -> str:
    """A python3 that user UID can start (this test's may sit in a folder only root can enter, as CI's venvs do)."""
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", os.path.realpath(sys.executable)):
        if os.path.exists(candidate) and subprocess.run([*as_user, candidate, "-c", "pass"],
                                                        capture_output=True).returncode == 0:
            return candidate
    pytest.fail(f"no python3 that uid {uid} may run: install one under /usr/bin")


def test_another_users_process_carrying_the_token_is_not_reported(host, start_group, pidfiles, other_user):
    uid, gid = other_user
    port = free_port()
    pgid = start_listening(start_group, pidfiles("server"), tagged(), "127.0.0.2", port)
    # a token seen elsewhere (a shared log, a copied environment) does not make another user's process the server
    start_group(*tagged(), "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                python_for(uid, gid), "-c", LISTENER, "127.0.0.1", str(port))
    assert wait_until(lambda: reachable("127.0.0.1", port))
    assert listening_addresses(host, pgid, port, TOKEN) == ["127.0.0.2"]


def test_without_a_token_the_process_group_counts(host, start_group, pidfiles):
    """No token on stdin (a host without /proc environments reads it as none): the sockets of the group, as
    before the tag, whatever the processes carry; a daemon that left the group is not seen then."""
    port = free_port()
    pgid = server_with_daemon(start_group, pidfiles, port)
    assert listening_addresses(host, pgid, port, None) == ["127.0.0.1"]


def test_a_group_that_is_gone_listens_on_nothing(host):
    for token in (TOKEN, None):
        assert listening_addresses(host, 2 ** 22 + 1, 22, token) == []


def reachable(address: str, port: int) -> bool:
    """Whether something accepts a TCP connection on ADDRESS:PORT."""
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False
