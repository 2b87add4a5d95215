"""Programs that sockdeploy runs on a host, shipped as package data (shell and Python files)."""

from __future__ import annotations

import sys
from functools import lru_cache

if sys.version_info >= (3, 9):
    from importlib.resources import files
else:  # pragma: no cover - requires-python is >=3.9
    raise ImportError("sockdeploy needs Python 3.9 or newer")


@lru_cache(maxsize=None)
def load(name: str) -> str:
    """Return the text of the shipped host program NAME (e.g. "lifeline.sh")."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
