"""Fixtures for running sockdeploy's host programs on this machine (LocalHost, no SSH)."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from typing import Callable, Iterator, List, Tuple

import pytest

from sockdeploy.remote.host import LocalHost


@pytest.fixture
def host() -> LocalHost:
    return LocalHost("server host")


@pytest.fixture
def start_group() -> Iterator[Callable[..., int]]:
    """Start commands each in a session (process group) of its own; all are killed at the end."""
    started: List[subprocess.Popen] = []

    def start(*argv: str) -> int:
        proc = subprocess.Popen(list(argv or ("sleep", "60")), start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        return proc.pid

    yield start
    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


OTHER_USER = "sdpoolother"  # another login on the host, for the ownership cases


@pytest.fixture(scope="session")
def other_user() -> Iterator[Tuple[int, int]]:
    """(uid, gid) of a real second user, created with useradd for the session (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("files and processes of another user can be made only as root")
    created = False
    try:
        entry = pwd.getpwnam(OTHER_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER],
                              capture_output=True, text=True)
        # status 9: a parallel session created it meanwhile
        assert made.returncode in (0, 9), made.stderr
        created = made.returncode == 0
        entry = pwd.getpwnam(OTHER_USER)
    yield entry.pw_uid, entry.pw_gid
    if created:
        subprocess.run(["userdel", OTHER_USER], capture_output=True)


@pytest.fixture
def start_as() -> Iterator[Callable[[int, int], int]]:
    """Start `sleep 60` as (uid, gid) in a session of its own; all are killed at the end."""
    started: List[subprocess.Popen] = []

    def start(uid: int, gid: int) -> int:
        proc = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "sleep", "60"],
                                start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        started.append(proc)
        return proc.pid

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
