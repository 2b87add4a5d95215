"""What a run uploads from a payload folder: a tree within bounds, and build commands checked against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sockdeploy.errors import PayloadError
from sockdeploy.spec import sources
from sockdeploy.spec.payload import load_manifest
from sockdeploy.spec.sources import check_named_sources, glob_matches, read_tree

C = "int main(void) { return 0; }\n"


def tree_of(root: Path, files: dict) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def test_sources_keep_their_paths_and_every_folder_is_listed(tmp_path: Path) -> None:
    tree_of(tmp_path, {"makefile": "all:\n", "src/server.c": C, "src/net/util.c": C, "inc/util.h": "",
                       "src/payload.yaml": "kept: only the top one is the manifest\n", "payload.yaml": "server: {}\n"})
    (tmp_path / "obj").mkdir()  # empty, but a makefile writes its .o files there
    tree = read_tree(tmp_path)
    assert [f.name for f in tree.files] == ["inc/util.h", "makefile", "src/net/util.c", "src/payload.yaml", "src/server.c"]
    assert all(f.path == tmp_path / f.name for f in tree.files)
    assert tree.dirs == ("inc", "obj", "src", "src/net")  # parents before children


def test_hidden_caches_outputs_binaries_and_links_are_skipped(tmp_path: Path) -> None:
    tree_of(tmp_path, {"server.c": C, ".git/config": "", "src/.secret": "", "__pycache__/x.pyc": b"\0",
                       "src/__pycache__/y.pyc": b"\0", "runs/2024-ex5/sources/server.c": C, "venv/lib/site.py": "",
                       "src/server": b"\x7fELF\x02\x01\x01", "obj/server.o": b"\x7fELF\x02\x01\x01"})
    (tmp_path / "elsewhere.c").write_text(C)
    (tmp_path / "src" / "link.c").symlink_to(tmp_path / "elsewhere.c")
    (tmp_path / "linked-dir").symlink_to(tmp_path / "src")
    tree = read_tree(tmp_path)
    assert [f.name for f in tree.files] == ["elsewhere.c", "server.c"]
    assert tree.dirs == ("obj", "src")  # obj/ held only a build product: it is uploaded empty
    assert tree.links == ("linked-dir", "src/link.c")


def test_control_file_names_are_refused_at_the_top_only(tmp_path: Path) -> None:
    tree_of(tmp_path, {"server.c": C, "logs/server.log": "old\n", "old/server.pid": "1\n"})
    assert [f.name for f in read_tree(tmp_path).files] == ["logs/server.log", "old/server.pid", "server.c"]
    (tmp_path / "server.pid").write_text("0\n")
    with pytest.raises(PayloadError, match="sockdeploy keeps a file of this name"):
        read_tree(tmp_path)


def test_the_size_limit_is_checked_while_reading_and_names_the_biggest_files(tmp_path: Path) -> None:
    tree_of(tmp_path, {"server.c": C, "data/big.bin": b"x" * 3000, "data/small.bin": b"y" * 900})
    assert len(read_tree(tmp_path, max_bytes=4000).files) == 3
    with pytest.raises(PayloadError) as err:
        read_tree(tmp_path, max_bytes=3500)
    assert "more than 0.0 MiB (the upload limit)" in err.value.message
    assert "data/big.bin" in (err.value.hint or "") and "move big files elsewhere" in (err.value.hint or "")


def test_a_manifest_over_the_limit_is_refused_before_anything_is_contacted(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sources, "MAX_UPLOAD_BYTES", 1000)
    tree_of(tmp_path, {"payload.yaml": "server:\n  run: ./server\nclient:\n  runs: [./client]\n", "blob": b"z" * 2000})
    with pytest.raises(PayloadError, match="the upload limit"):
        load_manifest(tmp_path / "payload.yaml")


def test_too_many_entries_and_too_deep_folders_are_refused(tmp_path: Path, monkeypatch) -> None:
    deep = tmp_path / "deep" / "/".join(f"d{i}" for i in range(sources.MAX_DEPTH + 1))
    deep.mkdir(parents=True)
    with pytest.raises(PayloadError, match=f"nested more than {sources.MAX_DEPTH} deep"):
        read_tree(tmp_path / "deep")
    monkeypatch.setattr(sources, "MAX_ENTRIES", 5)
    tree_of(tmp_path / "many", {f"f{i}.c": C for i in range(6)})
    with pytest.raises(PayloadError) as err:
        read_tree(tmp_path / "many")
    assert "more than 5 files and folders" in err.value.message and "not a home folder" in (err.value.hint or "")


@pytest.mark.parametrize("pattern, expected", [
    ("*.c", ["client.c", "server.c"]),  # like sh: * stays in its folder
    ("src/*.c", ["src/common.c"]),
    ("*/*.c", ["src/common.c"]),
    ("[cs]*.c", ["client.c", "server.c"]),
    ("*.cpp", []),
])
def test_globs_match_as_the_shell_does(pattern: str, expected: list) -> None:
    assert glob_matches(pattern, ["client.c", "server.c", "src/common.c", "src/.hidden.c", "inc/common.h"]) == expected


def test_a_build_command_with_a_glob_is_accepted_when_it_matches(tmp_path: Path) -> None:
    names = ["server.c", "util.c", "src/extra.c"]
    check_named_sources(tmp_path, names, [("server.build", "gcc -o server *.c"),
                                          ("client.build", "gcc -o client src/*.c -Iinc")])
    with pytest.raises(PayloadError) as err:
        check_named_sources(tmp_path, names, [("client.build", "g++ -o client *.cpp")])
    assert err.value.message == f"*.cpp (named in client.build) matches no file uploaded from {tmp_path}"


def test_nested_names_in_a_build_command_are_checked(tmp_path: Path) -> None:
    check_named_sources(tmp_path, ["src/server.c"], [("server.build", "gcc -o server src/server.c -Iinc")])
    with pytest.raises(PayloadError, match="src/common.c \\(named in server.build\\) is missing"):
        check_named_sources(tmp_path, ["src/server.c"], [("server.build", "gcc -o server src/server.c src/common.c")])


def test_a_symlinked_source_is_named_as_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real.c").write_text(C)
    (tmp_path / "server.c").symlink_to(tmp_path / "real.c")
    (tmp_path / "lib").symlink_to(tmp_path)
    with pytest.raises(PayloadError) as err:
        check_named_sources(tmp_path, ["real.c"], [("server.build", "gcc -o server server.c")])
    assert err.value.message == "server.c is a symlink; symlinks are not uploaded (server.build names server.c)"
    assert "cp --remove-destination" in (err.value.hint or "")
    with pytest.raises(PayloadError, match="^lib is a symlink; symlinks are not uploaded"):
        check_named_sources(tmp_path, ["real.c"], [("server.build", "gcc -o server lib/real.c")])


def test_a_named_file_that_is_skipped_says_so(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "server.c").write_text(C)
    with pytest.raises(PayloadError, match="is in .* but is not uploaded"):
        check_named_sources(tmp_path, [], [("server.build", "gcc -o server runs/server.c")])
