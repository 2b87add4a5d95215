"""The `invoke` fixture: `sockdeploy ARGS` in-process, in a private folder, stdout and stderr apart."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from click.testing import Result

from sockdeploy.cli.app import cli
from tests.unit.cli.support import make_runner


@pytest.fixture
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run `sockdeploy ARGS` in-process from an empty folder, with private config and state folders."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")  # tables wrap to the terminal; these tests read whole cells
    (tmp_path / "home").mkdir()

    def call(*args: str, input: str = "") -> Result:
        return make_runner().invoke(cli, list(args), input=input, catch_exceptions=False)

    return call
