"""The snapshot of a payload's sources kept in the run folder."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from sockdeploy.output.progress import Progress
from sockdeploy.spec.payload import Payload
from sockdeploy.spec.sources import Source

SOURCES_DIR = "sources"


def snapshot_sources(payload: Payload, dest: Path, progress: Progress) -> Payload:
    """Copy the payload's sources into `dest`, each at its relative path, and return the payload reading the copies."""
    if not payload.files:
        return payload
    try:
        dest.mkdir()
        for d in payload.dirs:  # parents come first; empty folders are kept, as they are uploaded
            (dest / d).mkdir()
        copies = []
        for f in payload.files:
            copy = dest / f.name
            shutil.copyfile(f.path, copy)  # in blocks: a big data file is never all in memory
            os.chmod(copy, 0o755 if f.executable else 0o644)
            copies.append(Source(path=copy, name=f.name))
    except OSError as exc:  # the run still works from the payload folder; only the snapshot is lost
        progress.info(f"warning: could not keep a copy of the sources in the run folder ({exc})")
        return payload
    return dataclasses.replace(payload, files=tuple(copies))


def is_snapshot(payload: Payload, dest: Path) -> bool:
    """Whether the payload reads its sources from the snapshot in `dest`."""
    return bool(payload.files) and all(dest in f.path.parents for f in payload.files)
