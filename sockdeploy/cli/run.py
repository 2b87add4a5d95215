"""`sockdeploy run`, `demo` and `payloads`: run exercises, on the configured hosts or on a built-in lab."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import click

from sockdeploy.cli import options
from sockdeploy.cli.answers import write_batch_answers
from sockdeploy.cli.console import confirm_fn, prompt_fn, report_error, say
from sockdeploy.errors import ProgramError, SockdeployError
from sockdeploy.output.progress import Progress
from sockdeploy.output.table import render_table
from sockdeploy.spec import hosts as config_mod
from sockdeploy.spec import payload as payload_mod
from sockdeploy.spec.hosts import Config
from sockdeploy.spec.payload import Payload


@click.command()
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...", shell_complete=options.complete_targets)
@click.option("--payload", "payload_dir", metavar="DIR", help="Run your own sources in DIR with TARGET's plan.")
@options.hosts()
@options.via("How the client reaches the server (overrides network.via).")
@click.option("--port", type=options.PORT_RANGE, help="Pin the server's port instead of choosing a free one.")
@click.option("--local", is_flag=True, help="Run both programs on this machine.")
@options.out("runs", "Where run folders are created.")
@options.accept_new()
@click.option("--keep-remote", is_flag=True, help="Keep the remote run directory (marked: no later run removes it).")
@click.option("--stdin", "stdin_text", metavar="TEXT",
              help="Feed TEXT (then end of file) to each client run that has no stdin of its own.")
@options.as_json("Print run.json (a list of them for several targets), and only that, on stdout.")
@options.quiet()
@options.verbose()
@options.members("A group member, for the answers.md of several targets (repeat for each; adds to group: in hosts.yaml).")
@click.option("--dry-run", is_flag=True, help="Contact nothing; print the commands you would type to do this run by hand.")
def run(targets: Tuple[str, ...], payload_dir: Optional[str], hosts_path: Optional[str], via: Optional[str], port: Optional[int],
        local: bool, out: str, accept_new: bool, keep_remote: bool, stdin_text: Optional[str],
        as_json: bool, quiet: bool, verbose: bool,
        members: Tuple[str, ...], dry_run: bool) -> None:
    """Deploy, build and run each TARGET (ex1..ex6, a bundled payload, or a payload folder).

    Several targets run in turn with the same options, one run folder each and
    one SSH login for all; a failed target does not stop the rest (the exit
    code is the first failure's). Then a summary, and answers.md and
    answers.html for the batch in --out.

    \b
    Examples:
      sockdeploy run ex5
      sockdeploy run ex5 --payload ~/studio/inet   # your server.c and client.c
      sockdeploy run ./my-payload --port 31522
      sockdeploy run ex1 ex2 ex3 ex4 ex5 ex6 --member "Ada Lovelace" --member "Alan Turing"
      sockdeploy run ex5 --dry-run                 # what it would do, as commands to type
    """
    from sockdeploy.discover.payload import resolve_target
    from sockdeploy.run import targets as batch_mod
    from sockdeploy.run.runner import RunOptions

    # Every target is checked before any runs: a typo in the last one should not wait for the others.
    payloads = [resolve_target(target, payload_dir) for target in targets]
    if dry_run:
        _dry_run(payloads, hosts_path, via, port, local)
        return
    cfg = _config_for(payloads, hosts_path, local)
    progress = Progress(quiet=quiet, verbose=verbose)
    if cfg is not None and cfg.path is not None:
        progress.info(f"hosts.yaml: {cfg.path}")  # which one, when several could apply
    opts = RunOptions(out=Path(out), via=via, port=port, local=local, accept_new=accept_new, keep_remote=keep_remote,
                      stdin=_stdin_text(stdin_text),
                      confirm=confirm_fn(), prompt=prompt_fn())
    several = len(payloads) > 1

    def on_result(outcome: batch_mod.TargetOutcome) -> None:
        if several and outcome.error is not None:
            report_error(outcome.error)  # now, not after the rest have run

    batch = batch_mod.run_targets(payloads, cfg, opts, progress, on_result=on_result)
    records = batch_mod.records(batch)
    if as_json:
        click.echo(json.dumps(records if several else records[0], indent=2))
    if not several:
        result = batch.outcomes[0].result
        assert result is not None
        if result.error is not None:
            raise result.error
        if not as_json and not quiet:
            say(f"run folder: {result.folder.path}")
            say(f"transcript: {result.folder.path / 'transcript.md'}")
        return
    if not quiet:
        say("\nsummary:")
        say(render_table(batch_mod.summary_rows(batch), ["target", "result", "run folder"]))
    write_batch_answers(batch, cfg, members, Path(out))
    raise click.exceptions.Exit(batch.exit_code)


def _config_for(payloads: List[Payload], hosts_path: Optional[str], local: bool) -> Optional[Config]:
    """Return the hosts.yaml the runs need: required for a remote one or --hosts, else the one there is, if any."""
    if any(not (p.local or local) for p in payloads) or hosts_path:
        return config_mod.load_config(hosts_path)
    return optional_config()  # its client.host may be a Pi over SSH, where local exercises then run


def optional_config() -> Optional[Config]:
    """Load hosts.yaml if there is one (errors in it are still errors); None when there is none."""
    try:
        path = config_mod.find_hosts_file(None)
    except SockdeployError:
        return None
    return config_mod.parse_config(path)


def _dry_run(payloads: List[Payload], hosts_path: Optional[str], via: Optional[str], port: Optional[int], local: bool) -> None:
    """Print each target's manual steps; read hosts.yaml if there is one, contact nothing."""
    from sockdeploy.run import dryrun
    # without a hosts.yaml the steps show placeholders
    cfg = config_mod.load_config(hosts_path) if hosts_path else optional_config()
    for i, payload in enumerate(payloads):
        if i:
            click.echo("")
        click.echo(dryrun.render_plan(dryrun.plan(payload, cfg, via=via, port=port, local=local), payload, cfg), nl=False)


@click.command()
@options.out("runs", "Where run folders are created.")
@click.option("--kind", type=click.Choice(["auto", "campus", "loopback"]), default="auto", show_default=True,
              help="campus (root): the Pi off campus, through the tunnel; loopback: sshd on 127.0.0.1.")
@options.quiet()
@options.verbose()
def demo(out: str, kind: str, quiet: bool, verbose: bool) -> None:
    """Run exercises 5 and 6 on a built-in lab and print both transcripts; no account needed.

    As root, the campus lab puts the "Pi" off campus behind a firewall, so the
    run takes the SSH tunnel; otherwise a throwaway sshd on loopback serves.

    \b
    Example:
      sockdeploy demo
    """
    from sockdeploy.daemons import lab as labd

    progress = Progress(quiet=quiet, verbose=verbose)
    chosen, note = labd.choose_kind(kind)
    if note:
        progress.info(f"note: {note}")
    failed = _demo_campus(Path(out), progress) if chosen == "campus" else _demo_loopback(Path(out), progress)
    if failed is not None:
        raise failed


def _demo_loopback(out: Path, progress: Progress) -> Optional[SockdeployError]:
    """Run ex5 and ex6 against a throwaway sshd on loopback; return the first failure."""
    from sockdeploy.lab.loopback import LoopbackLab
    from sockdeploy.run.runner import RunOptions, run_payload
    with LoopbackLab() as lab:
        progress.info(f"lab: sshd on 127.0.0.1:{lab.port} (folder {lab.dir})")
        cfg = config_mod.load_config(str(lab.hosts_file))
        for target in ("ex5", "ex6"):
            progress.info(f"--- sockdeploy run {target} (on the loopback lab) ---")
            result = run_payload(payload_mod.resolve(target), cfg, RunOptions(out=out), progress)
            click.echo((result.folder.path / "transcript.md").read_text())
            if result.error is not None:
                return result.error
        progress.info(f"SSH logins seen by the lab's sshd: {lab.login_count()} (one per run)")
    return None


def _demo_campus(out: Path, progress: Progress) -> Optional[SockdeployError]:
    """Run ex5 and ex6 as the Pi off campus (a namespace behind the campus firewall); return the first failure."""
    from sockdeploy.lab.campus import CampusLab
    from sockdeploy.run.record import RunRecord

    out = out.resolve()
    with CampusLab() as lab:
        hosts = lab.write_hosts("auto")
        progress.info(f"campus lab: login host {lab.server_name} ({lab.server_ip}) behind a firewall; "
                      f"this run plays the Pi in namespace {lab.home_ns}, off campus without the VPN")
        for target in ("ex5", "ex6"):
            progress.info(f"--- sockdeploy run {target} --via auto (on the Pi) ---")
            argv = [sys.executable, "-m", "sockdeploy", "run", target, "--hosts", str(hosts), "--out", str(out), "--json"]
            proc = lab.home(argv, capture_output=False, stdout=subprocess.PIPE, text=True)
            try:
                record = RunRecord.from_json(json.loads(proc.stdout))
            except ValueError:
                return ProgramError(f"the demo run of {target} printed no result (exit {proc.returncode})",
                                    "run it again with -v")
            click.echo(Path(str(record.run_dir), "transcript.md").read_text())
            if not record.ok:
                err = record.error
                return ProgramError(err.message if err else "the demo run failed", err.hint if err else None)
        progress.info(f"SSH logins seen by the login host's sshd: {lab.login_count()} (one per run)")
    return None


@click.command("payloads")
@options.as_json("Print the payloads as JSON (name, hosts, description, origin or error).")
def payloads_cmd(as_json: bool) -> None:
    """List the bundled exercises and payloads.

    \b
    Example:
      sockdeploy payloads
    """
    listing = []
    for name in payload_mod.bundled_names():
        try:
            p = payload_mod.resolve(name)
            listing.append({"name": name, "hosts": 1 if p.local else 2, "description": p.description, "origin": p.origin})
        except SockdeployError as err:
            listing.append({"name": name, "error": err.headline()})
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    for item in listing:
        if "error" in item:
            click.echo(f"{item['name']:<14} broken: {item['error']}")
        else:
            where = "one host" if item["hosts"] == 1 else "two hosts"
            click.echo(f"{item['name']:<14} {where:<9}  {item['description']}  [{item['origin']}]")


def _stdin_text(text: Optional[str]) -> Optional[str]:
    """--stdin TEXT as a client would get it typed: ending with a newline."""
    if text is None:
        return None
    return text if text.endswith("\n") else text + "\n"
