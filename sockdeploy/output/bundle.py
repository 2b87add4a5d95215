"""The submission zip: answers, every run folder, the exact sources that ran, and a sha256sum manifest."""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from sockdeploy.errors import SourceChanged, UsageError
from sockdeploy.output import answers as answers_mod
from sockdeploy.output.answers import RunInfo

MANIFEST = "MANIFEST.sha256"
# Fixed metadata makes the zip byte-for-byte reproducible from the same run folders.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644


@dataclass
class BundleResult:
    path: Path
    entries: List[str]  # the zip's file names, sorted
    runs: List[RunInfo]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verified_sources(run: RunInfo) -> List[Tuple[str, bytes]]:
    """Return (name, content) of each source that ran, checked against run.json's sha256 map.

    Reads the run folder's sources/ copy; for runs made before that copy
    existed, the payload folder named in run.json, which must be unchanged.
    """
    recorded = run.record.sources
    record_path = run.path / "run.json"
    if recorded is None:
        raise UsageError(f"{record_path}: no 'sources' checksums", "the run folder is damaged or too old; run the exercise again")
    for name in recorded:
        if not _relative_name(name):
            raise UsageError(f"{record_path}: bad source name {name!r} in 'sources'",
                             "the run folder is damaged; run the exercise again")
    snapshot = run.path / "sources"
    if snapshot.is_dir():
        base, where = snapshot, "the run folder's sources/"
        undo = "undo the edit to the run folder's copy"
        extra = sorted(name for name in _snapshot_files(snapshot) if name not in recorded)
        if extra:
            raise SourceChanged(f"{snapshot / extra[0]}: not among the sources that ran (run.json does not list it)",
                                f"remove it, or run {run.target} again with the sources you want to hand in")
    else:
        payload_dir = run.record.payload_dir
        if not payload_dir:
            raise UsageError(f"{run.path}: no sources/ folder and no payload_dir in run.json", "run the exercise again")
        base, where = Path(str(payload_dir)), "the payload folder"
        undo = "restore the file as it ran (e.g. git checkout)"
    out = []
    for name in sorted(recorded):
        path = base / name
        try:
            if _through_symlink(base, name) or not path.is_file():
                raise FileNotFoundError
            data = path.read_bytes()
        except OSError:
            raise SourceChanged(f"{path}: missing from {where} (run.json lists it as a source that ran)",
                                f"restore it, or run {run.target} again and bundle the new run folder") from None
        actual = _sha256(data)
        if actual != recorded[name]:
            raise SourceChanged(
                f"{path} was changed after the run (sha256 {actual[:12]}..., run.json recorded {recorded[name][:12]}...)",
                f"a submission holds only what ran: {undo}, or run {run.target} again and bundle that run folder")
        out.append((name, data))
    return out


def _relative_name(name: str) -> bool:
    """Whether `name` is a source's path relative to its folder: POSIX, downwards only."""
    parts = name.split("/")
    return bool(name) and "\\" not in name and all(p not in ("", ".", "..") for p in parts)


def _through_symlink(base: Path, name: str) -> bool:
    """Whether any component of base/name is a symlink (a planted link could point anywhere)."""
    path = base
    for part in name.split("/"):
        path = path / part
        if path.is_symlink():
            return True
    return False


def _snapshot_files(snapshot: Path) -> List[str]:
    """Every file under the run folder's sources/, as a relative POSIX path (folders themselves are not sources)."""
    names = []
    for root, dirs, files in os.walk(snapshot):
        rel = Path(root).relative_to(snapshot)
        names += [(rel / f).as_posix() for f in files]
        names += [(rel / d).as_posix() for d in dirs if (Path(root) / d).is_symlink()]  # a link is never a folder here
    return names


def _run_files(run: RunInfo) -> List[Tuple[str, bytes]]:
    """The run folder's own files (logs, transcript.md, run.json, timeline.txt), not its sources/."""
    files = []
    for p in sorted(run.path.iterdir()):
        if p.is_symlink() or not p.is_file() or p.name.endswith(".tmp"):
            continue
        try:
            files.append((p.name, p.read_bytes()))
        except OSError as exc:
            raise UsageError(f"{p}: cannot read: {exc.strerror or exc}", "check the file's permissions") from None
    return files


def manifest_line(digest: str, name: str) -> str:
    """One line of `sha256sum` output; names with a backslash or newline use its escaped form."""
    if "\\" in name or "\n" in name or "\r" in name:
        escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{digest}  {escaped}\n"
    return f"{digest}  {name}\n"


def bundle_entries(runs: Sequence[RunInfo], members: Sequence[str],
                   title: str = answers_mod.DEFAULT_TITLE) -> Dict[str, bytes]:
    """Return {path inside the submission: content}, MANIFEST.sha256 included; checks every source first."""
    md = answers_mod.render_markdown(runs, members, title)
    files: Dict[str, bytes] = {
        "answers.md": md.encode("utf-8"),
        "answers.html": answers_mod.render_html(md, title).encode("utf-8"),
    }
    used = set()
    for run in runs:
        sources = verified_sources(run)
        folder = run.path.name
        n = 2
        while folder in used:  # two run folders of one name, from different --out folders
            folder = f"{run.path.name}-{n}"
            n += 1
        used.add(folder)
        for name, data in _run_files(run):
            files[f"runs/{folder}/{name}"] = data
        for name, data in sources:
            files[f"runs/{folder}/sources/{name}"] = data
    files[MANIFEST] = "".join(manifest_line(_sha256(files[k]), k) for k in sorted(files)).encode("utf-8")
    return files


def write_bundle(runs: Sequence[RunInfo], members: Sequence[str], output: Path,
                 title: str = answers_mod.DEFAULT_TITLE) -> BundleResult:
    """Write the submission zip (sorted entries, fixed timestamps) under one top folder named after it."""
    output = Path(output)
    if output.is_dir():
        raise UsageError(f"{output}: is a folder", "pass a file name for the zip, e.g. -o submission.zip")
    stem = output.name[:-4] if output.name.lower().endswith(".zip") else output.name
    top = re.sub(r"[^A-Za-z0-9._-]+", "_", stem) or "submission"
    files = bundle_entries(runs, members, title)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{top}/{name}", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode below is honoured by unzip
            info.external_attr = FILE_MODE << 16
            zf.writestr(info, files[name])
    tmp = output.with_name(output.name + ".tmp")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, output)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write: {exc.strerror or exc}", "pass another path with -o") from None
    return BundleResult(output, sorted(f"{top}/{n}" for n in files), list(runs))
