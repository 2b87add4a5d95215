"""The `sockdeploy` command group, main(), and the one place where an error becomes a message and an exit code."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, List, Optional

import click

from sockdeploy import __version__
from sockdeploy.cli.answers import bundle, report
from sockdeploy.cli.batch import batch_cmd
from sockdeploy.cli.completion import completion
from sockdeploy.cli.console import report_error
from sockdeploy.cli.doctor import doctor
from sockdeploy.cli.init import init
from sockdeploy.cli.inspect import inspect_cmd
from sockdeploy.cli.lab import lab
from sockdeploy.cli.run import demo, payloads_cmd, run
from sockdeploy.cli.tunnel import tunnel
from sockdeploy.cli.vpn import vpn
from sockdeploy.errors import HangUp, SockdeployError, Terminated, exit_code_for, exit_codes_text, internal_error
from sockdeploy.run.tripwire import PAUSES


class SockdeployGroup(click.Group):
    """A click group whose commands raise SockdeployError; it prints one line + hint and exits with the error's code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn the SockdeployError it raises into its message and exit code."""
        try:
            return super().invoke(ctx)
        except SockdeployError as err:
            report_error(err)
            raise click.exceptions.Exit(exit_code_for(err)) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # never a traceback on the terminal: one line, the traceback in a file
            internal = internal_error(exc, _internal_error_path())
            report_error(internal)
            raise click.exceptions.Exit(exit_code_for(internal)) from None


@click.group(cls=SockdeployGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=exit_codes_text())
@click.version_option(__version__, prog_name="sockdeploy")
def cli() -> None:
    """Run a client/server socket exercise across two hosts with one command.

    \b
    Example:
      sockdeploy run ex5            # server on the login host, client here
      sockdeploy demo               # the same on a built-in loopback lab
    """


for _command in (run, inspect_cmd, batch_cmd, demo, payloads_cmd, report, bundle, doctor, init, vpn, tunnel, lab, completion):
    cli.add_command(_command)


def _internal_error_path() -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "sockdeploy"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    return base / f"internal-error-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.txt"


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated("terminated (SIGTERM)", "partial transcripts are kept in the run folder")


def _on_sighup(_signum: int, _frame: object) -> None:
    raise HangUp("hung up (SIGHUP: the terminal or SSH session closed)", "partial transcripts are kept in the run folder")


def _on_sigcont(_signum: int, _frame: object) -> None:
    # back from Ctrl-Z: note how long it was at once, before the run takes its next step
    PAUSES.check()


def _quiet_libraries() -> None:
    # paramiko logs channel failures at WARNING; sockdeploy reports them itself.
    for name in ("paramiko", "invoke", "fabric"):
        logging.getLogger(name).addHandler(logging.NullHandler())
        logging.getLogger(name).propagate = False


def main(argv: Optional[List[str]] = None) -> None:
    """Run the command line: exit with the code of the error that ended it (errors.EXIT_CODES)."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sighup)  # a closed terminal: like SIGTERM, run.json and transcripts kept
    signal.signal(signal.SIGCONT, _on_sigcont)
    _quiet_libraries()
    try:
        cli.main(args=argv, prog_name="sockdeploy", standalone_mode=True)
    except SockdeployError as err:  # raised outside a command (e.g. SIGTERM during start-up)
        report_error(err)
        sys.exit(exit_code_for(err))
    except KeyboardInterrupt as interrupt:
        click.echo("sockdeploy: interrupted", err=True)
        sys.exit(exit_code_for(interrupt))

