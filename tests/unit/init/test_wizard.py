"""init carried out end to end, without contacting anything."""

from __future__ import annotations

import pytest

from sockdeploy.errors import UsageError
from sockdeploy.init import wizard
from tests.unit.init.helpers import plan


def test_carry_out_writes_and_loads_without_contacting_anything(home, tmp_path):
    out = tmp_path / "sub" / "hosts.yaml"
    cfg = wizard.carry_out(plan(members=("Ada",), via="direct"), out, force=False)
    assert cfg.path == out and cfg.group == ("Ada",) and cfg.network.via == "direct"
    with pytest.raises(UsageError):
        wizard.carry_out(plan(), out, force=False)
