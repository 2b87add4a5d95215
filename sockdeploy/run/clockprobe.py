"""The server host's clock offset, measured in the background while the build runs."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Optional, Type

from sockdeploy.output import clock

JOIN_WAIT = 5.0


class ClockProbe:
    """Measure a host's clock offset on a thread of its own, joined by close() (or offset())."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._offset: Optional[clock.ClockOffset] = None
        self._thread = threading.Thread(target=self._measure, name="sockdeploy-clock", daemon=True)

    def start(self) -> ClockProbe:
        self._thread.start()
        return self

    def _measure(self) -> None:
        try:
            self._offset = clock.measure(self._session)
        except Exception:  # the timeline then says the clock could not be read
            self._offset = None

    def offset(self) -> Optional[clock.ClockOffset]:
        """Wait briefly for the measurement and return it (None: unknown)."""
        self.close()
        return self._offset

    def close(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=JOIN_WAIT)

    def __enter__(self) -> ClockProbe:
        return self.start()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()
