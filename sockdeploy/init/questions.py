"""init's questions: the answers given so far, the ones still to ask, and the plan they make.

The CLI supplies the answers (flags, a terminal, or lines on stdin) through an
`Ask` callable, so everything here can be driven from a test without a terminal.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from sockdeploy.errors import UsageError
from sockdeploy.init.keys import default_new_key, find_keys
from sockdeploy.spec.hosts import VIA_CHOICES, ServerConfig

DEFAULT_HOST = "shell.cec.wustl.edu"
CREATE = "create"  # identity answer: make a new key
NONE = "none"  # identity answer: record no identity (agent and ~/.ssh defaults)

# Asks one question: (question text, default shown, allowed answers or None) -> the answer.
Ask = Callable[[str, str, Optional[Sequence[str]]], str]


@dataclass
class Answers:
    """Everything hosts.yaml records; None means "not decided yet" until ask_missing fills it."""

    host: Optional[str] = None
    user: Optional[str] = None
    port: Optional[int] = None
    identity: Optional[str] = None  # a path, CREATE, NONE, or None (not decided)
    new_key: Optional[str] = None  # where CREATE makes the key (default ~/.ssh/id_ed25519)
    install_key: Optional[bool] = None
    via: Optional[str] = None
    members: Optional[List[str]] = None


@dataclass(frozen=True)
class Plan:
    """The decided answers: what to write, and what to do first."""

    host: str
    user: str
    port: Optional[int]
    identity: Optional[Path]  # None: no identity line (agent and ~/.ssh defaults)
    create_key: bool
    install_key: bool
    via: str
    members: Tuple[str, ...] = field(default_factory=tuple)


def local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "student"


def identity_menu(found: Sequence[Path], new_key: Path) -> Tuple[List[Tuple[str, str]], str]:
    """Return the identity menu's (answer, text) entries and its question text."""
    entries = [(str(p), str(p)) for p in found]
    if not new_key.exists():
        entries.append((CREATE, f"create a new key ({new_key})"))
    entries.append((NONE, "none: the SSH agent and ~/.ssh defaults"))
    lines = ["Key to log in with:"] + [f"  {i}) {text}" for i, (_, text) in enumerate(entries, 1)]
    return entries, "\n".join(lines) + "\nNumber or path"


def ask_missing(given: Answers, ask: Ask, *, creating_allowed: bool) -> Answers:
    """Ask, in order, each question `given` leaves open; return the completed answers.

    `creating_allowed` (a person at a terminal) makes "create a key and install it"
    the default when no key exists; without one, defaults never create or log in.
    """
    a = replace(given)
    if a.host is None:
        a.host = ask("Login host", DEFAULT_HOST, None).strip() or DEFAULT_HOST
    if a.user is None:
        a.user = ask(f"User name on {a.host}", local_user(), None).strip() or local_user()
    if a.identity is None:
        found = find_keys()
        entries, question = identity_menu(found, default_new_key())
        if found:
            default = "1"
        elif creating_allowed and any(e[0] == CREATE for e in entries):
            default = str([e[0] for e in entries].index(CREATE) + 1)
        else:
            default = str(len(entries))  # none
        answer = ask(question, default, None).strip() or default
        if answer.isdigit():
            if not 1 <= int(answer) <= len(entries):
                raise UsageError(f"no choice {answer} in the key menu", f"answer 1 to {len(entries)}, or a key's path")
            a.identity = entries[int(answer) - 1][0]
        else:
            a.identity = answer
    if a.install_key is None:
        if a.identity == NONE:
            a.install_key = False
        else:
            default = "yes" if a.identity == CREATE and creating_allowed else "no"
            answer = ask(f"Install the key on {a.host} now (one password login, like ssh-copy-id)?", default,
                         ("yes", "no", "y", "n")).strip().lower() or default
            a.install_key = answer in ("yes", "y")
    if a.via is None:
        a.via = ask("How does this machine reach the course ports (auto, direct, vpn, tunnel)?", "auto",
                    VIA_CHOICES).strip() or "auto"
        if a.via not in VIA_CHOICES:
            raise UsageError(f"{a.via!r} is not one of {', '.join(VIA_CHOICES)}",
                             "answer auto unless you know which path you need")
    if a.members is None:
        answer = ask("Group members' names, separated by commas (empty: none)", "", None)
        a.members = [n.strip() for n in answer.split(",") if n.strip()]
    return a


def make_plan(a: Answers) -> Plan:
    """Turn complete answers into a Plan; raise UsageError for contradictions."""
    identity: Optional[Path]
    create = a.identity == CREATE
    if create:
        identity = Path(a.new_key).expanduser() if a.new_key else default_new_key()
    elif a.identity is None or a.identity == NONE:
        identity = None
    else:
        identity = Path(a.identity).expanduser()
    if a.install_key and identity is None:
        raise UsageError("--install-key needs a key to install",
                         "add --create-key to make one, or --identity PATH to install an existing one")
    if identity is not None and not create and not identity.is_file():
        raise UsageError(f"identity file not found: {identity}", "give the private key's path, or --create-key to make one")
    return Plan(host=a.host or DEFAULT_HOST, user=a.user or local_user(), port=a.port, identity=identity,
                create_key=create, install_key=bool(a.install_key), via=a.via or "auto", members=tuple(a.members or ()))


def server_config(plan: Plan) -> ServerConfig:
    """Return the server settings the written file will give, for logging in before it is written."""
    return ServerConfig(host=plan.host, user=plan.user, port=plan.port,
                        identity=str(plan.identity) if plan.identity else None)
