"""The watchdog channel: heartbeats that keep a run's remote watchdog script content.

The remote script (see the run's watchdog script) stops the server and removes
the run's folder when the heartbeats stop or the channel ends, so a run whose
connection dies leaves nothing behind.
"""

from __future__ import annotations

import select
import threading
import time
from typing import Any, Callable, Optional

from sockdeploy.errors import ConnectError

CONNECT_TIMEOUT = 15
HEARTBEAT = b"."
GOODBYE = b"q"


def await_line(chan: Any, line: bytes, timeout: float, stop: Optional[threading.Event] = None) -> None:
    """Read from `chan` until `line` arrives on a line of its own (after whatever the login shell printed).

    Return early once `stop` is set.
    """
    seen = b"\n"
    deadline = time.monotonic() + timeout
    while b"\n" + line + b"\n" not in seen:
        if stop is not None and stop.is_set():
            return
        if chan.recv_ready():
            data = chan.recv(4096)
            if not data:
                raise EOFError("the script ended before it was ready")
            seen = seen[-4096:] + data
        elif chan.exit_status_ready() or chan.closed:
            raise EOFError(f"the script ended before it was ready (exit status {chan.recv_exit_status()})")
        elif time.monotonic() > deadline:
            raise EOFError("the script did not get ready in time")
        else:
            select.select([chan], [], [], 0.5)


class Watchdog:
    """A channel that sends a heartbeat byte every few seconds until closed; its thread is joined by close()."""

    def __init__(self, opener: Callable[[], Any], interval: float, ready_line: Optional[bytes] = None) -> None:
        """`opener` opens the channel (on the heartbeat thread) and raises ConnectError if it cannot;
        `ready_line` is what the script prints once it is in place (see settle())."""
        self._chan: Any = None
        self._error: Optional[ConnectError] = None
        self._ready = threading.Event()
        self._settled = threading.Event()
        self._ready_line = ready_line
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(opener,), name="sockdeploy-watchdog", daemon=True)
        self._thread.start()

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def settle(self, timeout: float = CONNECT_TIMEOUT + 5) -> None:
        """Wait until the script has printed its ready line (or ended, or failed to start)."""
        self._settled.wait(timeout)

    def ensure(self, timeout: float = CONNECT_TIMEOUT + 5) -> None:
        """Wait until the remote side runs; raise the ConnectError that kept it from starting."""
        if not self._ready.wait(timeout):
            raise ConnectError("the watchdog channel did not open in time", "check your network and run again")
        if self._error is not None:
            raise self._error

    def _beat(self, opener: Callable[[], Any]) -> None:
        try:
            if not self._open(opener):
                return
            if self._ready_line is not None:
                try:
                    await_line(self._chan, self._ready_line, CONNECT_TIMEOUT, self._stop)
                except Exception:  # it ended or the link went: nothing of it left to wait for
                    pass
        finally:
            self._settled.set()
        while not self._stop.wait(self._interval):
            try:
                self._chan.sendall(HEARTBEAT)
            except Exception:  # the connection is gone; the remote side acts on the silence
                return

    def _open(self, opener: Callable[[], Any]) -> bool:
        """Open the channel; on failure keep the error for ensure() and return False."""
        try:
            self._chan = opener()
            return True
        except ConnectError as exc:
            self._error = exc
        except Exception as exc:  # any other failure still counts as "no watchdog"
            self._error = ConnectError(f"cannot open the watchdog channel: {exc}", "check your network and run again")
        finally:
            self._ready.set()
        return False

    def close(self, wait: float = 5.0) -> None:
        """Say goodbye ("q") and wait up to `wait` s for the remote side to end.

        Waiting means that when sockdeploy exits, nothing of the run is still
        running on the server host.
        """
        self._stop.set()
        self._ready.wait(CONNECT_TIMEOUT)
        self._thread.join(timeout=CONNECT_TIMEOUT)  # it sees the stop within half a second once the channel is open
        if self._chan is None:
            return
        try:
            self._chan.sendall(GOODBYE)
            self._chan.shutdown_write()
            deadline = time.monotonic() + wait
            while not self._chan.exit_status_ready() and time.monotonic() < deadline:
                if self._chan.closed or not self._chan.get_transport().is_active():
                    break
                time.sleep(0.02)
        except Exception:  # the connection may be gone: the remote side then acts on the silence
            pass
        finally:
            try:
                self._chan.close()
            except Exception:
                pass
