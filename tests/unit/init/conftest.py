"""Fixtures for init's tests: a fake HOME, so the real ~/.ssh is never read or written."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    """A fake HOME: the real ~/.ssh is never read or written."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return h
