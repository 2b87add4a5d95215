"""What a run may leave on a lab's server host: processes and folders inside its sockdeploy workdir."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List


def leftover_processes(workdir: Path) -> List[str]:
    """Return "PID COMMAND" for processes whose working directory is inside `workdir`."""
    found = []
    root = str(workdir)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if cwd.startswith(root):
            found.append(f"{pid} {cmd}")
    return found


def leftover_dirs(workdir: Path) -> List[str]:
    """Return the entries left in `workdir`, sorted (the redirect library's cache is kept on purpose)."""
    from sockdeploy.run.redirect import CACHE_NAME

    if not workdir.is_dir():
        return []
    return sorted(str(p) for p in workdir.iterdir() if p.name != CACHE_NAME)
