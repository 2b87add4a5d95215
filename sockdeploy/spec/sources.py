"""The files of a payload folder that a run uploads: a tree of sources, each kept at its path in the folder."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional, Sequence, Tuple

from sockdeploy.errors import PayloadError

MANIFEST = "payload.yaml"
# Bounds on what one run uploads, checked while the folder is read, before anything is contacted.
MAX_UPLOAD_BYTES = 50 * 2**20  # all files together (a socket exercise's sources are a few KiB)
MAX_ENTRIES = 1000  # files and folders
MAX_DEPTH = 8  # folders below the payload folder
# Folders never uploaded: Python's byte-code caches, sockdeploy's own output (`--out runs` run from
# inside the folder would otherwise upload every earlier run) and virtual environments, which belong
# to this machine. Hidden entries (.git, .vscode) are skipped too.
SKIPPED_DIRS = frozenset({"__pycache__", "runs", "venv", "node_modules"})
# Files sockdeploy keeps in a remote run folder beside the sources: an upload may never supply one
# (a planted server.pid would make the watchdog signal whatever process group it names).
CONTROL_NAMES = frozenset({"server.pid", "client.pid", "lifeline.pid", "watchdog.pid", "server.log", "server.times",
                           "server.status", "log.closed", "server.cut"})
CONTROL_PIECE = re.compile(r"server\.(log|times)\.[0-9]+")  # the pieces of a capped server log (output/logcap.py)
_SOURCE_SUFFIXES = (".c", ".h", ".cc", ".cpp", ".hpp", ".py", ".s", ".S")
_GLOB_CHARS = frozenset("*?[")
_SKIPPED_SAID = "hidden entries, symlinks, compiled binaries, " + ", ".join(f"{d}/" for d in sorted(SKIPPED_DIRS))


@dataclass(frozen=True)
class Source:
    """One uploaded file: where it is on this machine, and its POSIX path relative to the payload folder."""

    path: Path
    name: str  # e.g. "src/server.c": where it lands in the run folder, and its key in run.json `sources`

    @property
    def executable(self) -> bool:
        return bool(self.path.stat().st_mode & 0o111)


@dataclass(frozen=True)
class SourceTree:
    """What a run uploads from one folder: its files, and every folder below it (empty ones too)."""

    files: Tuple[Source, ...]
    dirs: Tuple[str, ...] = ()  # relative POSIX paths, parents first: a makefile's empty obj/ exists there too
    links: Tuple[str, ...] = ()  # symlinks met (never followed, never uploaded), to name when a build needs one

    @property
    def size(self) -> int:
        return sum(f.path.stat().st_size for f in self.files)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class _Walk:
    """One reading of a payload folder, with its running totals against the bounds."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.files: List[Source] = []
        self.dirs: List[str] = []
        self.links: List[str] = []
        self.total = 0
        self.sizes: Dict[str, int] = {}  # for naming the biggest files when the limit is passed

    def entries(self, folder: Path) -> List[os.DirEntry]:
        try:
            with os.scandir(folder) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise PayloadError(f"{folder}: cannot read the folder: {exc.strerror or exc}",
                               "check its permissions, or move it out of the payload folder") from None

    def count(self) -> None:
        if len(self.files) + len(self.dirs) >= MAX_ENTRIES:
            raise PayloadError(f"{self.root} holds more than {MAX_ENTRIES} files and folders to upload",
                               "give the folder of one exercise's sources (not a home folder), or move the rest "
                               f"elsewhere; not uploaded: {_SKIPPED_SAID}")

    def walk(self, folder: Path, rel: PurePosixPath) -> None:
        depth = len(rel.parts)
        for entry in self.entries(folder):
            name = entry.name
            path = Path(entry.path)
            child = rel / name
            if name.startswith("."):
                continue
            if entry.is_symlink():
                self.links.append(str(child))
                continue
            if depth == 0 and name == MANIFEST:
                continue
            if entry.is_dir(follow_symlinks=False):
                if name in SKIPPED_DIRS:
                    continue
                if depth + 1 > MAX_DEPTH:
                    raise PayloadError(f"{path}: folders nested more than {MAX_DEPTH} deep",
                                       "a payload folder holds one exercise's sources; move the rest elsewhere")
                self.count()
                self.dirs.append(str(child))
                self.walk(path, child)
            elif entry.is_file(follow_symlinks=False):  # fifos, sockets and devices are never sources
                self.add_file(entry, path, child, depth)

    def add_file(self, entry: os.DirEntry, path: Path, rel: PurePosixPath, depth: int) -> None:
        if depth == 0 and (rel.name in CONTROL_NAMES or CONTROL_PIECE.fullmatch(rel.name)):
            raise PayloadError(f"{path}: sockdeploy keeps a file of this name in the run folder, so it cannot be uploaded",
                               "remove or rename it (it is not a source: a log or pid file left by an earlier test)")
        try:
            with open(path, "rb") as fh:
                if fh.read(4) == b"\x7fELF":  # a stale build product: rebuilt from source instead
                    return
            size = entry.stat(follow_symlinks=False).st_size
        except OSError as exc:
            raise PayloadError(f"{path}: cannot read: {exc.strerror or exc}",
                               "check the file's permissions, or move it out of the payload folder") from None
        self.count()
        self.total += size
        self.sizes[str(rel)] = size
        if self.total > self.max_bytes:
            biggest = sorted(self.sizes.items(), key=lambda kv: -kv[1])[:3]
            raise PayloadError(
                f"{self.root}: the files to upload come to more than {_mib(self.max_bytes)} (the upload limit)",
                "payload folders hold sources; move big files elsewhere (the largest: "
                + ", ".join(f"{n} {_mib(s)}" for n, s in biggest) + ")")
        self.files.append(Source(path=path, name=str(rel)))


