"""First-time setup (`sockdeploy init`): find or create a key, ask the questions, write hosts.yaml.

The CLI supplies the answers (flags, a terminal, or lines on stdin) through an
`Ask` callable; everything here can be driven from a test without a terminal.
Installing the key on the host (ssh-copy-id) lives in session.py, the only
module that speaks SSH.
"""

from __future__ import annotations

import datetime
import getpass
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import yaml

from sockdeploy.errors import ConfigError, SockdeployError, UsageError
from sockdeploy.spec.hosts import (
    DEFAULT_PORTS,
    VIA_CHOICES,
    Config,
    ServerConfig,
    load_config,
    parse_config,
    user_config_dir,
)
from sockdeploy.ssh.session import Confirm, Prompt, install_public_key, trust_host_key

DEFAULT_HOST = "shell.cec.wustl.edu"
KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")  # the order OpenSSH (and sockdeploy's session) tries them
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


# -- keys -----------------------------------------------------------------------------


def ssh_dir() -> Path:
    """Return ~/.ssh of $HOME (tests point HOME at a fake one)."""
    return Path(os.path.expanduser("~")) / ".ssh"


def find_keys() -> List[Path]:
    """Return the private keys sockdeploy would try by default that exist, in OpenSSH's order."""
    return [p for p in (ssh_dir() / n for n in KEY_NAMES) if p.is_file()]


def default_new_key() -> Path:
    return ssh_dir() / "id_ed25519"


def key_comment() -> str:
    try:
        who = getpass.getuser()
    except Exception:  # no user name in the environment or the password database
        who = "user"
    return f"{who}@{socket.gethostname()} (sockdeploy)"


def create_key(path: Path, comment: Optional[str] = None) -> Path:
    """Create an ed25519 key without a passphrase at `path` (0600) and path.pub (0644); return the .pub path.

    ssh-keygen is used when installed, so the key is exactly what OpenSSH makes;
    otherwise `cryptography` (a paramiko dependency) writes the same format.
    Never overwrites: an existing key is someone's login.
    """
    path = Path(path).expanduser()
    pub = Path(str(path) + ".pub")
    for p in (path, pub):
        if p.exists():
            raise UsageError(f"a key already exists at {p}; not overwriting it",
                             f"use it with --identity {path} (without --create-key), or name another file with --identity")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    comment = comment or key_comment()
    keygen = shutil.which("ssh-keygen")
    if keygen:
        done = subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            raise UsageError(f"ssh-keygen could not create {path}: {done.stderr.strip() or done.returncode}",
                             "check that the folder is writable, or name another file with --identity")
    else:
        _create_key_cryptography(path, pub, comment)
    os.chmod(path, 0o600)
    os.chmod(pub, 0o644)
    return pub


def _create_key_cryptography(path: Path, pub: Path, comment: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    # O_EXCL and 0600 from the start: the private key is never readable by others, not even briefly
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    fd = os.open(str(pub), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(public + b" " + comment.encode() + b"\n")


def public_key_line(identity: Path) -> str:
    """Return the one-line public key of a private key file: its .pub, else derived from the key."""
    identity = Path(identity).expanduser()
    pub = Path(str(identity) + ".pub")
    if pub.is_file():
        line = pub.read_text(errors="replace").strip()
        if line and len(line.split()) >= 2 and "\n" not in line:
            return line
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(identity.read_bytes(), password=None)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"cannot read the public key of {identity}: {exc}",
                         f"write it next to the key: ssh-keygen -y -f {identity} > {pub}") from None
    return public.decode()


# -- questions --------------------------------------------------------------------------


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
            raise UsageError(f"{a.via!r} is not one of {', '.join(VIA_CHOICES)}", "answer auto unless you know which path you need")
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
    elif a.identity in (None, NONE):
        identity = None
    else:
        identity = Path(a.identity).expanduser()  # type: ignore[arg-type]
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


# -- hosts.yaml -------------------------------------------------------------------------


_PLAIN = re.compile(r"[A-Za-z0-9_./~@+-][A-Za-z0-9_./~@+ -]*")


def yaml_scalar(value: str) -> str:
    """Return `value` as a YAML scalar: plain when it reads back unchanged, else double-quoted."""
    if _PLAIN.fullmatch(value) and not value.endswith(" "):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    # a JSON string is a valid YAML double-quoted scalar
    return json.dumps(value, ensure_ascii=False)


def _home_relative(path: Path) -> str:
    home = Path(os.path.expanduser("~"))
    try:
        return "~/" + str(Path(path).relative_to(home))
    except ValueError:
        return str(path)


def render_hosts(plan: Plan, today: Optional[datetime.date] = None) -> str:
    """Return the commented hosts.yaml text for `plan` (the keys config.py accepts)."""
    today = today or datetime.date.today()
    q = yaml_scalar
    port = f"  port: {plan.port}\n" if plan.port else "  # port: 22\n"
    if plan.identity is not None:
        identity = f"  identity: {q(_home_relative(plan.identity))}\n"
    else:
        identity = "  # identity: ~/.ssh/id_ed25519\n"
    if plan.members:
        group = "group:\n" + "".join(f"  - {q(m)}\n" for m in plan.members)
    else:
        group = "# group:\n#   - Ada Lovelace\n"
    return f"""# sockdeploy hosts file, written by `sockdeploy init` on {today.isoformat()}.
# Check it any time with: sockdeploy doctor
server:
  # The login host your server runs on (a name, an IP or an ~/.ssh/config alias).
  host: {q(plan.host)}
  # Your login name there.
  user: {q(plan.user)}
  # SSH port; 22 unless your ~/.ssh/config says otherwise.
{port}  # Key to log in with. Without it: the SSH agent and your ~/.ssh keys.
{identity}  # Where host keys are checked and stored (default ~/.ssh/known_hosts).
  # known_hosts: ~/.ssh/known_hosts
  # Remote base directory; each run gets a private (0700) folder inside it.
  # workdir: ~/.sockdeploy
client:
  # The machine sockdeploy runs on (your Raspberry Pi).
  host: local
network:
  # How the client reaches the server's port: auto, direct, tunnel or vpn.
  via: {q(plan.via)}
  # The course's port range; sockdeploy picks a free port in it.
  ports: {DEFAULT_PORTS[0]}-{DEFAULT_PORTS[1]}
# Your group's members, for your records.
{group}"""


def default_output() -> Path:
    """Return where init writes by default: the user config dir, found from any folder."""
    return user_config_dir() / "hosts.yaml"


def check_writable(path: Path, force: bool) -> None:
    """Refuse to go on when `path` exists and --force was not given (checked before any question)."""
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; not overwriting it",
                         f"check it with: sockdeploy doctor --hosts {path}; or replace it with --force")
    if path.exists() and not path.is_file():
        raise UsageError(f"{path} exists and is not a file", "choose another --output")


