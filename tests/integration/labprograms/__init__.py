"""Small programs the campus tests run inside the lab's namespaces."""

from pathlib import Path

LAB_PROGRAMS = Path(__file__).resolve().parent


def program(name: str) -> str:
    """Return the path of the test program NAME (e.g. "probe.py")."""
    return str(LAB_PROGRAMS / name)
