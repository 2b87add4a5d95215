"""`sockdeploy batch`: grade many submissions at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

import click

from sockdeploy.cli import options
from sockdeploy.cli.console import confirm_fn, prompt_fn, report_error, say

if TYPE_CHECKING:  # the batch's modules load only when the command runs
    from sockdeploy.grading.rubric import Rubric
    from sockdeploy.grading.submission import Submission


@click.command("batch")
@click.argument("dirs", nargs=-1, required=True, metavar="DIR...", type=click.Path(file_okay=False))
@click.option("--exercise", metavar="TARGET", shell_complete=options.complete_targets,
              help="The plan to apply to every DIR (e.g. ex5), with its expectations; default: each DIR's own payload.yaml.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=4, show_default=True, help="Submissions run at once.")
@click.option("--connections", type=click.IntRange(1, 16), metavar="N",
              help="Most SSH logins per server host [default: the smaller of --jobs and 4].")
@click.option("--rubric", "rubric_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="YAML: the points of each check, and regexes over the logs; scores go to summary.json and summary.csv.")
@options.hosts("hosts.yaml to use; its servers: list spreads the batch over several hosts.")
@options.via("How the clients reach the servers (overrides network.via).")
@options.out("runs", "Where the batch folder (batch-<UTC>/) is created.")
@options.accept_new()
@options.as_json("Print the batch summary (summary.json), and only that, on stdout.")
@options.quiet("Print no progress and no table.")
def batch_cmd(dirs: Tuple[str, ...], exercise: Optional[str], jobs: int, connections: Optional[int],
              rubric_path: Optional[str], hosts_path: Optional[str], via: Optional[str], out: str, accept_new: bool,
              as_json: bool, quiet: bool) -> None:
    """Grade many submissions at once: the same exercise for each DIR, in parallel.

    Each DIR (one group's folder) gets its own run folder under
    --out/batch-<UTC>/, its own port and its own private remote directory.
    With --exercise, each DIR's programs are fitted to the exercise's steps
    and judged by its checks (built, listened, connected, sent, integers,
    quit, ended), whatever they print; their bytes go through the tunnel,
    which keeps them in wire.txt. Runs share at most --connections SSH
    logins per server host; a failing submission never stops or touches
    another. Then a table (passed, checks failed, build failed, ...),
    summary.json and summary.csv (group, points, comment).
    Exit 0 if every submission passed, 6 if some failed, 3 or 5 if some
    could not be graded (SSH or network), 130 if stopped with Ctrl-C.

    \b
    Example:
      sockdeploy batch submissions/* --exercise ex5 -j 4
      sockdeploy batch submissions/* --exercise ex5 --rubric rubric.yaml
      sockdeploy batch submissions/* --exercise ex5 --hosts lab-machines.yaml --connections 2 --json
    """
    from sockdeploy.grading import grader as grading
    from sockdeploy.spec import hosts as config_mod

    submissions = grading.plan_submissions(dirs, exercise)
    rubric = _rubric(rubric_path, submissions, exercise)
    cfg = None
    if any(s.remote for s in submissions) or hosts_path:
        cfg = config_mod.load_config(hosts_path)
    opts = grading.GradingOptions(jobs=jobs, connections=connections, out=Path(out), via=via, accept_new=accept_new,
                                  confirm=confirm_fn(), prompt=prompt_fn(), rubric=rubric)
    progress = grading.BatchProgress(len(submissions), quiet=quiet)
    if not quiet:
        plan = exercise or "their own payload.yaml"
        if any(s.remote for s in submissions) and cfg is not None:
            say(f"grading {len(submissions)} submission(s) with {plan} on {', '.join(s.host for s in cfg.server_hosts)}: "
                f"{jobs} at once, at most {opts.connection_cap} SSH login(s) per server host")
        else:
            say(f"grading {len(submissions)} submission(s) with {plan} on this machine: {jobs} at once")
        if via is None and any(s.payload is not None and grading.path_for(s.payload, None) == "tunnel"
                               for s in submissions):
            say("the clients go through the tunnel: the checks read every byte they send (kept in wire.txt); "
                "--via decides otherwise")
    result = grading.Grader(submissions, cfg, opts, progress).grade()
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    if not quiet:
        say("\nsummary:")
        say(result.table())
        counts = ", ".join(f"{n} {v}" for v, n in result.counts().items())
        say(f"{counts}; {result.logins} SSH login(s); batch folder: {result.folder} (summary.csv: the points)")
    if result.interrupted is not None:
        report_error(result.interrupted)
    raise click.exceptions.Exit(result.exit_code)


def _rubric(path: Optional[str], submissions: Sequence[Submission], exercise: Optional[str]) -> Optional[Rubric]:
    """Load --rubric and refuse a check no submission's plan judges, before anything is contacted."""
    if path is None:
        return None
    from sockdeploy.grading.rubric import load_rubric, require_judged

    rubric = load_rubric(Path(path))
    judged: List[str] = []
    for sub in submissions:
        checks = sub.payload.checks if sub.payload is not None else None
        judged += [name for name in (checks.enabled if checks else ()) if name not in judged]
    require_judged(rubric, judged, exercise or "the submissions' payload.yaml")
    return rubric
