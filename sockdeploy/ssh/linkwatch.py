"""Noticing at once that an SSH connection died: a thread that waits for the transport's own thread to end.

paramiko's transport is a thread that ends the moment its socket reports end of
file or a reset (the host's sshd killed, the connection reset); the keepalive
closes it when the link goes silent. Waiting on that thread tells the run
within milliseconds, where polling `is_active()` between steps would tell it
only when the next step begins, and a client run in progress not at all.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, List, Optional

from sockdeploy.errors import ConnectionLost

log = logging.getLogger("sockdeploy.ssh.linkwatch")

Listener = Callable[[ConnectionLost], None]


def why_lost(transport: Any, keepalive_reason: Optional[str] = None) -> str:
    """Say in a few words why `transport` ended: the keepalive's reason, a reset, or the host closing it."""
    if keepalive_reason:
        return keepalive_reason
    exc = getattr(transport, "saved_exception", None)
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, (EOFError, ConnectionAbortedError)) or exc is None:
        return "the host closed it"
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc)).lower()
    return str(exc) or type(exc).__name__


def connection_lost(label: str, reason: str) -> ConnectionLost:
    """Return the error naming the lost connection and why."""
    return ConnectionLost(f"the SSH connection to {label} was lost ({reason})",
                          "check the network and run again; the host's watchdog stops what the run started there")


class LinkWatch:
    """One thread per connection that waits for the transport to end and tells the listener why.

    The session's own close() says `closing()` first: an ending it asked for is not a loss.
    """

    def __init__(self, transport: Any, label: str, on_lost: Listener,
                 keepalive_reason: Callable[[], Optional[str]] = lambda: None) -> None:
        """`label` names the connection in the error; `keepalive_reason` says why the keepalive closed it, if it did."""
        self.transport = transport
        self.label = label
        self.error: Optional[ConnectionLost] = None
        self.dead = threading.Event()
        self._on_lost = on_lost
        self._keepalive_reason = keepalive_reason
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sockdeploy-linkwatch", daemon=True)

    def start(self) -> LinkWatch:
        self._thread.start()
        return self

    def closing(self) -> None:
        """The session is about to close the connection itself: its ending is no loss."""
        self._closing.set()

    def close(self, wait: float = 2.0) -> None:
        """Say closing() and join the thread (it ends within `wait` s once the transport has ended)."""
        self._closing.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def _watch(self) -> None:
        if not isinstance(self.transport, threading.Thread):
            return  # not paramiko's (a test's stand-in): nothing to wait on
        # the transport's thread ends when the connection does, however it ends
        while self.transport.is_alive():
            self.transport.join(1.0)
            if self._closing.is_set():
                return
        if self._closing.is_set():
            return
        self.error = connection_lost(self.label, why_lost(self.transport, self._keepalive_reason()))
        log.info("%s", self.error.message)
        self.dead.set()
        try:
            self._on_lost(self.error)
        except Exception:  # a listener's fault must not hide the loss from the others
            log.exception("a listener for the lost connection to %s failed", self.label)


class LostListeners:
    """The callbacks a session calls when its connection is lost; a run subscribes for its own lifetime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: List[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` when the connection is lost; return the function that unsubscribes it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def __call__(self, error: ConnectionLost) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(error)