def validate_text(text: str, path: Path) -> Config:
    """Parse `text` as hosts.yaml would be parsed at `path`; raise UsageError (nothing written) if invalid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".hosts.", suffix=".yaml.tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return parse_config(Path(tmp))
    except ConfigError as err:
        raise UsageError(f"these answers make an invalid hosts.yaml, so nothing was written: {err.message}", err.hint) from None
    finally:
        os.unlink(tmp)


def write_hosts(path: Path, text: str, force: bool) -> Path:
    """Write `text` to `path` atomically (a temporary file renamed into place); never clobber without `force`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".hosts.", suffix=".yaml.tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        if force:
            os.replace(tmp, path)
        else:
            try:
                # a hard link fails if the name exists: no window where another writer is clobbered
                os.link(tmp, path)
            except FileExistsError:
                raise UsageError(f"{path} already exists; not overwriting it", "replace it with --force") from None
            except OSError:  # a file system without hard links: check, then rename
                if path.exists():
                    raise UsageError(f"{path} already exists; not overwriting it", "replace it with --force") from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def shadowing_file(output: Path) -> Optional[Path]:
    """Return ./hosts.yaml when it exists and would be used instead of `output` from this folder."""
    here = Path.cwd() / "hosts.yaml"
    if here.is_file() and here.resolve() != Path(output).resolve():
        return here
    return None


# -- the whole setup --------------------------------------------------------------------


def carry_out(plan: Plan, output: Path, force: bool, *, accept_new: bool = False, confirm: Optional[Confirm] = None,
              prompt: Optional[Prompt] = None, say: Callable[[str], None] = lambda _: None) -> Config:
    """Create the key, install it, write hosts.yaml and load it back; return the loaded config.

    Order matters: the answers are validated before a key is created, and the file
    is written only after the key is installed, so a failed login leaves no file
    that would need --force on the next try (a created key stays, for --identity).
    """
    check_writable(output, force)
    validate_text(render_hosts(replace(plan, identity=None)), output)
    if plan.create_key:
        assert plan.identity is not None
        pub = create_key(plan.identity)
        say(f"created the key {plan.identity} (public part {pub})")
    text = render_hosts(plan)
    validate_text(text, output)
    cfg = server_config(plan)
    if plan.install_key:
        assert plan.identity is not None
        line = public_key_line(plan.identity)
        say(f"installing {plan.identity}.pub on {plan.host} (one login; a password is asked if the key is not there yet)")
        added = install_public_key(cfg, line, accept_new=accept_new, confirm=confirm, prompt=prompt)
        say(f"key {'installed in' if added else 'already in'} ~/.ssh/authorized_keys on {plan.host}")
    elif accept_new or confirm is not None:
        # learn the host key now, so the doctor (which never stores one) can log in
        try:
            trust_host_key(cfg, accept_new=accept_new, confirm=confirm)
        except SockdeployError as err:
            say(f"note: host key not stored: {err.headline()}")
    write_hosts(output, text, force)
    return load_config(str(output))
