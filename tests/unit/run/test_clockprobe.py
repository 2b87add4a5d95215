"""The clock probe measures on its own thread and is joined by its owner."""

from __future__ import annotations

from sockdeploy.output.clock import ClockOffset
from sockdeploy.run import clockprobe


def test_the_probe_returns_the_measurement_and_joins_its_thread(monkeypatch):
    offset = ClockOffset(offset=1.5, uncertainty=0.01, samples=5)
    monkeypatch.setattr(clockprobe.clock, "measure", lambda session: offset)
    with clockprobe.ClockProbe(object()) as probe:
        assert probe.offset() == offset
    assert not probe._thread.is_alive()


def test_a_failed_measurement_is_unknown(monkeypatch):
    def broken(session: object) -> None:
        raise OSError("channel closed")

    monkeypatch.setattr(clockprobe.clock, "measure", broken)
    probe = clockprobe.ClockProbe(object()).start()
    assert probe.offset() is None
    probe.close()
