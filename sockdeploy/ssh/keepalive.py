"""Keepalives that expect a reply, so a dead link is noticed in seconds.

paramiko's own keepalive expects no reply, so a dead link would only be
noticed when TCP gives up, many minutes later.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

log = logging.getLogger("sockdeploy.ssh.keepalive")

KEEPALIVE_SECONDS = 10
KEEPALIVE_TIMEOUT = 20  # no reply for this long after a keepalive: the link is dead (~30 s in all)
REQUEST = "keepalive@openssh.com"


class Keepalive:
    """One thread per connection: every `interval` s a request the server must answer; no answer closes the transport.

    paramiko matches a global request's reply to whichever request was sent
    last, so every global request on the connection (port forwards too) goes
    through `requests`, one at a time.
    """

    def __init__(self, transport: Any, label: str, *, requests: Optional[threading.Lock] = None,
                 interval: float = KEEPALIVE_SECONDS, timeout: float = KEEPALIVE_TIMEOUT) -> None:
        """`transport` is paramiko's; `label` names the connection in the log; `requests` is the
        connection's lock for global requests (a new one when not given)."""
        self.transport = transport
        self.label = label
        self.interval = interval
        self.timeout = timeout
        self.requests = requests or threading.Lock()
        self.dead_reason: Optional[str] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sockdeploy-keepalive", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and wait for it (it ends within a fraction of a second once the transport is closed)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Keepalive:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.transport.is_active():
                return
            if not self._ping():
                if self._stop.is_set() or not self.transport.is_active():
                    return
                self.dead_reason = f"no answer to keepalives for {self.timeout + self.interval:g} s"
                log.info("SSH connection to %s is dead: %s", self.label, self.dead_reason)
                self.transport.close()
                return

    def _ping(self) -> bool:
        """Send one keepalive and wait for its answer; False when none came in time (or on stop)."""
        deadline = time.monotonic() + self.timeout
        # another request still unanswered after the whole timeout also means a dead link
        if not self.requests.acquire(timeout=self.timeout):
            return False
        try:
            answered = self._send()
            while not answered.wait(0.2):
                if self._stop.is_set() or not self.transport.is_active() or time.monotonic() > deadline:
                    return False
            return True
        except Exception:  # sending failed: the transport is closing, which the loop notices
            return True
        finally:
            self.requests.release()

    def _send(self) -> threading.Event:
        """Send the request with want-reply, without blocking; return the event paramiko sets on the reply."""
        from paramiko.common import cMSG_GLOBAL_REQUEST
        from paramiko.message import Message

        # what Transport.global_request(wait=True) does, minus its wait that has no timeout
        answered = threading.Event()
        self.transport.completion_event = answered
        m = Message()
        m.add_byte(cMSG_GLOBAL_REQUEST)
        m.add_string(REQUEST)
        m.add_boolean(True)
        self.transport._send_user_message(m)
        return answered
