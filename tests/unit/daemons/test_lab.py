"""daemons.lab: the keeper's state, `lab down` and the exec prefix, without starting a lab."""

from __future__ import annotations

import pytest

from sockdeploy.daemons import lab
from sockdeploy.daemons.base import StateFile
from sockdeploy.errors import LabError
from tests.unit.daemons.fake import start_fake_daemon


@pytest.fixture(autouse=True)
def state_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def test_no_state_no_lab():
    assert lab.read_state() is None
    assert lab.down() is False


def test_a_running_keeper_is_reported_refuses_a_second_lab_and_stops_on_down():
    keeper = start_fake_daemon()
    try:
        StateFile(lab.state_file()).write({"pid": keeper.pid, "kind": "loopback", "status": "up"})
        assert lab.read_state() == {"pid": keeper.pid, "kind": "loopback", "status": "up", "running": True}
        with pytest.raises(LabError, match="already up"):
            lab.up()
        assert lab.down() is True
        assert keeper.wait(5) is not None
        assert lab.read_state() is None
    finally:
        keeper.kill()
        keeper.wait()


def test_a_dead_keeper_is_not_running():
    StateFile(lab.state_file()).write({"pid": 0, "kind": "loopback", "status": "up"})
    assert lab.read_state()["running"] is False  # type: ignore[index]
    assert lab.down() is True and not lab.state_file().exists()


def test_exec_prefix_enters_the_home_namespace_when_there_is_one():
    assert lab.exec_prefix({"home_ns": "sd-home"}) == ["ip", "netns", "exec", "sd-home"]
    assert lab.exec_prefix({"kind": "loopback"}) == []


def test_choose_kind_refuses_campus_where_it_cannot_run(mocker):
    mocker.patch("sockdeploy.lab.campus.campus_available", return_value=(False, "not root"))
    note = "campus lab unavailable (not root); using the loopback lab: no firewall, no VPN"
    assert lab.choose_kind("auto") == ("loopback", note)
    assert lab.choose_kind("loopback") == ("loopback", "")
    with pytest.raises(LabError, match="cannot start here: not root"):
        lab.choose_kind("campus")
