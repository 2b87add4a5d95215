"""The fault-injection hook: pause at a named phase when SOCKDEPLOY_FAULT_POINT asks for it."""

from __future__ import annotations

import os
import sys
import time
from typing import Optional

from sockdeploy.run.signals import HOLD, SignalHold
from sockdeploy.run.tripwire import Tripwire
from sockdeploy.ssh.session import SshSession

FAULT_POINT_ENV = "SOCKDEPLOY_FAULT_POINT"
FAULT_PAUSE = 30.0


def fault_point(name: str, session: Optional[SshSession] = None, hold: SignalHold = HOLD,
                tripwire: Optional[Tripwire] = None) -> None:
    """Pause at phase `name` when the fault-injection suite asks for it.

    The pause ends early when a held signal arrives (so a Ctrl-C during a
    shielded step is seen when the step is done), when the session dies, or
    when the run's tripwire is tripped (a watchdog fired).
    """
    if os.environ.get(FAULT_POINT_ENV) != name:
        return
    print(f"sockdeploy: fault point {name}", file=sys.stderr, flush=True)
    deadline = time.monotonic() + FAULT_PAUSE
    while (time.monotonic() < deadline and not hold and (session is None or session.alive)
           and not (tripwire is not None and tripwire)):
        time.sleep(0.05)
