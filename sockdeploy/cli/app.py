"""Command line: thin commands over the library; the only place that maps errors to exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import click

from sockdeploy import __version__
from sockdeploy.errors import LabError, SockdeployError, Terminated
from sockdeploy.output.table import render_table

EXIT_CODES = """\b
Exit codes: 0 ok, 2 config/usage, 3 SSH connection/authentication/host key,
4 build, 5 network path, 6 the programs failed or timed out, 7 lab,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM)."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated("terminated (SIGTERM)", "partial transcripts are kept in the run folder")


def report_error(err: SockdeployError) -> None:
    """Print an error as what + how to fix, after any program output it carries."""
    if err.output:
        if err.command:
            click.echo(f"$ {err.command}", err=True)
        click.echo(err.output.rstrip("\n"), err=True)
    from sockdeploy.output.progress import use_color

    color = use_color(sys.stderr)
    label = click.style("error:", fg="red", bold=True) if color else "error:"
    click.echo(f"sockdeploy: {label} {err.headline()}", err=True, color=color)
    if err.hint:
        hint = click.style("hint:", fg="yellow") if color else "hint:"
        click.echo(f"  {hint} {err.hint}", err=True, color=color)


def _fail(err: SockdeployError) -> click.exceptions.Exit:
    report_error(err)
    return click.exceptions.Exit(err.exit_code)


def _confirm_fn() -> Optional[Callable[[str], bool]]:
    if sys.stdin.isatty():
        from sockdeploy.ssh.session import terminal_confirm

        return terminal_confirm
    return None


def _prompt_fn() -> Optional[Callable[[str, bool], str]]:
    if sys.stdin.isatty():
        from sockdeploy.ssh.session import terminal_prompt

        return terminal_prompt
    return None


def _complete_targets(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> List[Any]:
    """Offer bundled payload names, then folders, for TARGET."""
    from click.shell_completion import CompletionItem

    from sockdeploy.spec.payload import bundled_names

    names = [CompletionItem(n) for n in bundled_names() if n.startswith(incomplete)]
    return names or [CompletionItem(incomplete, type="dir")]


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="sockdeploy")
def cli() -> None:
    """Run a client/server socket exercise across two hosts with one command.

    \b
    Example:
      sockdeploy run ex5            # server on the login host, client here
      sockdeploy demo               # the same on a built-in loopback lab
    """


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...", shell_complete=_complete_targets)
@click.option("--payload", "payload_dir", metavar="DIR", help="Run your own sources in DIR with TARGET's plan.")
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml to use (default ./hosts.yaml, then ~/.config/sockdeploy/).")
@click.option("--via", type=click.Choice(["auto", "direct", "tunnel", "vpn"]), help="How the client reaches the server (overrides network.via).")
@click.option("--port", type=click.IntRange(1024, 65535), help="Pin the server's port instead of choosing a free one.")
@click.option("--local", is_flag=True, help="Run both programs on this machine.")
@click.option("--out", default="runs", show_default=True, metavar="DIR", help="Where run folders are created.")
@click.option("--accept-new", is_flag=True, help="Store an unknown host key (a changed key is still refused).")
@click.option("--keep-remote", is_flag=True, help="Keep the remote run directory for inspection.")
@click.option("--json", "as_json", is_flag=True, help="Print run.json (a list of them for several targets), and only that, on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print no progress.")
@click.option("-v", "--verbose", is_flag=True, help="Print more detail.")
@click.option("--member", "members", multiple=True, metavar="NAME",
              help="A group member, for the answers.md of several targets (repeat for each; adds to group: in hosts.yaml).")
