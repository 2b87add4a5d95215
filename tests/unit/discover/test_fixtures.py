"""Discovery on the student-code fixtures: each folder's expected.yaml says what must be found."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml

from sockdeploy.discover.folder import discover
from sockdeploy.discover.manifest import report, to_manifest
from sockdeploy.discover.plan import make_plan
from sockdeploy.spec.payload import load_manifest

STUDENT = Path(__file__).resolve().parents[2] / "fixtures" / "student"
FOLDERS = sorted(p.parent for p in STUDENT.glob("*/expected.yaml"))


def expected(folder: Path) -> Dict[str, Any]:
    return yaml.safe_load((folder / "expected.yaml").read_text())


def plain_command(command: str) -> str:
    """The command without the stdin the fixture's author fed it by hand."""
    command = re.sub(r"^.*\|\s*", "", command)
    return re.sub(r"\s*<\s*/dev/null$", "", command)


def family_of(exp: Dict[str, Any]) -> Optional[str]:
    return exp.get("family") if exp.get("exercise") else None


def quit_runs(exp: Dict[str, Any]) -> List[bool]:
    return [("quit" in run.split()) for run in exp.get("runs", [])] or [False]


def test_there_are_fixtures_for_every_pattern() -> None:
    assert len(FOLDERS) >= 12


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_discovery_finds_what_the_fixture_says(folder: Path) -> None:
    exp = expected(folder)
    found = discover(folder, family_of(exp))
    assert found.server is not None and found.client is not None
    assert (str(found.server.path), str(found.client.path)) == (exp["server"], exp["client"])
    server, client = found.server, found.client
    assert server.protocol == exp["protocol"] and server.language == exp["language"]
    assert server.family == exp["family"] or (server.language == "python" and server.family is None)
    assert server.port_literals[:1] == ([exp["server_port_literal"]] if "server_port_literal" in exp else [])
    assert client.port_literals[:1] == ([exp["client_port_literal"]] if "client_port_literal" in exp else [])
    assert client.address_literals[:1] == ([exp["client_address_literal"]] if "client_address_literal" in exp else [])
    assert server.arg_meanings() == {int(k): v for k, v in (exp.get("server_args") or {}).items()}
    assert client.arg_meanings() == {int(k): v for k, v in (exp.get("client_args") or {}).items()}
    quit = exp.get("client_quit")
    assert client.quit_word == (quit["word"] if quit else None)
    if quit and quit["index"] is not None:
        assert client.quit_index == quit["index"]
    assert client.reads_stdin == exp.get("client_reads_stdin", False)
    if "makefile_targets" in exp:
        assert found.makefile is not None and found.makefile.targets == exp["makefile_targets"]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_the_plan_matches_how_the_programs_were_run_by_hand(folder: Path) -> None:
    exp = expected(folder)
    found = discover(folder, family_of(exp))
    plan = make_plan(found, quit_runs(exp), family_of(exp))
    assert plan.server_run == exp["server_run"]
    assert [step.command for step in plan.runs] == [plain_command(run) for run in exp["runs"]]
    assert plan.server_exits == exp["server_ends_after_quit"]
    if exp.get("client_reads_stdin"):
        assert any("--stdin" in item for item in plan.undecided)
    if "makefile_targets" in exp:
        assert plan.server_build == "make server" and plan.client_build == "make client"
    elif exp["language"] == "c":
        assert plan.server_build is not None and plan.server_build.split()[:3] == exp["build_server"].split()[:3]
        assert set(plan.server_build.split()[3:]) == set(exp["build_server"].split()[3:])


def test_several_versions_in_one_folder_pick_the_exercise_family() -> None:
    folder = STUDENT / "unix-and-inet"
    inet = discover(folder, "AF_INET")
    unix = discover(folder, "AF_UNIX")
    assert (str(inet.server.path), str(inet.client.path)) == ("server2.c", "client2.c")  # type: ignore[union-attr]
    assert (str(unix.server.path), str(unix.client.path)) == ("server.c", "client.c")  # type: ignore[union-attr]
    assert any("server.c" in r and "not AF_INET" in r for r in inet.reasons)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_the_written_payload_yaml_loads_as_a_manifest(folder: Path, tmp_path: Path) -> None:
    exp = expected(folder)
    found = discover(folder, family_of(exp))
    plan = make_plan(found, quit_runs(exp), family_of(exp))
    text = to_manifest(found, plan, f"{folder.name} as discovered")
    manifest = tmp_path / "payload.yaml"
    manifest.write_text(text)
    payload = load_manifest(manifest, source_dir=folder)
    assert payload.server.commands == (plan.server_run,)
    assert [r.command for r in payload.runs] == [s.command for s in plan.runs]
    printed = report(found, plan)
    assert "chosen:" in printed and f"  server run:   {plan.server_run}" in printed
    assert all(any(step.command in line for line in printed) for step in plan.runs)
