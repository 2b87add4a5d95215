"""Progress lines: each step ends with ok, failed, or the word the step chose (a probe that got no answer: blocked)."""

from __future__ import annotations

import io

import pytest

from sockdeploy.output.progress import Progress


def test_a_step_says_ok_or_the_word_it_set_or_failed() -> None:
    out = io.StringIO()
    progress = Progress(out)
    with progress.step("connect"):
        pass
    with progress.step("probe 10.0.0.1:31000 from here") as shown:
        shown.set("blocked", False)
    with pytest.raises(RuntimeError), progress.step("build"):
        raise RuntimeError("x")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("  connect: ok (")
    assert lines[1].startswith("  probe 10.0.0.1:31000 from here: blocked (")
    assert lines[2].startswith("  build: failed (")
