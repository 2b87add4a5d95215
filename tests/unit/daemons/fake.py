"""A stand-in for a sockdeploy daemon: a process whose command line names sockdeploy.daemons."""

from __future__ import annotations

import subprocess
import sys

SLEEP = "import time; print('ready', flush=True); time.sleep(30)"


def start_fake_daemon(code: str = SLEEP) -> subprocess.Popen:
    """Start `code` (which prints "ready" first) as a fake daemon and wait until it runs.

    A pid is signalled only when its command line says it is a daemon, so the
    tests wait until the child has exec'd instead of racing its fork.
    """
    proc = subprocess.Popen([sys.executable, "-c", code, "sockdeploy.daemons.fake"], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc
