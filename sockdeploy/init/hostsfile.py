"""hosts.yaml as init writes it: the commented text, its validation, and an atomic write that never clobbers."""

from __future__ import annotations

import datetime
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Optional

import yaml

from sockdeploy.errors import ConfigError, UsageError
from sockdeploy.init.questions import Plan
from sockdeploy.spec.hosts import DEFAULT_PORTS, Config, parse_config, user_config_dir

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
