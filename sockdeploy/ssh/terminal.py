"""Questions for the person at the terminal: yes/no confirmations and typed answers (passwords, codes)."""

from __future__ import annotations

import getpass
import sys
import threading
from typing import Callable

# Asks a yes/no question on the terminal; None where there is no terminal.
Confirm = Callable[[str], bool]
# Shows a prompt exactly as given and returns the answer; the flag says whether to echo it.
Prompt = Callable[[str, bool], str]


class _ProgressLine:
    """The "connect" progress step is mid-line on a terminal: the first question starts a new line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended = False

    def end(self) -> None:
        with self._lock:
            if not self._ended and sys.stderr.isatty():
                sys.stderr.write("\n")
            self._ended = True


_progress_line = _ProgressLine()


def terminal_confirm(question: str) -> bool:
    """Ask on the controlling terminal; anything but yes is no."""
    _progress_line.end()
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def terminal_prompt(prompt: str, echo: bool) -> str:
    """Ask on the terminal; read secrets with echo off and never store them."""
    _progress_line.end()
    if not echo:
        return getpass.getpass(prompt)
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().rstrip("\n")
