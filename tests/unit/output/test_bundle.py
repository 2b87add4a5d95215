"""The submission zip: answers, run folders and the sources verified against run.json."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from sockdeploy.errors import SourceChanged, UsageError
from sockdeploy.output import answers, bundle
from tests.unit.output.test_answers import SERVER_C, make_run

# -- the submission zip ------------------------------------------------------------

def test_bundle_holds_answers_runs_and_verified_sources(tmp_path):
    a = make_run(tmp_path, "20261121T100000Z-ex5", "ex5", "2026-11-21T10:00:00Z", timeline="t\n")
    b = make_run(tmp_path, "20261121T100500Z-ex6", "ex6", "2026-11-21T10:05:00Z", snapshot=False)
    res = bundle.write_bundle(answers.collect([b, a]), ["Ada"], tmp_path / "submission.zip")
    with zipfile.ZipFile(res.path) as zf:
        names = zf.namelist()
        assert names == sorted(names) and all(n.startswith("submission/") for n in names)
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
        files = {n[len("submission/"):]: zf.read(n) for n in names}
    for run in (a, b):
        record = json.loads((run / "run.json").read_text())
        for fname, digest in record["sources"].items():
            assert hashlib.sha256(files[f"runs/{run.name}/sources/{fname}"]).hexdigest() == digest
        for log in ("server.log", "client-1.log", "run.json", "transcript.md"):
            assert files[f"runs/{run.name}/{log}"] == (run / log).read_bytes()
    assert b"## 1. Group members\n\n- Ada" in files["answers.md"] and b"<!DOCTYPE html>" in files["answers.html"]
    manifest = files["MANIFEST.sha256"].decode().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in manifest}
    assert set(listed) == set(files) - {"MANIFEST.sha256"}
    assert all(hashlib.sha256(files[n]).hexdigest() == h for n, h in listed.items())
    if shutil.which("sha256sum"):
        out = tmp_path / "unpacked"
        zipfile.ZipFile(res.path).extractall(out)
        check = subprocess.run(["sha256sum", "-c", "--strict", "MANIFEST.sha256"], cwd=out / "submission",
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_bundle_is_reproducible(tmp_path):
    a = make_run(tmp_path, "r1", "ex5", "2026-11-21T10:00:00Z")
    runs = answers.collect([a])
    one = bundle.write_bundle(runs, ["A"], tmp_path / "x" / "s.zip").path.read_bytes()
    two = bundle.write_bundle(runs, ["A"], tmp_path / "y" / "s.zip").path.read_bytes()
    assert one == two


@pytest.mark.parametrize("snapshot", [True, False])
def test_a_changed_source_is_refused(tmp_path, snapshot):
    d = make_run(tmp_path, "r1", "ex5", "2026-11-21T10:00:00Z", snapshot=snapshot)
    src = (d / "sources" if snapshot else Path(json.loads((d / "run.json").read_text())["payload_dir"])) / "server.c"
    src.write_bytes(SERVER_C + b"/* edited later */\n")
    with pytest.raises(SourceChanged) as info:
        bundle.write_bundle(answers.collect([d]), ["A"], tmp_path / "s.zip")
    assert info.value.exit_code == 2 and str(src) in info.value.message and "changed after the run" in info.value.message
    assert "ex5 again" in info.value.hint
    assert not (tmp_path / "s.zip").exists()


def test_a_missing_or_extra_source_is_refused(tmp_path):
    d = make_run(tmp_path, "r1", "ex5", "2026-11-21T10:00:00Z")
    (d / "sources" / "notes.c").write_text("added later")
    with pytest.raises(SourceChanged, match="not among the sources that ran"):
        bundle.verified_sources(answers.load_run(d))
    (d / "sources" / "notes.c").unlink()
    (d / "sources" / "client.c").unlink()
    with pytest.raises(SourceChanged, match="missing from"):
        bundle.verified_sources(answers.load_run(d))


def test_source_names_from_run_json_cannot_escape_the_zip_folder(tmp_path):
    d = make_run(tmp_path, "r1", "ex5", "2026-11-21T10:00:00Z")
    record = json.loads((d / "run.json").read_text())
    record["sources"] = {"../../etc/passwd": "0" * 64}
    (d / "run.json").write_text(json.dumps(record))
    with pytest.raises(UsageError, match="bad source name"):
        bundle.verified_sources(answers.load_run(d))


def test_manifest_lines_use_sha256sum_escapes():
    assert bundle.manifest_line("ab", "a b.c") == "ab  a b.c\n"
    assert bundle.manifest_line("ab", "a\\b\nc") == "\\ab  a\\\\b\\nc\n"


def test_nested_sources_are_bundled_at_their_paths_and_links_refused(tmp_path):
    d = make_run(tmp_path, "r1", "ex5", "2026-11-21T10:00:00Z")
    record = json.loads((d / "run.json").read_text())
    (d / "sources" / "src").mkdir()
    (d / "sources" / "obj").mkdir()  # an empty folder that was uploaded: not a source, not refused
    (d / "sources" / "src" / "util.c").write_bytes(b"int util;\n")
    record["sources"]["src/util.c"] = hashlib.sha256(b"int util;\n").hexdigest()
    (d / "run.json").write_text(json.dumps(record))
    files = bundle.bundle_entries(answers.collect([d]), ["A"])
    assert files["runs/r1/sources/src/util.c"] == b"int util;\n"
    for bad in ("/etc/passwd", "src/../../x", "src//util.c", "./util.c"):
        record["sources"] = {bad: "0" * 64}
        (d / "run.json").write_text(json.dumps(record))
        with pytest.raises(UsageError, match="bad source name"):
            bundle.verified_sources(answers.load_run(d))
    record["sources"] = {"src/util.c": hashlib.sha256(b"int util;\n").hexdigest()}
    (d / "run.json").write_text(json.dumps(record))
    for name in ("server.c", "client.c"):
        (d / "sources" / name).unlink()
    shutil.move(str(d / "sources" / "src"), str(tmp_path / "elsewhere"))
    (d / "sources" / "src").symlink_to(tmp_path / "elsewhere")  # the same bytes, behind a planted link
    with pytest.raises(SourceChanged, match="sources/src: not among the sources that ran"):
        bundle.verified_sources(answers.load_run(d))
