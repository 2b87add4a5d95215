"""How far the server host's clock is from this one, measured over the run's SSH connection."""

from __future__ import annotations

import select
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

# One round trip per line read: the host answers each with its wall-clock time.
_ECHO_TIME = 'while IFS= read -r _; do date +%s.%N 2>/dev/null || echo x; done'
SAMPLES = 5


@dataclass(frozen=True)
class ClockOffset:
    """Server clock minus local clock, in seconds; `uncertainty` is half the best round trip."""

    offset: float
    uncertainty: float
    samples: int

    def to_dict(self) -> Dict[str, Any]:
        return {"offset_s": round(self.offset, 6), "uncertainty_s": round(self.uncertainty, 6), "samples": self.samples}


def estimate(samples: List[Tuple[float, float, float]]) -> Optional[ClockOffset]:
    """Estimate from (sent, remote, received) triples, trusting the shortest round trip most.

    Assuming the request and the answer took equally long, the remote clock read
    its time at the midpoint of the round trip, give or take half of it.
    """
    good = [(t1 - t0, remote - (t0 + t1) / 2) for t0, remote, t1 in samples if t1 >= t0]
    if not good:
        return None
    rtt, offset = min(good)
    return ClockOffset(offset=offset, uncertainty=rtt / 2, samples=len(good))


def measure(session: Any, count: int = SAMPLES, timeout: float = 10.0) -> Optional[ClockOffset]:
    """Ask the server host for its time `count` times over one channel; None if it cannot say."""
    chan = session.start_stream(_ECHO_TIME)
    samples: List[Tuple[float, float, float]] = []
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        for _ in range(count):
            t0 = time.time()
            chan.sendall(b"t\n")
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    return estimate(samples)
                select.select([chan], [], [], min(left, 0.5))
                if chan.recv_ready():
                    data = chan.recv(4096)
                    if not data:
                        return estimate(samples)
                    buf += data
                elif chan.exit_status_ready():
                    return estimate(samples)
            t1 = time.time()
            line, buf = buf.split(b"\n", 1)
            try:
                samples.append((t0, float(line), t1))
            except ValueError:
                return None  # no sub-second `date` (not GNU coreutils): no correction rather than a wrong one
    finally:
        try:
            chan.shutdown_write()
            chan.close()
        except Exception:
            pass
    return estimate(samples)
