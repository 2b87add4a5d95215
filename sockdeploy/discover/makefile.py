"""Read a Makefile's targets: enough to know whether `make server` or plain `make` builds a program."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

NAMES = ("GNUmakefile", "makefile", "Makefile")  # the order GNU make looks for them
_RULE = re.compile(r"^([^\s#=:][^#=:]*?)\s*::?(?!=)")


@dataclass
class MakefileFacts:
    """A makefile's explicit targets, in the order they appear."""

    path: Path  # relative to the folder
    targets: List[str] = field(default_factory=list)

    @property
    def default(self) -> Optional[str]:
        """The target plain `make` builds."""
        return self.targets[0] if self.targets else None

    def target_for(self, name: str) -> Optional[str]:
        """The target that builds the program NAME, if one is named so."""
        return name if name in self.targets else None


def find_makefile(folder: Path) -> Optional[Path]:
    """Return the makefile GNU make would use in FOLDER."""
    for name in NAMES:
        candidate = folder / name
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    return None


def read_makefile(path: Path, rel: Path) -> MakefileFacts:
    """Return the explicit targets of the makefile at PATH (pattern and special targets left out)."""
    facts = MakefileFacts(path=rel)
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("\t"):
            continue
        m = _RULE.match(line)
        if not m:
            continue
        for target in m.group(1).split():
            if target.startswith(".") or "%" in target or "$" in target or target in facts.targets:
                continue
            facts.targets.append(target)
    return facts
