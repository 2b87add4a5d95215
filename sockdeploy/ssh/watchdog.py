"""The watchdog channel: heartbeats that keep a run's remote watchdog script content.

The remote script (see the run's watchdog script) stops the server and removes
the run's folder when the heartbeats stop or the channel ends, so a run whose
connection dies leaves nothing behind. When it acts while the connection still
stands (sockdeploy was stopped with Ctrl-Z longer than its window), it says so
on a line of its own ("SD-FIRED N", N seconds without a heartbeat) and ends; the
heartbeat thread hears that and tells the run at once.
"""

from __future__ import annotations

import os
import select
import threading
import time
from typing import Any, Callable, Optional

from sockdeploy.errors import ConnectError
from sockdeploy.ssh.shellstart import FIRST_ANSWER, silent_shell

CONNECT_TIMEOUT = 15
HEARTBEAT = b"."
GOODBYE = b"q"
FIRED = b"SD-FIRED"
LOSS_GRACE = 1.0  # seconds a watchdog that ended on end of file waits to see whether the connection is going

# Told, on the heartbeat thread, that the remote watchdog ended on its own: the text after
# "SD-FIRED" (seconds without a heartbeat), or "" when it ended without saying why.
OnEnd = Callable[[str], None]


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
            raise TimeoutError("the script did not get ready in time")
        else:
            select.select([chan], [], [], 0.5)


class Watchdog:
    """A channel that sends a heartbeat byte every few seconds until closed; its thread is joined by close()."""

    def __init__(self, opener: Callable[[], Any], interval: float, ready_line: Optional[bytes] = None, *,
                 on_end: Optional[OnEnd] = None, alive: Callable[[], bool] = lambda: True,
                 ready_timeout: float = FIRST_ANSWER, host: str = "the host", first: bytes = b"") -> None:
        """`opener` opens the channel (on the heartbeat thread) and raises ConnectError if it cannot;
        `ready_line` is what the script prints once it is in place (see settle()); `on_end` hears that the
        script ended on its own while `alive()` (the connection) still held; `first` is sent once the
        script runs, before the first heartbeat."""
        self._chan: Any = None
        self._error: Optional[ConnectError] = None
        self._ready = threading.Event()
        self._settled = threading.Event()
        self._ready_line = ready_line
        self._ready_timeout = ready_timeout
        self._interval = interval
        self._on_end = on_end
        self._alive = alive
        self._host = host
        self._first = first
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()  # ends the heartbeat thread's wait at once on close()
        self.fired: Optional[str] = None  # set when the script ended on its own (see OnEnd)
        self._output = b""
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
        self._settled.wait(timeout)
        if self._error is not None:
            raise self._error

    def _beat(self, opener: Callable[[], Any]) -> None:
        try:
            if not self._open(opener):
                return
            if self._ready_line is not None:
                try:
                    # no heartbeat before the script runs: a start-up file reading stdin would swallow it
                    await_line(self._chan, self._ready_line, self._ready_timeout, self._stop)
                except TimeoutError:
                    self._error = silent_shell(self._host, self._ready_timeout, "start the watchdog")
                except Exception:  # it ended or the link went: nothing of it left to wait for
                    pass
            if self._first and self._error is None:
                try:
                    self._chan.sendall(self._first)
                except Exception:  # the channel is gone: the heartbeats notice
                    pass
        finally:
            self._settled.set()
        self._heartbeats()

    def _heartbeats(self) -> None:
        """Send a heartbeat every interval; between them, listen for the script ending on its own."""
        next_beat = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                try:
                    self._chan.sendall(HEARTBEAT)
                except Exception:  # the channel or the connection is gone: the remote side acts on the silence
                    self._ended()
                    return
                next_beat = now + self._interval
            try:
                select.select([self._chan, self._wake_r], [], [], max(0.0, next_beat - time.monotonic()))
            except (OSError, ValueError):
                return
            if self._stop.is_set() or self._read_ended():
                self._ended()
                return

    def _read_ended(self) -> bool:
        """Take what the script printed; return whether it has ended."""
        chan = self._chan
        while chan.recv_ready():
            data = chan.recv(4096)
            if not data:
                return True
            self._output = (self._output + data)[-4096:]
        return bool(chan.exit_status_ready() or chan.closed or getattr(chan, "eof_received", False))

    def _ended(self) -> None:
        """The script ended: if we did not ask it to and the connection stands, it fired: say so."""
        if self._stop.is_set() or not self._alive():
            return
        said = [line[len(FIRED):].decode(errors="replace").strip() for line in self._output.splitlines()
                if line.startswith(FIRED)]
        if not said and getattr(self._chan, "exit_status", -1) == -1:
            return  # neither its word nor an exit status: the channel went with its connection
        reason = said[-1] if said else ""
        if not reason.isdigit() or int(reason) == 0:
            # it ended on end of file, not on silence: sshd closed its input, which it does as the connection
            # goes down; the connection's own end, if it comes, is the truer verdict
            deadline = time.monotonic() + LOSS_GRACE
            while time.monotonic() < deadline and not self._stop.is_set():
                if not self._alive():
                    return
                time.sleep(0.02)
        self.fired = reason
        if self._on_end is not None:
            self._on_end(reason)

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
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        self._ready.wait(CONNECT_TIMEOUT)
        self._thread.join(timeout=CONNECT_TIMEOUT)  # it sees the stop at once once the channel is open
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1
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
