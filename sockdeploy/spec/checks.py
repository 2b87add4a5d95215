"""payload.yaml's `checks:` section: what to judge of a student's own programs, without reference output.

The `expect:` lines describe the bundled programs' wording; these checks judge
behaviour any correct pair shows, whatever it prints:

    checks:
      built: true       # the server and the client built
      listened: true    # the server listened (on whatever port it chose)
      connected: true   # each client run connected (counted at the tunnel or preload library), exited 0
      sent: true        # each client run put something on the wire
      integers: true    # every integer a client sent appears in the server's output, in order
      quit: true        # the quit run's quit code reached the server (a number: that code exactly)
      ended: true       # the server ended by itself after the quit run
      addresses: true   # the server printed its port, each client its socket's real address (exercise 6)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from sockdeploy.spec.loader import Section

# In the order they are judged: the first failure is the one a grader reads.
CHECK_NAMES = ("built", "listened", "connected", "sent", "integers", "quit", "ended", "addresses")
# Checks that read what the clients put on the wire (the tunnel's, the UDP relay's or the preload library's record).
WIRE_CHECKS = frozenset({"sent", "integers", "quit", "addresses"})


@dataclass(frozen=True)
class Checks:
    """The checks an exercise asks for, and which of its client runs tells the server to quit."""

    enabled: Tuple[str, ...]  # in CHECK_NAMES order
    quit_code: Optional[int] = None  # None: whatever the quit run sent last that the other runs did not
    quit_runs: Tuple[bool, ...] = ()  # one per client run of the plan; True = the run that tells the server to quit

    def wants(self, name: str) -> bool:
        return name in self.enabled

    @property
    def needs_wire(self) -> bool:
        """Whether some check reads what the clients put on the wire."""
        return bool(WIRE_CHECKS & set(self.enabled))


def quit_runs_of(commands: Sequence[str]) -> Tuple[bool, ...]:
    """Mark the client runs whose command carries the word `quit` (the exercise's quit run)."""
    out = []
    for command in commands:
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        out.append("quit" in words)
    return tuple(out)


def load_checks(sec: Section, commands: Sequence[str]) -> Optional[Checks]:
    """Read a `checks:` section (absent: None); every key is a check name with true/false, `quit` also a number."""
    if not sec.value:
        return None
    sec.only(list(CHECK_NAMES))
    enabled = []
    quit_code: Optional[int] = None
    for name in CHECK_NAMES:
        if name == "quit":
            value = sec.get(name, (bool, int), False)
            if not isinstance(value, bool):
                if not 0 <= value <= 0xFFFFFFFF:
                    raise sec.fail(name, f"checks.quit {value} is not an unsigned 32-bit integer",
                                   "write true (the code is whatever the quit run sends last) or the code, e.g. 418")
                quit_code, value = value, True
        else:
            value = sec.get(name, bool, False)
        if value:
            enabled.append(name)
    # a plan without a quit run (a copy of ex5's with its runs changed) leaves `quit` not judged
    return Checks(enabled=tuple(enabled), quit_code=quit_code, quit_runs=quit_runs_of(commands))
