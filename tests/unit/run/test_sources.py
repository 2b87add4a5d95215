"""The sources snapshot taken at run time."""

from __future__ import annotations

from sockdeploy.output.progress import Progress
from sockdeploy.run.sources import snapshot_sources

# -- the sources snapshot taken at run time ---------------------------------------------

def test_snapshot_copies_the_sources_and_the_run_reads_the_copies(tmp_path):
    from sockdeploy.spec import payload as payload_mod

    p = payload_mod.resolve("ex5")
    snap = snapshot_sources(p, tmp_path / "sources", Progress(quiet=True))
    assert sorted(f.name for f in snap.files) == sorted(f.name for f in p.files)
    assert all(f.path.parent == tmp_path / "sources" for f in snap.files)
    assert snap.checksums() == p.checksums() and snap.source_dir == p.source_dir


def test_a_nested_snapshot_keeps_paths_and_empty_folders(tmp_path):
    from sockdeploy.discover.payload import resolve_target
    from sockdeploy.run.sources import is_snapshot

    mine = tmp_path / "mine"
    (mine / "src").mkdir(parents=True)
    (mine / "obj").mkdir()
    (mine / "src" / "server.c").write_text("int main(void) { return 0; }\n")
    (mine / "src" / "client.c").write_text("int main(void) { return 1; }\n")
    (mine / "payload.yaml").write_text("server:\n  build: gcc -o server src/server.c\n  run: ./server\n"
                                       "client:\n  build: gcc -o client src/*.c\n  runs: [./client]\n")
    p = resolve_target(str(mine))
    snap = snapshot_sources(p, tmp_path / "sources", Progress(quiet=True))
    assert [f.name for f in snap.files] == ["src/client.c", "src/server.c"]
    assert (tmp_path / "sources" / "src" / "server.c").read_text() == "int main(void) { return 0; }\n"
    assert (tmp_path / "sources" / "obj").is_dir()
    assert snap.checksums() == p.checksums() and set(snap.checksums()) == {"src/client.c", "src/server.c"}
    assert is_snapshot(snap, tmp_path / "sources") and not is_snapshot(p, tmp_path / "sources")
