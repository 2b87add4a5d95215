"""Fixtures for running sockdeploy's host programs on this machine (LocalHost, no SSH)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Callable, Iterator, List

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


@pytest.fixture
def pidfiles(tmp_path_factory) -> Iterator[Callable[[str], Path]]:
    """Paths for daemons' pid files (helpers.daemon), outside any run folder; what they name is killed at the end."""
    made: List[Path] = []
    folder = tmp_path_factory.mktemp("pids")

    def make(name: str) -> Path:
        made.append(folder / f"{name}.pid")
        return made[-1]

    yield make
    for path in made:
        try:
            os.kill(int(path.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