def read_tree(directory: Path, *, max_bytes: Optional[int] = None) -> SourceTree:
    """Return what a run uploads from `directory`, walked recursively within the bounds.

    Skipped: hidden entries, symlinks (never followed), payload.yaml at the top,
    compiled binaries (ELF: rebuilt from source), SKIPPED_DIRS, anything not a
    regular file or folder. A file named like sockdeploy's own at the top is refused.
    """
    walk = _Walk(directory, MAX_UPLOAD_BYTES if max_bytes is None else max_bytes)
    walk.walk(directory, PurePosixPath())
    return SourceTree(files=tuple(walk.files), dirs=tuple(walk.dirs), links=tuple(walk.links))


def list_sources(directory: Path) -> List[Source]:
    """Return the files a run uploads from `directory` (see read_tree)."""
    return list(read_tree(directory).files)


# -- build commands naming sources --------------------------------------------------------

def mentioned_sources(build: Optional[str]) -> List[str]:
    """The words of a build command that name a source file (or a glob of them) in the payload folder."""
    if not build:
        return []
    try:
        words = shlex.split(build)
    except ValueError:
        return []
    return [w for w in words if w.endswith(_SOURCE_SUFFIXES) and not w.startswith(("-", "/", "~"))
            and "$" not in w and ".." not in PurePosixPath(w).parts]


def glob_matches(pattern: str, names: Sequence[str]) -> List[str]:
    """The names a shell glob matches: `*` stays within one folder and skips hidden names, as sh does."""
    want = PurePosixPath(pattern).parts
    found = []
    for name in names:
        parts = PurePosixPath(name).parts
        if len(parts) == len(want) and all(
                fnmatch.fnmatchcase(p, w) and not (p.startswith(".") and not w.startswith("."))
                for p, w in zip(parts, want)):
            found.append(name)
    return found


def _symlink_in(root: Path, rel: str) -> Optional[str]:
    """The first component of `rel` under `root` that is a symlink, as a relative path."""
    path = root
    for i, part in enumerate(PurePosixPath(rel).parts):
        path = path / part
        if path.is_symlink():
            return "/".join(PurePosixPath(rel).parts[:i + 1])
    return None


def symlink_error(link: str, src: Path, why: str = "", also: str = "") -> PayloadError:
    """The error for a symlink a build needs: it is never uploaded (it could point anywhere)."""
    return PayloadError(f"{link} is a symlink; symlinks are not uploaded" + (f" ({why})" if why else ""),
                        f"copy the file into {src} in place of the link: cp --remove-destination "
                        f"\"$(readlink -f {shlex.quote(link)})\" {shlex.quote(link)}" + also)


def check_named_sources(src: Path, names: Sequence[str], builds: Sequence[Tuple[str, Optional[str]]]) -> None:
    """Refuse build commands naming a source the upload lacks: (where, command) pairs, e.g. ("server.build", ...)."""
    have = set(names)
    for where_key, build in builds:
        for needed in mentioned_sources(build):
            if _GLOB_CHARS & set(needed):
                if not glob_matches(needed, names):
                    raise PayloadError(f"{needed} (named in {where_key}) matches no file uploaded from {src}",
                                       "add the sources the pattern stands for, or name the files in the build command; "
                                       f"not uploaded: {_SKIPPED_SAID}")
                continue
            if needed in have:
                continue
            link = _symlink_in(src, needed)
            if link is not None:
                raise symlink_error(link, src, f"{where_key} names {needed}")
            if (src / needed).is_file():
                raise PayloadError(f"{needed} (named in {where_key}) is in {src} but is not uploaded",
                                   f"not uploaded: {_SKIPPED_SAID}; move or rename it")
            raise PayloadError(f"{needed} (named in {where_key}) is missing from {src}",
                               "name your files as the build command expects, or add a payload.yaml with your own build commands")
