"""payload.yaml's checks: section: read, validated at its line, and applied only to someone's own programs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sockdeploy.errors import PayloadError
from sockdeploy.spec.checks import CHECK_NAMES, quit_runs_of
from sockdeploy.spec.payload import bundled_names, exercise_checks, load_manifest, resolve

BASE = """\
server:
  run: ./server {port}
client:
  runs:
    - ./client {ip} {port}
    - ./client {ip} {port} quit
checks:
"""


def make(tmp_path: Path, checks: str) -> Path:
    d = tmp_path / "own"
    d.mkdir(exist_ok=True)
    (d / "payload.yaml").write_text(BASE + checks)
    return d / "payload.yaml"


def test_a_students_own_payload_yaml_is_judged_by_its_checks(tmp_path):
    p = load_manifest(make(tmp_path, "  integers: true\n  quit: 418\n  ended: true\n"))
    assert p.checks is not None and p.checks.enabled == ("integers", "quit", "ended")
    assert p.checks.quit_code == 418 and p.checks.quit_runs == (False, True)
    assert p.checks.needs_wire and p.server_exits  # `ended` makes the run wait for the server's own end


@pytest.mark.parametrize("checks, line, fragment", [
    ("  integrs: true\n", 8, "did you mean 'integers'"),
    ("  quit: 4294967296\n", 8, "not an unsigned 32-bit integer"),
    ("  sent: 1\n", 8, "true or false"),
])
def test_a_mistake_names_its_line(tmp_path, checks, line, fragment):
    manifest = make(tmp_path, checks)
    with pytest.raises(PayloadError) as info:
        load_manifest(manifest)
    assert fragment in info.value.headline() + " " + (info.value.hint or "")
    assert info.value.headline().startswith(f"{manifest}:{line}:")


def test_a_plan_without_a_quit_run_still_loads(tmp_path):
    manifest = make(tmp_path, "  quit: true\n")
    manifest.write_text(manifest.read_text().replace("    - ./client {ip} {port} quit\n", ""))
    checks = load_manifest(manifest).checks
    assert checks is not None and checks.quit_runs == (False,)  # `quit` is then not judged


def test_the_bundled_programs_keep_their_expect_lines_and_anyone_elses_get_the_checks(tmp_path):
    bundled = resolve("ex5")
    assert bundled.checks is None and bundled.expect.server  # the reference programs: their own wording
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("server.c", "client.c"):
        (mine / name).write_text("int main(void) { return 0; }\n")
    theirs = resolve("ex5", str(mine))
    assert theirs.checks == exercise_checks("ex5") and theirs.expect.server == () and theirs.checks_skipped


def test_every_bundled_checks_section_is_valid():
    for name in bundled_names():
        checks = exercise_checks(name)
        if checks is not None:
            assert set(checks.enabled) <= set(CHECK_NAMES), name
            assert any(checks.quit_runs) or not {"quit", "ended"} & set(checks.enabled), name
    assert exercise_checks("ex5") is not None and exercise_checks("ex6") is not None
    assert exercise_checks("no/such") is None


def test_the_quit_run_is_the_one_saying_quit():
    assert quit_runs_of(["./client {ip}", "./client {ip} quit", "python3 c.py 'quit now'"]) == (False, True, False)
