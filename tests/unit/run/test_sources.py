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
    assert all(f.parent == tmp_path / "sources" for f in snap.files)
    assert snap.checksums() == p.checksums() and snap.source_dir == p.source_dir
