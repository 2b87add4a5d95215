"""The snapshot of a payload's sources kept in the run folder."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from sockdeploy.output.progress import Progress
from sockdeploy.spec.payload import Payload

SOURCES_DIR = "sources"


def snapshot_sources(payload: Payload, dest: Path, progress: Progress) -> Payload:
    """Copy the payload's sources into `dest` and return the payload reading from the copies."""
    if not payload.files:
        return payload
    try:
        dest.mkdir()
        copies = []
        for f in payload.files:
            data = f.read_bytes()
            copy = dest / f.name
            copy.write_bytes(data)
            os.chmod(copy, 0o755 if f.stat().st_mode & 0o111 else 0o644)
            copies.append(copy)
    except OSError as exc:  # the run still works from the payload folder; only the snapshot is lost
        progress.info(f"warning: could not keep a copy of the sources in the run folder ({exc})")
        return payload
    return dataclasses.replace(payload, files=tuple(copies))