@click.option("--dry-run", is_flag=True, help="Contact nothing; print the commands you would type to do this run by hand.")
def run(targets: Tuple[str, ...], payload_dir: Optional[str], hosts_path: Optional[str], via: Optional[str], port: Optional[int],
        local: bool, out: str, accept_new: bool, keep_remote: bool, as_json: bool, quiet: bool, verbose: bool,
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
    from sockdeploy.output.progress import Progress
    from sockdeploy.run import targets as batch_mod
    from sockdeploy.run.runner import RunOptions
    from sockdeploy.spec import hosts as config_mod
    from sockdeploy.spec import payload as payload_mod

    try:
        # Every target is checked before any runs: a typo in the last one should not wait for the others.
        payloads = [payload_mod.resolve(target, payload_dir) for target in targets]
        cfg = None
        if dry_run:
            _dry_run(payloads, hosts_path, via, port, local)
            return
        if any(not (p.local or local) for p in payloads) or hosts_path:
            cfg = config_mod.load_config(hosts_path)
        else:
            cfg = _optional_config()  # its client.host may be a Pi over SSH, where local exercises then run
    except SockdeployError as err:
        raise _fail(err)
    progress = Progress(quiet=quiet, verbose=verbose)
    opts = RunOptions(out=Path(out), via=via, port=port, local=local, accept_new=accept_new, keep_remote=keep_remote,
                      confirm=_confirm_fn(), prompt=_prompt_fn())
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
            raise _fail(result.error)
        if not as_json and not quiet:
            click.echo(f"run folder: {result.folder.path}", err=True)
            click.echo(f"transcript: {result.folder.path / 'transcript.md'}", err=True)
        return
    _batch_answers(batch, cfg, members, Path(out), quiet)
    raise click.exceptions.Exit(batch.exit_code)


@cli.command("batch")
@click.argument("dirs", nargs=-1, required=True, metavar="DIR...", type=click.Path(file_okay=False))
@click.option("--exercise", metavar="TARGET", shell_complete=_complete_targets,
              help="The plan to apply to every DIR (e.g. ex5), with its expectations; default: each DIR's own payload.yaml.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=4, show_default=True, help="Submissions run at once.")
@click.option("--connections", type=click.IntRange(1, 16), metavar="N",
              help="Most SSH logins per server host [default: the smaller of --jobs and 4].")
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml to use; its servers: list spreads the batch over several hosts.")
@click.option("--via", type=click.Choice(["auto", "direct", "tunnel", "vpn"]), help="How the clients reach the servers (overrides network.via).")
@click.option("--out", default="runs", show_default=True, metavar="DIR", help="Where the batch folder (batch-<UTC>/) is created.")
@click.option("--accept-new", is_flag=True, help="Store an unknown host key (a changed key is still refused).")
@click.option("--json", "as_json", is_flag=True, help="Print the batch summary (summary.json), and only that, on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print no progress and no table.")
def batch_cmd(dirs: Tuple[str, ...], exercise: Optional[str], jobs: int, connections: Optional[int], hosts_path: Optional[str],
              via: Optional[str], out: str, accept_new: bool, as_json: bool, quiet: bool) -> None:
    """Grade many submissions at once: the same exercise for each DIR, in parallel.

    Each DIR (one group's folder) gets its own run folder under
    --out/batch-<UTC>/, its own port and its own private remote directory.
    Runs share at most --connections SSH logins per server host; a failing
    submission never stops or touches another. Then a table (passed,
    expectations failed, build failed, timed out, ...) and summary.json.
    Exit 0 if every submission passed, 6 if some failed, 3 or 5 if some
    could not be graded (SSH or network), 130 if stopped with Ctrl-C.

    \b
    Example:
      sockdeploy batch submissions/* --exercise ex5 -j 4
      sockdeploy batch submissions/* --exercise ex5 --hosts lab-machines.yaml --connections 2 --json
    """
    from sockdeploy.grading import grader as grading
    from sockdeploy.spec import hosts as config_mod

    try:
        submissions = grading.plan_submissions(dirs, exercise)
        cfg = None
        if any(s.remote for s in submissions) or hosts_path:
            cfg = config_mod.load_config(hosts_path)
    except SockdeployError as err:
        raise _fail(err)
    opts = grading.GradingOptions(jobs=jobs, connections=connections, out=Path(out), via=via, accept_new=accept_new,
                                  confirm=_confirm_fn(), prompt=_prompt_fn())
    progress = grading.BatchProgress(len(submissions), quiet=quiet)
    if not quiet:
        plan = exercise or "their own payload.yaml"
        if any(s.remote for s in submissions) and cfg is not None:
            click.echo(f"grading {len(submissions)} submission(s) with {plan} on {', '.join(s.host for s in cfg.server_hosts)}: "
                       f"{jobs} at once, at most {opts.connection_cap} SSH login(s) per server host", err=True)
        else:
            click.echo(f"grading {len(submissions)} submission(s) with {plan} on this machine: {jobs} at once", err=True)
    try:
        result = grading.Grader(submissions, cfg, opts, progress).grade()
    except SockdeployError as err:
        raise _fail(err)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    if not quiet:
        click.echo("\nsummary:", err=True)
        click.echo(result.table(), err=True)
        counts = ", ".join(f"{n} {v}" for v, n in result.counts().items())
        click.echo(f"{counts}; {result.logins} SSH login(s); batch folder: {result.folder}", err=True)
    if result.interrupted is not None:
        report_error(result.interrupted)
    raise click.exceptions.Exit(result.exit_code)


def _optional_config() -> Optional[Any]:
    """Load hosts.yaml if there is one (errors in it are still errors); None when there is none."""
    from sockdeploy.spec import hosts as config_mod

    try:
        path = config_mod.find_hosts_file(None)
    except SockdeployError:
        return None
    return config_mod.parse_config(path)


def _dry_run(payloads: List[Any], hosts_path: Optional[str], via: Optional[str], port: Optional[int], local: bool) -> None:
    """Print each target's manual steps; read hosts.yaml if there is one, contact nothing."""
    from sockdeploy.run import dryrun
    from sockdeploy.spec import hosts as config_mod

    # without a hosts.yaml the steps show placeholders
    cfg = config_mod.load_config(hosts_path) if hosts_path else _optional_config()
    for i, payload in enumerate(payloads):
        if i:
            click.echo("")
        click.echo(dryrun.render_plan(dryrun.plan(payload, cfg, via=via, port=port, local=local), payload, cfg), nl=False)


def _batch_answers(batch, cfg, members: Tuple[str, ...], out: Path, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    """Print the batch's summary and write answers-<UTC>.md/.html for it into --out."""
    from datetime import datetime, timezone

    from sockdeploy.output import answers as answers_mod
    from sockdeploy.run import targets as batch_mod

    if not quiet:
        click.echo("\nsummary:", err=True)
        click.echo(render_table(batch_mod.summary_rows(batch), ["target", "result", "run folder"]), err=True)
    if cfg is None:
        try:
            cfg = answers_mod.load_group_config(None)
        except SockdeployError as err:  # the runs needed no hosts.yaml; its group list is a nicety here
            click.echo(f"note: group members from hosts.yaml not used: {err.headline()}", err=True)
    names = answers_mod.group_members(members, cfg)
    try:
        runs = answers_mod.collect(batch.folders())
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        md, page = answers_mod.write_answers(runs, names, out.expanduser().resolve() / f"answers-{stamp}.md")
    except SockdeployError as err:
        report_error(err)
        if not batch.exit_code:
            raise click.exceptions.Exit(err.exit_code)
        return
    _note_no_members(names)
    click.echo(f"answers: {md}", err=True)
    click.echo(f"         {page}", err=True)


@cli.command()
@click.option("--out", default="runs", show_default=True, metavar="DIR", help="Where run folders are created.")
@click.option("--kind", type=click.Choice(["auto", "campus", "loopback"]), default="auto", show_default=True,
              help="campus (root): the Pi off campus, through the tunnel; loopback: sshd on 127.0.0.1.")
@click.option("-q", "--quiet", is_flag=True, help="Print no progress.")
def demo(out: str, kind: str, quiet: bool) -> None:
    """Run exercises 5 and 6 on a built-in lab and print both transcripts; no account needed.

    As root, the campus lab puts the "Pi" off campus behind a firewall, so the
    run takes the SSH tunnel; otherwise a throwaway sshd on loopback serves.

    \b
    Example:
      sockdeploy demo
    """
    from sockdeploy.daemons import lab as labd
    from sockdeploy.output.progress import Progress

    progress = Progress(quiet=quiet)
    try:
        chosen, note = labd.choose_kind(kind)
        if note:
            progress.info(f"note: {note}")
        failed = _demo_campus(Path(out), progress) if chosen == "campus" else _demo_loopback(Path(out), progress)
    except SockdeployError as err:
        raise _fail(err)
    if failed is not None:
        raise _fail(failed)


def _demo_loopback(out: Path, progress) -> Optional[SockdeployError]:  # type: ignore[no-untyped-def]
    from sockdeploy.lab.loopback import LoopbackLab
    from sockdeploy.run.runner import RunOptions, run_payload
    from sockdeploy.spec import hosts as config_mod
    from sockdeploy.spec import payload as payload_mod

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


def _demo_campus(out: Path, progress) -> Optional[SockdeployError]:  # type: ignore[no-untyped-def]
    from sockdeploy.errors import ProgramError
    from sockdeploy.lab.campus import CampusLab
    from sockdeploy.run.record import RunRecord

    out = out.resolve()
    with CampusLab() as lab:
        hosts = lab.write_hosts("auto")
        progress.info(f"campus lab: login host {lab.server_name} ({lab.server_ip}) behind a firewall; "
                      f"this run plays the Pi in namespace {lab.home_ns}, off campus without the VPN")
        for target in ("ex5", "ex6"):
            progress.info(f"--- sockdeploy run {target} --via auto (on the Pi) ---")
            proc = lab.home([sys.executable, "-m", "sockdeploy", "run", target, "--hosts", str(hosts), "--out", str(out), "--json"],
                            capture_output=False, stdout=subprocess.PIPE, text=True)
            try:
                record = RunRecord.from_json(json.loads(proc.stdout))
            except ValueError:
                return ProgramError(f"the demo run of {target} printed no result (exit {proc.returncode})", "run it again with -v")
            click.echo(Path(str(record.run_dir), "transcript.md").read_text())
            if not record.ok:
                err = record.error
                return ProgramError(err.message if err else "the demo run failed", err.hint if err else None)
        progress.info(f"SSH logins seen by the login host's sshd: {lab.login_count()} (one per run)")
    return None


@cli.command("payloads")
def payloads_cmd() -> None:
    """List the bundled exercises and payloads.

    \b
    Example:
      sockdeploy payloads
    """
    from sockdeploy.spec import payload as payload_mod

    for name in payload_mod.bundled_names():
        try:
            p = payload_mod.resolve(name)
            where = "one host" if p.local else "two hosts"
            click.echo(f"{name:<14} {where:<9}  {p.description}  [{p.origin}]")
        except SockdeployError as err:
            click.echo(f"{name:<14} broken: {err.headline()}")


def _answer_inputs(run_dirs: Tuple[str, ...], members: Tuple[str, ...], hosts_path: Optional[str]):  # type: ignore[no-untyped-def]
    """Load the run folders (in the order they started) and the group members' names."""
    from sockdeploy.output import answers as answers_mod

    runs = answers_mod.collect(Path(d) for d in run_dirs)
    return runs, answers_mod.group_members(members, answers_mod.load_group_config(hosts_path))


def _note_no_members(names: List[str]) -> None:
    if not names:
        click.echo("note: answer 1 lists no group members; pass --member NAME or add group: to hosts.yaml", err=True)


_MEMBER_HELP = "A group member, listed in answer 1 (repeat for each; adds to group: in hosts.yaml)."
_HOSTS_HELP = "hosts.yaml whose group: list names the members (default ./hosts.yaml, then ~/.config/sockdeploy/, if any)."


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option("-o", "--output", default="answers.md", show_default=True, metavar="PATH",
              help="Where to write the markdown; the HTML goes beside it (.html).")
@click.option("--member", "members", multiple=True, metavar="NAME", help=_MEMBER_HELP)
@click.option("--hosts", "hosts_path", metavar="PATH", help=_HOSTS_HELP)
@click.option("--title", default="Sockets studio: answers", show_default=True, help="The answers' title.")
def report(run_dirs: Tuple[str, ...], output: str, members: Tuple[str, ...], hosts_path: Optional[str], title: str) -> None:
    """Write the studio's answers from run folders: answers.md and a printable answers.html.

    Answer 1 lists every group member; then one numbered answer per run folder,
    in the order the runs started, with the commands, the host each ran on and
    both terminals' output (server first, then each client run).

    \b
    Example:
      sockdeploy report runs/*-ex5 runs/*-ex6 --member "Ada Lovelace" --member "Alan Turing"
    """
    from sockdeploy.output import answers as answers_mod

    try:
        runs, names = _answer_inputs(run_dirs, members, hosts_path)
        md, page = answers_mod.write_answers(runs, names, Path(output), title)
    except SockdeployError as err:
        raise _fail(err)
    _note_no_members(names)
    click.echo(f"answers: {md}")
    click.echo(f"         {page}")


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option("-o", "--output", default="submission.zip", show_default=True, metavar="PATH", help="The zip to write.")
@click.option("--member", "members", multiple=True, metavar="NAME", help=_MEMBER_HELP)
@click.option("--hosts", "hosts_path", metavar="PATH", help=_HOSTS_HELP)
@click.option("--title", default="Sockets studio: answers", show_default=True, help="The answers' title.")
def bundle(run_dirs: Tuple[str, ...], output: str, members: Tuple[str, ...], hosts_path: Optional[str], title: str) -> None:
    """Pack a submission: answers, run folders and the exact sources that ran, with MANIFEST.sha256.

    Every source is checked against the sha256 its run.json recorded; a file
    changed since the run is refused (exit 2). The zip is reproducible: sorted
    entries, fixed timestamps.

    \b
    Example:
      sockdeploy bundle runs/*-ex5 runs/*-ex6 --member "Ada Lovelace" -o submission.zip
      unzip submission.zip && cd submission && sha256sum -c MANIFEST.sha256
    """
    from sockdeploy.output import bundle as bundle_mod

    try:
        runs, names = _answer_inputs(run_dirs, members, hosts_path)
        result = bundle_mod.write_bundle(runs, names, Path(output), title)
    except SockdeployError as err:
        raise _fail(err)
    _note_no_members(names)
    top = result.entries[0].split("/", 1)[0]
    click.echo(f"submission: {result.path} ({len(result.runs)} run(s), {len(result.entries)} files)")
    click.echo(f"check it with: unzip {result.path.name} && cd {top} && sha256sum -c {bundle_mod.MANIFEST}")


@cli.command()
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml to check.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(hosts_path: Optional[str], as_json: bool) -> None:
    """Check, in order, everything a run needs, with a fix for each failure (one SSH login).

    \b
    Checks: config, name resolution, SSH port, host key, login, compiler and
    shell on the server host, a free port, forwarding, VPN, direct reach.
    Example:
      sockdeploy doctor
    """
    from sockdeploy.doctor import doctor as doctor_mod

    on_check = None
    if not as_json and sys.stderr.isatty():
        def on_check(c) -> None:  # type: ignore[no-untyped-def]
            click.echo(f"  {c.name}: {c.result}", err=True)
    checks = doctor_mod.run_doctor(hosts_path, prompt=_prompt_fn(), on_check=on_check)
    click.echo(json.dumps(doctor_mod.to_json(checks), indent=2) if as_json else doctor_mod.render_table(checks))
    code = doctor_mod.exit_code(checks)
    if code:
        raise click.exceptions.Exit(code)


def _asker(interactive: bool, never: bool):  # type: ignore[no-untyped-def]
    """Return how init asks: click's prompts on a terminal, one stdin line per question on a pipe, or defaults."""

    def on_terminal(question: str, default: str, choices) -> str:  # type: ignore[no-untyped-def]
        kind = click.Choice(list(choices)) if choices else click.STRING
        return str(click.prompt(question, default=default, type=kind, show_choices=False, err=True))

    def from_lines(question: str, default: str, choices) -> str:  # type: ignore[no-untyped-def]
        # scripted answers: one line each, an empty line or end of input takes the default
        click.echo(f"{question} [{default}]: ", err=True, nl=False)
        line = sys.stdin.readline()
        answer = line.rstrip("\n") or default
        click.echo(answer if line else f"{default} (end of input: default)", err=True)
        return answer

    if never:
        return lambda question, default, choices: default
    return on_terminal if interactive else from_lines


@cli.command()
@click.option("--host", metavar="NAME", help="Login host [default: shell.cec.wustl.edu].")
@click.option("--user", metavar="NAME", help="Your login name there [default: your local user name].")
@click.option("--port", type=click.IntRange(1, 65535), help="SSH port [default: 22 or ~/.ssh/config's].")
@click.option("--identity", metavar="PATH", help="Private key to log in with (with --create-key: where to create it).")
@click.option("--create-key", is_flag=True, help="Create an ed25519 key (default ~/.ssh/id_ed25519; never overwrites).")
@click.option("--install-key/--no-install-key", default=None, help="Install the key on the host with one password login (ssh-copy-id).")
@click.option("--via", type=click.Choice(["auto", "direct", "vpn", "tunnel"]), help="How the client reaches the course ports [default: auto].")
@click.option("--member", "members", multiple=True, metavar="NAME", help="A group member's name (repeat for each).")
@click.option("--output", metavar="PATH", help="Where to write [default: ~/.config/sockdeploy/hosts.yaml].")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.option("--no-doctor", is_flag=True, help="Do not run `sockdeploy doctor` afterwards.")
@click.option("--accept-new", is_flag=True, help="Store the host's key if unknown (a changed key is still refused).")
@click.option("-y", "--yes", "--non-interactive", "never_ask", is_flag=True, help="Ask nothing: unanswered questions take their defaults.")
def init(host: Optional[str], user: Optional[str], port: Optional[int], identity: Optional[str], create_key: bool,
         install_key: Optional[bool], via: Optional[str], members: tuple, output: Optional[str], force: bool,
         no_doctor: bool, accept_new: bool, never_ask: bool) -> None:
    """First-time setup: ask a few questions, write hosts.yaml, then run the doctor.

    Each question not answered by a flag is asked on a terminal (default in
    brackets); without a terminal one line of stdin answers each question in
    turn (an empty line or end of input takes the default); --yes asks
    nothing. Without a terminal the defaults never create a key or log in.

    \b
    Example:
      sockdeploy init                                    # answer the questions
      sockdeploy init --user jdoe --create-key --install-key --via auto \\
          --member "Ada Lovelace" --member "Alan Turing"
    """
    from sockdeploy.init import wizard as setup

    interactive = sys.stdin.isatty() and not never_ask
    out = Path(output).expanduser() if output else setup.default_output()
    given = setup.Answers(host=host, user=user, port=port, install_key=install_key, via=via,
                          members=list(members) if members else None)
    if create_key:
        given.identity, given.new_key = setup.CREATE, identity
    elif identity:
        given.identity = identity
    try:
        setup.check_writable(out, force)  # before any question: a refusal should not waste the answers
        answers = setup.ask_missing(given, _asker(interactive, never_ask), creating_allowed=interactive)
        plan = setup.make_plan(answers)
        setup.carry_out(plan, out, force, accept_new=accept_new, confirm=_confirm_fn(), prompt=_prompt_fn(),
                        say=lambda text: click.echo(text, err=True))
    except SockdeployError as err:
        raise _fail(err)
    click.echo(f"wrote {out}", err=True)
    shadow = setup.shadowing_file(out)
    if shadow is not None:
        click.echo(f"note: {shadow} is used instead of {out} when you run sockdeploy from this folder", err=True)
    if no_doctor:
        return
    from sockdeploy.doctor import doctor as doctor_mod

    click.echo(f"checking it: sockdeploy doctor --hosts {out}", err=True)
    checks = doctor_mod.run_doctor(str(out), prompt=_prompt_fn())
    click.echo(doctor_mod.render_table(checks))
    code = doctor_mod.exit_code(checks)
    if code:
        # the file is right even when the host is not reachable yet: keep it, say how to re-check
        click.echo(f"sockdeploy: the doctor found a problem (exit {code}); {out} is kept. "
                   f"After fixing it, check again with: sockdeploy doctor --hosts {out}", err=True)
        raise click.exceptions.Exit(code)


@cli.group()
def vpn() -> None:
    """Check the openconnect VPN."""


@vpn.command("status")
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml naming the server (for the route check).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def vpn_status(hosts_path: Optional[str], as_json: bool) -> None:
    """Show whether the VPN is up and carries traffic to the server host (exit 5 if not).

    \b
    Example:
      sockdeploy vpn status
    """
    import socket as _socket

    from sockdeploy.net import vpn as vpn_mod
    from sockdeploy.spec import hosts as config_mod

    try:
        cfg = config_mod.load_config(hosts_path)
    except SockdeployError as err:
        raise _fail(err)
    try:
        ip: Optional[str] = _socket.getaddrinfo(cfg.server.host, None, _socket.AF_INET)[0][4][0]
    except OSError:
        ip = None
    checks = vpn_mod.vpn_checks(ip, cfg.network.vpn_gateway)
    if as_json:
        click.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        click.echo(render_table([[c.name, "ok" if c.ok else "FAIL", c.detail, c.fix] for c in checks], ["check", "result", "detail", "fix"]))
    if vpn_mod.first_failure(checks) is not None:
        raise click.exceptions.Exit(5)


@cli.group()
def tunnel() -> None:
    """Background tunnels to the course port, like `ssh -f -N -L`."""


def _tunnel_port(cfg, port: Optional[int]) -> int:  # type: ignore[no-untyped-def]
    if port is not None:
        return port
    from sockdeploy.run import netpath as paths
    from sockdeploy.run import server as process

    return process.choose_port(paths.local_busy_ports(), cfg.network.ports, set())


@tunnel.command("open")
@click.option("--port", type=click.IntRange(1024, 65535), help="Port on both ends (default: a free one in network.ports).")
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml to use.")
@click.option("--local-port", type=click.IntRange(1024, 65535), help="Listen here on another port than the server's.")
@click.option("--accept-new", is_flag=True, help="Store an unknown host key.")
def tunnel_open(port: Optional[int], hosts_path: Optional[str], local_port: Optional[int], accept_new: bool) -> None:
    """Open a tunnel that outlives this command: 127.0.0.1:PORT here reaches PORT on the login host.

    With client.host set to a Pi over SSH, the tunnel listens on the Pi's
    127.0.0.1:PORT instead (joined here to the login host's connection), for
    typing the client command on the Pi by hand.

    \b
    Example:
      sockdeploy tunnel open --port 31522
      ./client 127.0.0.1 31522
    """
    from sockdeploy.daemons import tunnel as tunneld
    from sockdeploy.spec import hosts as config_mod

    try:
        cfg = config_mod.load_config(hosts_path)
        port = _tunnel_port(cfg, port)
        st = tunneld.open_tunnel(cfg.path, port, accept_new=accept_new, local_port=local_port)  # type: ignore[arg-type]
    except SockdeployError as err:
        raise _fail(err)
    click.echo(f"tunnel open: {', '.join(st.data.get('listen', []))} -> 127.0.0.1:{port} on {st.data.get('host')} (pid {st.pid})")
    where = f" on {st.data['client_host']}" if st.data.get("client_host") else ""
    click.echo(f"run your client{where} against 127.0.0.1 {st.port}; close it with: sockdeploy tunnel close --port {st.port}")


@tunnel.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tunnel_status(as_json: bool) -> None:
    """List open tunnels and check each (process, listener, SSH connection).

    \b
    Example:
      sockdeploy tunnel status
    """
    from sockdeploy.daemons import tunnel as tunneld

    reports = [t.report() for t in tunneld.list_tunnels()]
    if as_json:
        click.echo(json.dumps(reports, indent=2))
        return
    if not reports:
        click.echo("no tunnels open")
        return
    rows = [[r["local_port"], f"{r.get('host', '?')}:{r.get('remote_port')}", r.get("pid"), "yes" if r["running"] else "NO",
             "yes" if r["listening"] else "NO", "yes" if r["ssh_alive"] else r.get("status", "NO"), r.get("reconnects", 0)]
            for r in reports]
    click.echo(render_table(rows, ["port", "to", "pid", "running", "listening", "ssh", "reconnects"]))


@tunnel.command("close")
@click.option("--port", type=click.IntRange(1024, 65535), help="Close only this one (default: all).")
def tunnel_close(port: Optional[int]) -> None:
    """Close background tunnels.

    \b
    Example:
      sockdeploy tunnel close --port 31522
    """
    from sockdeploy.daemons import tunnel as tunneld

    try:
        closed = tunneld.close_tunnels(port)
    except SockdeployError as err:
        raise _fail(err)
    click.echo(f"closed: {', '.join(map(str, closed))}" if closed else "no tunnels were open")


@tunnel.command("print")
@click.option("--port", type=click.IntRange(1024, 65535), help="Course port (default: a free one in network.ports).")
@click.option("--hosts", "hosts_path", metavar="PATH", help="hosts.yaml to use.")
def tunnel_print(port: Optional[int], hosts_path: Optional[str]) -> None:
    """Print the equivalent OpenSSH command, an ~/.ssh/config stanza and a systemd user unit.

    \b
    Example:
      sockdeploy tunnel print --port 31522
    """
    import getpass
    import shlex

    from sockdeploy.spec import hosts as config_mod

    try:
        cfg = config_mod.load_config(hosts_path)
        port = _tunnel_port(cfg, port)
    except SockdeployError as err:
        raise _fail(err)
    user = cfg.server.user or getpass.getuser()
    host = cfg.server.host
    login = f"{user}@{host}"
    port_opt = f" -p {cfg.server.port}" if cfg.server.port and cfg.server.port != 22 else ""
    package = Path(__file__).resolve().parent.parent
    folder = package.parent / "tunnels"
    if not folder.is_dir():
        folder = package / "tunnels"

    def fill(name: str) -> str:
        text = (folder / name).read_text()
        for key, value in (("{host}", host), ("{user}", user), ("{port}", str(port)), ("{login}", login)):
            text = text.replace(key, value)
        return text

    click.echo("# The course's command (the login host then connects to its own loopback):")
    click.echo(f"ssh -f -N{port_opt} -L 127.0.0.1:{port}:127.0.0.1:{port} {shlex.quote(login)}")
    click.echo(f"# then: ./client 127.0.0.1 {port}\n")
    click.echo("# ~/.ssh/config:")
    click.echo(fill("ssh_config.example"))
    click.echo("# ~/.config/systemd/user/sockdeploy-tunnel@.service:")
    click.echo(fill("sockdeploy-tunnel@.service"))


@cli.group()
def lab() -> None:
    """A lab to practise in: the campus lab (root: namespaces, firewall, VPN) or the loopback lab."""


@lab.command("up")
@click.option("--kind", type=click.Choice(["auto", "campus", "loopback"]), default="auto", show_default=True,
              help="campus needs root and network namespaces; auto falls back to loopback.")
def lab_up(kind: str) -> None:
    """Start a lab in the background and write a hosts.yaml for it.

    \b
    Example:
      sudo sockdeploy lab up
      sudo sockdeploy lab exec -- sockdeploy run ex5 --hosts "$(sockdeploy lab status --hosts-file)"
    """
    from sockdeploy.daemons import lab as labd

    try:
        data = labd.up(kind)
    except SockdeployError as err:
        raise _fail(err)
    if data.get("note"):
        click.echo(f"note: {data['note']}", err=True)
    click.echo(f"lab up ({data['kind']}): server {data.get('server')}; hosts file {data['hosts_file']}")
    if data.get("home_ns"):
        click.echo(f"run commands on the Pi with: sockdeploy lab exec -- COMMAND   (ip netns exec {data['home_ns']} ...)")


@lab.command("down")
def lab_down() -> None:
    """Stop the background lab and remove everything it made.

    \b
    Example:
      sockdeploy lab down
    """
    from sockdeploy.daemons import lab as labd

    click.echo("lab down" if labd.down() else "no lab was up")


@lab.command("status")
@click.option("--hosts-file", "hosts_only", is_flag=True, help="Print only the lab's hosts.yaml path.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def lab_status(hosts_only: bool, as_json: bool) -> None:
    """Show whether a lab is up, its kind, hosts and namespaces (exit 7 if none).

    \b
    Example:
      sockdeploy lab status
    """
    from sockdeploy.daemons import lab as labd

    data = labd.read_state()
    if not data or not data.get("running"):
        if as_json:
            click.echo(json.dumps({"running": False}))
        else:
            click.echo("no lab is up (start one with: sockdeploy lab up)", err=not hosts_only)
        raise click.exceptions.Exit(7)
    if hosts_only:
        click.echo(data["hosts_file"])
    elif as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for key in ("kind", "status", "pid", "server", "server_ip", "gateway", "home_ns", "campus_ns", "hosts_file"):
            if data.get(key) is not None:
                click.echo(f"{key:<10} {data[key]}")


@lab.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def lab_exec(command: tuple) -> None:
    """Run COMMAND on the lab's Pi (inside the home namespace of the campus lab).

    \b
    Example:
      sockdeploy lab exec -- sockdeploy vpn status
    """
    import os
    import shutil

    from sockdeploy.daemons import lab as labd

    data = labd.read_state()
    if not data or not data.get("running"):
        raise _fail(LabError("no lab is up", "start one with: sockdeploy lab up"))
    argv = labd.exec_prefix(data) + list(command)
    if argv[0] == "sockdeploy" or (len(argv) > 4 and argv[4] == "sockdeploy"):
        idx = argv.index("sockdeploy")
        argv[idx:idx + 1] = [sys.executable, "-m", "sockdeploy"]
    if not shutil.which(argv[0]):
        raise _fail(LabError(f"command not found: {argv[0]}", "check the command"))
    os.execvp(argv[0], argv)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
def completion(shell: str) -> None:
    """Print the tab-completion script for SHELL (commands, options, payload names).

    \b
    Example:
      sockdeploy completion bash >> ~/.bashrc        # or:
      eval "$(sockdeploy completion zsh)"            # in ~/.zshrc
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # click ships both
    click.echo(cls(cli, {}, "sockdeploy", "_SOCKDEPLOY_COMPLETE").source())


def _quiet_libraries() -> None:
    import logging

    # paramiko logs channel failures at WARNING; sockdeploy reports them itself.
    for name in ("paramiko", "invoke", "fabric"):
        logging.getLogger(name).addHandler(logging.NullHandler())
        logging.getLogger(name).propagate = False


def main(argv: Optional[List[str]] = None) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    _quiet_libraries()
    try:
        cli.main(args=argv, prog_name="sockdeploy", standalone_mode=True)
    except SockdeployError as err:  # raised outside a run (e.g. SIGTERM during start-up)
        report_error(err)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("sockdeploy: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
