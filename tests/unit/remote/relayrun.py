"""Run a UDP relay program through LocalHost: its stdin fed in timed parts, its stdout back as bytes."""

from __future__ import annotations

import shlex
from typing import List, Sequence, Tuple

from sockdeploy.net import frames
from sockdeploy.remote.host import CommandResult, LocalHost


def _printf(data: bytes) -> str:
    return "printf '" + "".join(f"\\{b:03o}" for b in data) + "'"


def run_relay(script: str, parts: Sequence[bytes], before: float = 0.0, after: float = 2.0) -> Tuple[CommandResult, bytes]:
    """Run `script` with `parts` on its stdin (0.3 s apart, from `before` s on) and end of file `after` s later.

    The relay ends at end of file, so the wait lets answers to the last frames come
    back first (2 s: the relay's python may start slowly on a loaded machine). Its
    stdout is binary: it travels as hex (od) and comes back as bytes.
    """
    feed = "; sleep 0.3; ".join(_printf(p) for p in parts) or ":"
    line = f"(sleep {before}; {feed}; sleep {after}) | /bin/sh -c {shlex.quote(script)} | od -An -v -tx1"
    result = LocalHost().run(line, timeout=30)
    return result, bytes.fromhex("".join(result.stdout.split()))


def frames_of(data: bytes) -> List[Tuple[int, bytes]]:
    """Return every whole frame in `data`."""
    return frames.FrameReader().feed(data)
