"""`sockdeploy report` and `bundle`: the studio's answers and the submission zip, from run folders."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Tuple

import click

from sockdeploy.cli import options
from sockdeploy.cli.console import report_error, say
from sockdeploy.errors import SockdeployError
from sockdeploy.output import answers as answers_mod
from sockdeploy.spec.hosts import Config

if TYPE_CHECKING:  # the run machinery loads only when a command runs
    from sockdeploy.run.targets import BatchResult

_HOSTS_HELP = "hosts.yaml whose group: list names the members (default ./hosts.yaml, then ~/.config/sockdeploy/, if any)."
_TITLE_HELP = "The answers' title."
_OLD_OUT = ("-o", "--output")
_FAILED_HELP = "Include runs that failed (shown as FAILED); without it a failed run is refused."


def _answer_inputs(run_dirs: Tuple[str, ...], members: Tuple[str, ...], hosts_path: Optional[str],
                   include_failed: bool) -> Tuple[List[answers_mod.RunInfo], List[str]]:
    """Load the run folders (in the order they started) and the group members' names."""
    runs = answers_mod.collect(Path(d) for d in run_dirs)
    if not include_failed:
        answers_mod.refuse_failed(runs)
    return runs, answers_mod.group_members(members, answers_mod.load_group_config(hosts_path))


def _note_no_members(names: List[str]) -> None:
    if not names:
        say("note: answer 1 lists no group members; pass --member NAME or add group: to hosts.yaml")


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@options.out("answers.md", "Where to write the markdown; the HTML goes beside it (.html).", metavar="PATH", old_names=_OLD_OUT)
@options.members()
@options.hosts(_HOSTS_HELP)
@click.option("--title", default=answers_mod.DEFAULT_TITLE, show_default=True, help=_TITLE_HELP)
@click.option("--include-failed", is_flag=True, help=_FAILED_HELP)
@options.as_json('Print {"markdown": PATH, "html": PATH}, and only that, on stdout.')
def report(run_dirs: Tuple[str, ...], out: str, members: Tuple[str, ...], hosts_path: Optional[str], title: str,
           include_failed: bool, as_json: bool) -> None:
    """Write the studio's answers from run folders: answers.md and a printable answers.html.

    Answer 1 lists every group member; then one numbered answer per run folder,
    in the order the runs started, with the commands, the host each ran on and
    both terminals' output (server first, then each client run).

    \b
    Example:
      sockdeploy report runs/*-ex5 runs/*-ex6 --member "Ada Lovelace" --member "Alan Turing"
    """
    runs, names = _answer_inputs(run_dirs, members, hosts_path, include_failed)
    md, page = answers_mod.write_answers(runs, names, Path(out), title)
    _note_no_members(names)
    if as_json:
        click.echo(json.dumps({"markdown": str(md), "html": str(page)}, indent=2))
    say(f"answers: {md}")
    say(f"         {page}")


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@options.out("submission.zip", "The zip to write.", metavar="PATH", old_names=_OLD_OUT)
@options.members()
@options.hosts(_HOSTS_HELP)
@click.option("--title", default=answers_mod.DEFAULT_TITLE, show_default=True, help=_TITLE_HELP)
@click.option("--include-failed", is_flag=True, help=_FAILED_HELP)
@options.as_json('Print {"zip": PATH, "runs": N, "entries": [...]}, and only that, on stdout.')
def bundle(run_dirs: Tuple[str, ...], out: str, members: Tuple[str, ...], hosts_path: Optional[str], title: str,
           include_failed: bool, as_json: bool) -> None:
    """Pack a submission: answers, run folders and the exact sources that ran, with MANIFEST.sha256.

    Every source is checked against the sha256 its run.json recorded; a file
    changed since the run is refused (exit 2). The zip is reproducible: sorted
    entries, fixed timestamps.

    \b
    Example:
      sockdeploy bundle runs/*-ex5 runs/*-ex6 --member "Ada Lovelace" --out submission.zip
      unzip submission.zip && cd submission && sha256sum -c MANIFEST.sha256
    """
    from sockdeploy.output import bundle as bundle_mod

    runs, names = _answer_inputs(run_dirs, members, hosts_path, include_failed)
    result = bundle_mod.write_bundle(runs, names, Path(out), title)
    _note_no_members(names)
    if as_json:
        click.echo(json.dumps({"zip": str(result.path), "runs": len(result.runs), "entries": result.entries}, indent=2))
    top = result.entries[0].split("/", 1)[0]
    say(f"submission: {result.path} ({len(result.runs)} run(s), {len(result.entries)} files)")
    say(f"check it with: unzip {result.path.name} && cd {top} && sha256sum -c {bundle_mod.MANIFEST}")


def write_batch_answers(batch: BatchResult, cfg: Optional[Config], members: Tuple[str, ...], out: Path) -> None:
    """Write answers-<UTC>.md/.html for the runs of `sockdeploy run` with several targets into `out`.

    A failure here is reported, and decides the exit code only when every run passed.
    """
    if cfg is None:
        try:
            cfg = answers_mod.load_group_config(None)
        except SockdeployError as err:  # the runs needed no hosts.yaml; its group list is a nicety here
            say(f"note: group members from hosts.yaml not used: {err.headline()}")
    names = answers_mod.group_members(members, cfg)
    try:
        runs = answers_mod.collect(batch.folders())
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        md, page = answers_mod.write_answers(runs, names, out.expanduser().resolve() / f"answers-{stamp}.md")
    except SockdeployError as err:
        if not batch.exit_code:
            raise
        report_error(err)
        return
    _note_no_members(names)
    say(f"answers: {md}")
    say(f"         {page}")
