"""Shared option decorators: one spelling and one meaning for each option that several commands take."""

from __future__ import annotations

import functools
from typing import Any, Callable, List, Optional, Sequence, TypeVar

import click

from sockdeploy.spec.hosts import VIA_CHOICES

F = TypeVar("F", bound=Callable[..., Any])

HOSTS_HELP = "hosts.yaml to use (default ./hosts.yaml, then ~/.config/sockdeploy/hosts.yaml)."
MEMBER_HELP = "A group member, listed in answer 1 (repeat for each; adds to group: in hosts.yaml)."
PORT_RANGE = click.IntRange(1024, 65535)


def hosts(help: str = HOSTS_HELP) -> Callable[[F], F]:
    """Add --hosts PATH (the hosts.yaml to read), passed as `hosts_path`."""
    return click.option("--hosts", "hosts_path", metavar="PATH", help=help)


def as_json(help: str) -> Callable[[F], F]:
    """Add --json: print machine output, and only that, on stdout; passed as `as_json`."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def quiet(help: str = "Print no progress.") -> Callable[[F], F]:
    """Add -q/--quiet, passed as `quiet`."""
    return click.option("-q", "--quiet", is_flag=True, help=help)


def verbose(help: str = "Print more detail.") -> Callable[[F], F]:
    """Add -v/--verbose, passed as `verbose`."""
    return click.option("-v", "--verbose", is_flag=True, help=help)


def via(help: str) -> Callable[[F], F]:
    """Add --via with the choices spec.hosts.VIA_CHOICES, passed as `via`."""
    return click.option("--via", type=click.Choice(list(VIA_CHOICES)), help=help)


def accept_new(help: str = "Store an unknown host key (a changed key is still refused).") -> Callable[[F], F]:
    """Add --accept-new, passed as `accept_new`."""
    return click.option("--accept-new", is_flag=True, help=help)


def members(help: str = MEMBER_HELP) -> Callable[[F], F]:
    """Add --member NAME (repeatable), passed as `members`."""
    return click.option("--member", "members", multiple=True, metavar="NAME", help=help)


def out(default: Optional[str], help: str, metavar: str = "DIR", old_names: Sequence[str] = ()) -> Callable[[F], F]:
    """Add --out (where the command writes), passed as `out`; `old_names` stay as hidden aliases.

    A default is shown in the help text rather than given to click, so that --out given
    explicitly can be told apart from an alias.
    """
    shown = f" [default: {default}]" if default is not None else ""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, out: Optional[str] = None, out_alias: Optional[str] = None, **kwargs: Any) -> Any:
            if out is not None and out_alias is not None and out != out_alias:
                raise click.UsageError(f"give --out once (its old spelling {'/'.join(old_names)} is the same option)")
            return fn(*args, out=out if out is not None else (out_alias if out_alias is not None else default), **kwargs)

        decorated: Any = click.option("--out", "out", metavar=metavar, help=help + shown)(wrapper)
        if old_names:
            decorated = click.option(*old_names, "out_alias", metavar=metavar, hidden=True,
                                     help="Old spelling of --out (kept so scripts keep working).")(decorated)
        return decorated

    return decorate


def complete_targets(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> List[Any]:
    """Offer bundled payload names, then folders, for TARGET."""
    from click.shell_completion import CompletionItem

    from sockdeploy.spec.payload import bundled_names

    names = [CompletionItem(n) for n in bundled_names() if n.startswith(incomplete)]
    return names or [CompletionItem(incomplete, type="dir")]
